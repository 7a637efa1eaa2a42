#include "sim/engine/vllm_v0_batching.h"

#include <gtest/gtest.h>

#include <memory>

namespace slsim {
namespace {

EngineParams params(int64_t block_size, double watermark) {
  EngineParams p;
  p.mode = EngineMode::vllm_v0;
  p.block_size = block_size;
  p.watermark = watermark;
  return p;
}

void enqueue(EngineBatch& batch, uint64_t id, int64_t input_tokens, int64_t output_tokens) {
  SequenceGroup g;
  g.request = EngineRequest{RequestId(id), input_tokens, output_tokens};
  g.prompt = input_tokens;
  batch.waiting.push_back(std::move(g));
}

// What the engine does at the end of a step whose prefills completed: each prompt gives its first token.
void finish_prefills(EngineBatch& batch) {
  for (const uint32_t slot : batch.running) {
    SequenceGroup& g = batch.slots[slot];
    g.computed += g.chunk;
    g.chunk = 0;
    if (g.computed >= g.prompt) g.generated = 1;
  }
}

uint64_t running_id(const EngineBatch& batch, size_t i) { return batch.slots[batch.running.at(i)].request.id.value(); }

}  // namespace

TEST(VllmV0Batching, AdmissionKeepsTheWatermarkFreeOnceSomethingRuns) {
  // 100 blocks of 16 tokens, a watermark of 10 blocks. A (50 blocks) starts with the watermark
  // waived; B (41 blocks) would leave 9 < 10 free, so it waits.
  const EngineParams p = params(16, 0.1);
  const EngineCapacity c{100, 4096, 1};
  EngineBatch batch(p, c);
  VllmV0Batching policy(p, c);
  enqueue(batch, 1, int64_t{50} * 16, 4);
  enqueue(batch, 2, int64_t{41} * 16, 4);
  const StepPlan plan = policy.plan_step(batch);
  EXPECT_TRUE(plan.prefilling);
  EXPECT_FALSE(plan.preempted);
  ASSERT_EQ(batch.running.size(), 1u);
  EXPECT_EQ(running_id(batch, 0), 1u);
  EXPECT_EQ(batch.waiting.size(), 1u);
  EXPECT_EQ(batch.free_blocks(), 50);
}

TEST(VllmV0Batching, APromptLongerThanTheTokenBudgetRunsAloneWithoutChunking) {
  // A budget of 10 tokens: the 25-token prompt is admitted whole as the step's first; the next
  // (5 tokens) no longer fits the budget that is left.
  EngineParams p = params(16, 0);
  p.max_num_batched_tokens = 10;
  const EngineCapacity c{100, 4096, 1};
  EngineBatch batch(p, c);
  VllmV0Batching policy(p, c);
  enqueue(batch, 1, 25, 4);
  enqueue(batch, 2, 5, 4);
  policy.plan_step(batch);
  ASSERT_EQ(batch.running.size(), 1u);
  EXPECT_EQ(batch.slots[batch.running[0]].chunk, 25);
}

TEST(VllmV0Batching, ChunkedPrefillFillsEachStepsBudgetWithPromptChunks) {
  // A budget of 10 tokens and a 25-token prompt: chunks of 10, 10 and 5.
  EngineParams p = params(16, 0);
  p.max_num_batched_tokens = 10;
  p.enable_chunked_prefill = true;
  const EngineCapacity c{100, 4096, 1};
  EngineBatch batch(p, c);
  VllmV0Batching policy(p, c);
  enqueue(batch, 1, 25, 4);
  for (const int64_t chunk : {10, 10, 5}) {
    EXPECT_TRUE(policy.plan_step(batch).prefilling);
    ASSERT_EQ(batch.running.size(), 1u);
    EXPECT_EQ(batch.slots[batch.running[0]].chunk, chunk);
    finish_prefills(batch);
  }
}

// 4 blocks of 4 tokens; A and B each prefill 8 tokens (2 blocks), leaving none free. Their
// first decode writes token 9 of each, a new block: A, admitted first, takes the block B frees
// when it is preempted (the latest admitted goes first).
class PreemptionTest : public testing::TestWithParam<PreemptionMode> {};

TEST_P(PreemptionTest, TheLatestAdmittedIsPreemptedAsTheModeSays) {
  EngineParams p = params(4, 0);
  p.preemption_mode = GetParam();
  const EngineCapacity c{4, 64, 1};
  EngineBatch batch(p, c);
  VllmV0Batching policy(p, c);
  enqueue(batch, 1, 8, 4);
  enqueue(batch, 2, 8, 4);
  policy.plan_step(batch);
  ASSERT_EQ(batch.running.size(), 2u);
  EXPECT_EQ(batch.free_blocks(), 0);
  finish_prefills(batch);

  const StepPlan plan = policy.plan_step(batch);
  EXPECT_TRUE(plan.preempted);
  EXPECT_EQ(batch.preemptions, 1);
  ASSERT_EQ(batch.running.size(), 1u);
  EXPECT_EQ(running_id(batch, 0), 1u);
  EXPECT_EQ(batch.shape.decode_sequences, 1);
  EXPECT_EQ(batch.shape.decode_context_tokens, 9);
  EXPECT_EQ(batch.free_blocks(), 1);  // B's 2 blocks freed, A took 1
  if (GetParam() == PreemptionMode::swap) {
    ASSERT_EQ(batch.swapped.size(), 1u);
    EXPECT_EQ(batch.moves.swap_out_bytes, 2 * 4);  // 2 blocks of 4 tokens, 1 byte each
    EXPECT_TRUE(batch.waiting.empty());
  } else {
    ASSERT_EQ(batch.waiting.size(), 1u);
    EXPECT_EQ(batch.waiting.front().prompt, 9);  // its prompt and the token it generated, prefilled again
    EXPECT_TRUE(batch.moves.empty());
  }
}

INSTANTIATE_TEST_SUITE_P(Modes, PreemptionTest, testing::Values(PreemptionMode::recompute, PreemptionMode::swap),
                         [](const testing::TestParamInfo<PreemptionMode>& info) {
                           return std::string(name_of(info.param, kPreemptionModeNames));
                         });

TEST(BatchingPolicy, TheVllmV0KindMakesVllmV0Batching) {
  const std::unique_ptr<BatchingPolicy> policy =
      make_batching_policy(BatchingPolicyKind::vllm_v0, EngineParams{}, EngineCapacity{10, 64, 1});
  EXPECT_NE(dynamic_cast<VllmV0Batching*>(policy.get()), nullptr);
}

}  // namespace slsim
