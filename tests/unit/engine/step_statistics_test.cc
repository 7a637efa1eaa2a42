#include "sim/engine/step_statistics.h"

#include <gtest/gtest.h>

#include <vector>

namespace slsim {

// A run of 3 steps (1 s, 2 s, 1 s) with blocks of 4 tokens, beginning with 2 decoding
// sequences, 10 tokens stored, 3 blocks allocated and 2 unshared; its third step opens a block.
//   step 0: stored 10 × 1 = 10, allocated 12 × 1 = 12, unshared 8 × 1 = 8
//   step 1: stored 12 × 2 = 24, allocated 12 × 2 = 24, unshared 8 × 2 = 16
//   step 2: stored 14 × 1 = 14, allocated 16 × 1 = 16, unshared 12 × 1 = 12
TEST(StepStatistics, ARunIntegratesEachStepsTokensAndBlocksOverItsTime) {
  StepStatistics stats(4);
  stats.begin_run(2, 10, 3, 2);
  const std::vector<Time> times{Time::from_seconds(1), Time::from_seconds(2), Time::from_seconds(1)};
  const std::vector<int64_t> opened_at{0, 1};  // by steps 1 and 2
  size_t k = 0;
  EXPECT_EQ(stats.add_run(times.data(), 3, [&] { return opened_at[k++]; }), 1);
  const EngineStats& t = stats.totals();
  EXPECT_EQ(t.steps, 3);
  EXPECT_DOUBLE_EQ(t.busy_s, 4);
  EXPECT_DOUBLE_EQ(t.stored_token_s, 48);
  EXPECT_DOUBLE_EQ(t.allocated_token_s, 52);
  EXPECT_DOUBLE_EQ(t.unshared_token_s, 36);
}

TEST(StepStatistics, RunsAddUpAndCountersAccumulate) {
  StepStatistics stats(4);
  // One 1 s step holding 4 tokens in 1 block, then one 2 s step holding 8 in 2 (one shared).
  stats.begin_run(0, 4, 1, 1);
  const Time one_s = Time::from_seconds(1);
  stats.add_run(&one_s, 1, [] { return int64_t{0}; });
  stats.begin_run(0, 8, 2, 1);
  const Time two_s = Time::from_seconds(2);
  stats.add_run(&two_s, 1, [] { return int64_t{0}; });
  stats.count_generated(3);
  stats.count_generated(2);
  stats.count_prefilled(7);
  stats.count_preemptions(1);
  stats.count_swapped(4096);
  const EngineStats& t = stats.totals();
  EXPECT_EQ(t.steps, 2);
  EXPECT_DOUBLE_EQ(t.busy_s, 3);
  EXPECT_DOUBLE_EQ(t.stored_token_s, 4 * 1 + 8 * 2);
  EXPECT_DOUBLE_EQ(t.allocated_token_s, 4 * 1 + 8 * 2);
  EXPECT_DOUBLE_EQ(t.unshared_token_s, 4 * 1 + 4 * 2);
  EXPECT_EQ(t.generated_tokens, 5);
  EXPECT_EQ(t.prefilled_tokens, 7);
  EXPECT_EQ(t.preemptions, 1);
  EXPECT_EQ(t.swapped_bytes, 4096);
}

}  // namespace slsim
