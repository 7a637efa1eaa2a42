#pragma once
// How many distinct routed experts a step touches. Each token of a step picks experts_per_token
// distinct experts of routed_experts; a step reads the weights of every expert some token
// picked, so its expert bytes grow with that count, not with tokens x top-k.
//
// Popularity: expert i (1-based) has weight i^-skew (Zipf; skew 0 = uniform). A token includes
// expert i with probability π_i = min(1, c·i^-skew), c such that Σ π_i = experts_per_token
// (sampling proportional to weight without replacement, the standard inclusion design);
// tokens pick independently, so the expected number of distinct experts among T tokens is
// Σ_i 1 − (1 − π_i)^T, which for skew 0 is E·(1 − (1 − k/E)^T).

#include <cstdint>
#include <vector>

namespace slsim {

class ExpertRouting {
 public:
  // REQUIRES: 1 <= experts_per_token <= routed_experts, skew >= 0.
  ExpertRouting(int64_t routed_experts, int64_t experts_per_token, double skew);
  // Expected distinct experts touched by `tokens` tokens (0 for none).
  double expected_distinct_experts(double tokens) const;
  const std::vector<double>& inclusion_probabilities() const { return inclusion_; }

 private:
  std::vector<double> inclusion_;  // π_i, descending
  bool uniform_;
};

}  // namespace slsim
