#include "sim/engine/expert_routing.h"

#include <algorithm>
#include <cmath>
#include <numeric>

namespace slsim {

ExpertRouting::ExpertRouting(int64_t routed_experts, int64_t experts_per_token, double skew)
    : inclusion_(static_cast<size_t>(routed_experts)), uniform_(skew == 0) {
  const auto experts = static_cast<size_t>(routed_experts);
  const auto top_k = static_cast<double>(experts_per_token);
  std::vector<double> weight(experts);
  for (size_t i = 0; i < experts; ++i) weight[i] = std::pow(static_cast<double>(i + 1), -skew);
  // The most popular experts may be certain (π = 1); the rest share what top-k leaves in
  // proportion to their weight. Weights descend, so the certain ones are a prefix.
  for (size_t certain = 0; certain < experts; ++certain) {
    const double rest = std::accumulate(weight.begin() + static_cast<std::ptrdiff_t>(certain), weight.end(), 0.0);
    const double scale = (top_k - static_cast<double>(certain)) / rest;
    if (scale * weight[certain] <= 1) {
      for (size_t i = 0; i < experts; ++i) inclusion_[i] = i < certain ? 1.0 : std::min(1.0, scale * weight[i]);
      return;
    }
  }
  std::fill(inclusion_.begin(), inclusion_.end(), 1.0);
}

double ExpertRouting::expected_distinct_experts(double tokens) const {
  if (tokens <= 0) return 0;
  const auto experts = static_cast<double>(inclusion_.size());
  if (uniform_) return experts * (1 - std::pow(1 - inclusion_.front(), tokens));
  double expected = 0;
  for (const double p : inclusion_) expected += 1 - std::pow(1 - p, tokens);
  return expected;
}

}  // namespace slsim
