#include "sim/engine/expert_routing.h"

#include <gtest/gtest.h>

#include <cmath>
#include <numeric>

namespace slsim {

TEST(ExpertRouting, OneTokenTouchesExactlyItsTopK) {
  const ExpertRouting routing(8, 2, 0);
  EXPECT_DOUBLE_EQ(routing.expected_distinct_experts(1), 2);
}

TEST(ExpertRouting, UniformTokensTouchTheClosedFormCount) {
  // 8 · (1 − (3/4)^4) = 8 · 175/256 = 5.46875.
  const ExpertRouting routing(8, 2, 0);
  EXPECT_DOUBLE_EQ(routing.expected_distinct_experts(4), 5.46875);
  EXPECT_DOUBLE_EQ(routing.expected_distinct_experts(0), 0);
}

TEST(ExpertRouting, ManyTokensTouchEveryExpert) {
  const ExpertRouting routing(256, 8, 0);
  EXPECT_NEAR(routing.expected_distinct_experts(4096), 256, 1e-9);
}

TEST(ExpertRouting, SkewedInclusionProbabilitiesSumToTopKAndAreCappedAtOne) {
  // Weights 1, 1/2, 1/3, 1/4 (Zipf 1), k = 2: c = 2 / (25/12) = 0.96, no expert certain.
  const ExpertRouting routing(4, 2, 1);
  const auto& p = routing.inclusion_probabilities();
  EXPECT_DOUBLE_EQ(p[0], 0.96);
  EXPECT_DOUBLE_EQ(p[3], 0.24);
  EXPECT_DOUBLE_EQ(std::accumulate(p.begin(), p.end(), 0.0), 2);
  // Zipf 3: weights 1, 1/8, 1/27, 1/64; the first is certain, the rest share one pick:
  // c = 1 / (1/8 + 1/27 + 1/64).
  const ExpertRouting steep(4, 2, 3);
  const double c = 1 / (1.0 / 8 + 1.0 / 27 + 1.0 / 64);
  EXPECT_DOUBLE_EQ(steep.inclusion_probabilities()[0], 1);
  EXPECT_DOUBLE_EQ(steep.inclusion_probabilities()[1], c / 8);
}

TEST(ExpertRouting, SkewTouchesFewerExpertsThanUniform) {
  // Two tokens, k = 2 of 4, Zipf 1: Σ 1 − (1 − π)^2 over π = .96, .48, .32, .24.
  const ExpertRouting routing(4, 2, 1);
  const double expected = (1 - 0.04 * 0.04) + (1 - 0.52 * 0.52) + (1 - 0.68 * 0.68) + (1 - 0.76 * 0.76);
  EXPECT_NEAR(routing.expected_distinct_experts(2), expected, 1e-12);
  EXPECT_LT(routing.expected_distinct_experts(2), ExpertRouting(4, 2, 0).expected_distinct_experts(2));
}

}  // namespace slsim
