#include <algorithm>

#include "sim/policy/switching/switching.h"

namespace slsim {

size_t AegaeonSwitching::next(std::span<const SwitchCandidate> waiting) const {
  for (size_t i = 0; i < waiting.size(); ++i)
    if (waiting[i].unstarted > 0) return i;
  return 0;
}

Time AegaeonSwitching::quantum(const SwitchCandidate& incoming, std::span<const SwitchCandidate> others,
                               Time switch_time) const {
  const auto n = static_cast<double>(others.size() + 1);
  const double c = switch_time.seconds();
  const double t = incoming.mean_step.seconds();
  const double d = params_.tpot_slo_s;
  const double tpot_minimum = d > n * t ? n * c * t / (d - n * t) : params_.max_quantum_s;
  const double ttft_maximum = others.empty() ? params_.max_quantum_s : (params_.ttft_slo_s - c) / 2;
  const double q = std::max(ttft_maximum, tpot_minimum);
  return Time::from_seconds(std::clamp(q, params_.min_quantum_s, params_.max_quantum_s));
}

}  // namespace slsim
