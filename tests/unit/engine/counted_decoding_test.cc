#include "sim/engine/counted_decoding.h"

#include <gtest/gtest.h>

#include <stdexcept>
#include <vector>

namespace slsim {
namespace {

// Blocks of 4 tokens. At clock 0, A joins holding 5 tokens (phase 1: it writes tokens 6, 7, 8
// into its second block, and opens a third with token 9, at the step beginning at clock 3) and B
// holding 8 (phase 0: its next token, 9, opens a block at once, at clock 0). Each then opens a
// block every 4 steps: A at clocks 3, 7, 11, ...; B at 0, 4, 8, ...
CountedDecoding two_members(int64_t a_remaining, int64_t b_remaining) {
  CountedDecoding counted(4);
  counted.join(5, a_remaining, 0);
  counted.join(8, b_remaining, 1);
  return counted;
}

}  // namespace

TEST(CountedDecoding, AMembersPhaseIsWhereItWritesWithinItsBlock) {
  const CountedDecoding counted(4);
  EXPECT_EQ(counted.phase(5, 0), 1);
  EXPECT_EQ(counted.phase(8, 0), 0);
  EXPECT_EQ(counted.phase(5, 3), 2);  // joined at clock 3: (5 - 3) mod 4
  EXPECT_EQ(counted.phase(5, 7), 2);  // (5 - 7) mod 4, never negative
}

TEST(CountedDecoding, BlocksOpenedFollowEachMembersPhase) {
  const CountedDecoding counted = two_members(10, 10);
  EXPECT_EQ(counted.blocks_opened(0), 1);  // B
  EXPECT_EQ(counted.blocks_opened(1), 0);
  EXPECT_EQ(counted.blocks_opened(2), 0);
  EXPECT_EQ(counted.blocks_opened(3), 1);  // A
  EXPECT_EQ(counted.blocks_opened(4), 1);  // B again
  // Clocks 0..7 are two whole cycles, one block per member each; 1..9 reach A at 3 and 7, B at 4 and 8.
  EXPECT_EQ(counted.blocks_opened(0, 8), 4);
  EXPECT_EQ(counted.blocks_opened(1, 10), 4);
}

TEST(CountedDecoding, AStepsContextIsEveryMembersTokensPlusTheOneItWrites) {
  CountedDecoding counted = two_members(10, 10);
  // (5 + 1) + (8 + 1); the step writes 2 tokens, and B's opens 1 block.
  EXPECT_EQ(counted.begin_step(1), 15);
  EXPECT_TRUE(counted.stepping());
  EXPECT_EQ(counted.unstored_tokens(), 2);
  EXPECT_EQ(counted.unstored_blocks(), 1);
}

TEST(CountedDecoding, ARunEndsAtTheFirstFinishOrWhereItsBlocksRunOut) {
  {
    CountedDecoding counted = two_members(10, 3);
    counted.begin_step(1);
    EXPECT_EQ(counted.run_length(0), 3);  // B is done after 3 steps; clocks 1 and 2 open nothing
  }
  CountedDecoding counted = two_members(10, 10);
  counted.begin_step(1);
  // Up to 10 steps, whose later ones open blocks at clocks 3 (A), 4 (B), 7 (A) and 8 (B).
  EXPECT_EQ(counted.run_length(4), 10);
  // With one free block the step at clock 4 cannot take B's: the run is clocks 0..3.
  EXPECT_EQ(counted.run_length(1), 4);
  EXPECT_EQ(counted.run_length(0), 3);
}

TEST(CountedDecoding, RunBlocksGiveEachLaterStepsBlocksInTurn) {
  CountedDecoding counted = two_members(10, 10);
  counted.begin_step(1);
  CountedDecoding::RunBlocks run = counted.run_blocks();
  EXPECT_EQ(run.next(), 0);  // clock 1
  EXPECT_EQ(run.next(), 0);  // clock 2
  EXPECT_EQ(run.next(), 1);  // clock 3: A
  EXPECT_EQ(run.next(), 1);  // clock 4: B
}

TEST(CountedDecoding, FinishingARunAdvancesTheClockAndReportsTheMembersDone) {
  CountedDecoding counted = two_members(10, 3);
  counted.begin_step(1);
  std::vector<uint32_t> done;
  counted.finish_run(3, 0, done);
  EXPECT_FALSE(counted.stepping());
  EXPECT_EQ(counted.clock(), 3);
  EXPECT_EQ(done, std::vector<uint32_t>{1});  // B, in slot 1, had 3 tokens to go
  // 2 tokens at the first step, 2 at each of the 2 later ones; only B's first block.
  EXPECT_EQ(counted.unstored_tokens(), 6);
  EXPECT_EQ(counted.unstored_blocks(), 1);
}

TEST(CountedDecoding, EveryMemberLeavingRequiresEveryCountedTokenStored) {
  CountedDecoding counted = two_members(10, 10);
  counted.begin_step(1);
  std::vector<uint32_t> done;
  counted.finish_run(1, 0, done);
  counted.leave(5, 0);
  counted.leave(8, 0);
  EXPECT_EQ(counted.members(), 0);
  EXPECT_THROW(counted.all_left(), std::logic_error);  // 2 tokens, 1 block never stored
  counted.stored(2, 1);
  EXPECT_NO_THROW(counted.all_left());
}

TEST(CountedDecoding, AuditRefusesCountsThatDisagreeWithTheMembers) {
  const CountedDecoding counted = two_members(10, 10);
  // Phases: B at 0, A at 1; Σ (tokens - base) = 13.
  EXPECT_NO_THROW(counted.audit(0, 0, 13, {1, 1, 0, 0}));
  EXPECT_THROW(counted.audit(0, 0, 12, {1, 1, 0, 0}), std::logic_error);
  EXPECT_THROW(counted.audit(0, 0, 13, {2, 0, 0, 0}), std::logic_error);
}

}  // namespace slsim
