#include "sim/policy/autoscale/predictive.h"

#include <algorithm>
#include <cmath>

namespace slsim {

PredictiveAutoscaler::PredictiveAutoscaler(const Params& params, Context& context)
    : params_(params), state_(context.models) {
  const auto bins = static_cast<size_t>(std::ceil(params_.period_s / params_.bin_s));
  for (ModelState& s : state_) {
    if (params_.forecast == "seasonal") s.bins.assign(bins, 0);
    s.cold_start_s = params_.cold_start_s;
  }
}

int64_t PredictiveAutoscaler::bin_of(Time t) const {
  const double phase = std::fmod(t.seconds(), params_.period_s);
  return std::min(static_cast<int64_t>(phase / params_.bin_s),
                  static_cast<int64_t>(state_[ModelId(0)].bins.size()) - 1);
}

void PredictiveAutoscaler::on_arrival(ModelId model, Time now) {
  ModelState& s = state_[model];
  if (s.bins.empty())
    ++s.since_tick;
  else
    s.bins[bin_of(now)] += 1;
}

void PredictiveAutoscaler::on_load(ModelId model, Time duration) {
  ModelState& s = state_[model];
  s.cold_start_s += params_.cold_start_weight * (duration.seconds() - s.cold_start_s);
}

int64_t PredictiveAutoscaler::desired_instances(const ModelDemand& d) {
  ModelState& s = state_[d.model];
  const double horizon_s = s.cold_start_s + params_.tick_s;
  double rate = 0;
  double expected = 0;
  if (s.bins.empty()) {
    const double weight = 1 - std::exp2(-params_.tick_s / params_.half_life_s);
    s.rate += weight * (static_cast<double>(s.since_tick) / params_.tick_s - s.rate);
    s.since_tick = 0;
    rate = s.rate;
    expected = rate * horizon_s;
  } else {
    // Each bin in the horizon, averaged over the occurrences of that bin already complete.
    const double now_s = d.now.seconds();
    const auto n_bins = static_cast<int64_t>(s.bins.size());
    const int64_t first = bin_of(d.now);
    // The bins that start before the horizon ends, wrapping into the next period.
    const auto last =
        static_cast<int64_t>(std::floor((std::fmod(now_s, params_.period_s) + horizon_s) / params_.bin_s));
    for (int64_t k = 0; k <= std::min(last - first, n_bins - 1); ++k) {
      const int64_t b = (first + k) % n_bins;
      const double bin_end_phase = static_cast<double>(b + 1) * params_.bin_s;
      const double done = std::floor((now_s - bin_end_phase) / params_.period_s) + 1;
      const double per_occurrence = s.bins[b] / std::max(done, 1.0);
      rate = std::max(rate, per_occurrence / params_.bin_s);
      expected += per_occurrence;
    }
  }
  if (expected < params_.min_expected_requests) return 0;
  auto desired = static_cast<int64_t>(std::ceil(rate / params_.target_rps));
  desired = std::max<int64_t>(desired, 1);
  if (params_.max_instances > 0) desired = std::min(desired, params_.max_instances);
  return desired;
}

}  // namespace slsim
