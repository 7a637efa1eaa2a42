#include "sim/engine/engine_batch.h"

#include <gtest/gtest.h>

namespace slsim {

TEST(EngineBatch, FreedSequenceIdsAreReusedByGroupsOfTheSameWidth) {
  EngineBatch batch(EngineParams{}, EngineCapacity{10, 64, 1});
  EXPECT_EQ(batch.take_seq_ids(1), 0u);
  EXPECT_EQ(batch.take_seq_ids(4), 1u);  // 1..4
  EXPECT_EQ(batch.take_seq_ids(1), 5u);
  SequenceGroup beams;
  beams.first_seq = 1;
  beams.sequences = 4;
  batch.return_seq_ids(beams);
  EXPECT_EQ(batch.take_seq_ids(2), 6u);  // no freed range of width 2
  EXPECT_EQ(batch.take_seq_ids(4), 1u);
}

// Blocks of 4 tokens, 10 of them. A running request holds 5 tokens (2 blocks) and has 10 to
// generate: a counted decode step writes token 6 into its second block without the block
// manager, and 3 steps (tokens 6, 7, 8) go in when stored.
TEST(EngineBatch, ACountedDecodeStepCountsTokensTheBlockManagerGetsLater) {
  EngineParams p;
  p.block_size = 4;
  EngineBatch batch(p, EngineCapacity{10, 64, 1});
  SequenceGroup g;
  g.request = EngineRequest{RequestId(7), 5, 10};
  g.prompt = g.tokens = g.computed = 5;
  g.generated = 1;
  g.first_seq = batch.take_seq_ids(1);
  batch.blocks->admit(g.first_seq, 5, 64, {});
  batch.running.push_back(batch.put_in_slot(std::move(g)));

  int64_t budget = 100;
  ASSERT_TRUE(batch.try_counted_decode(budget));
  const SequenceGroup& member = batch.slots[batch.running[0]];
  EXPECT_TRUE(member.counted);
  EXPECT_EQ(budget, 99);
  EXPECT_EQ(batch.shape.decode_sequences, 1);
  EXPECT_EQ(batch.shape.decode_context_tokens, 6);
  EXPECT_EQ(batch.tokens_now(member), 6);
  EXPECT_EQ(batch.blocks->tokens(member.first_seq), 5);
  EXPECT_EQ(batch.free_blocks(), 8);

  std::vector<uint32_t> done;
  batch.counted.finish_run(3, 0, done);
  EXPECT_TRUE(done.empty());
  EXPECT_EQ(batch.tokens_now(member), 8);
  EXPECT_EQ(batch.generated_now(member), 4);
  batch.leave_counted();
  EXPECT_FALSE(member.counted);
  EXPECT_EQ(member.tokens, 8);
  EXPECT_EQ(member.generated, 4);
  EXPECT_EQ(batch.blocks->tokens(member.first_seq), 8);
  EXPECT_EQ(batch.counted.unstored_tokens(), 0);
}

TEST(EngineBatch, AGroupSharingItsLastBlockIsNotCounted) {
  // Two samples forked from one 5-token prompt share its second block: a token copies it.
  EngineParams p;
  p.block_size = 4;
  EngineBatch batch(p, EngineCapacity{10, 64, 1});
  SequenceGroup g;
  g.request = EngineRequest{RequestId(7), 5, 10, 2};
  g.sequences = 2;
  g.prompt = g.tokens = g.computed = 5;
  g.first_seq = batch.take_seq_ids(2);
  batch.blocks->admit(g.first_seq, 5, 64, {});
  batch.blocks->fork(g.first_seq, g.first_seq + 1);
  batch.running.push_back(batch.put_in_slot(std::move(g)));
  int64_t budget = 100;
  EXPECT_FALSE(batch.try_counted_decode(budget));
  EXPECT_EQ(batch.counted.members(), 0);
}

}  // namespace slsim
