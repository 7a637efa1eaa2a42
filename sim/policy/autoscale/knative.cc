#include "sim/policy/autoscale/knative.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

namespace slsim {

void KnativeWindows::check(const std::string& path) const {
  const auto at_least_a_nanosecond = [&](std::string_view key, double seconds) {
    if (Time::from_seconds(seconds) <= Time::zero())
      throw ConfigError(join_path(path, key), fmt::format("expected a window of at least 1 ns, got {} s", seconds));
  };
  at_least_a_nanosecond("stable_window_s", stable_window_s);
  at_least_a_nanosecond("panic_window_percentage", stable_window_s * panic_window_percentage / 100);
  at_least_a_nanosecond("tick_s", tick_s);
  if (max_scale > 0 && min_scale > max_scale)
    throw ConfigError(join_path(path, "min_scale"),
                      fmt::format("expected at most max_scale ({}), got {}", max_scale, min_scale));
}

KnativeDecider::KnativeDecider(const KnativeWindows& windows, double target, int64_t models)
    : windows_(windows), target_(target * windows.target_utilization_percentage / 100), state_(models) {}

int64_t KnativeDecider::decide(ModelId model, Time now, double metric, int64_t ready) {
  ModelState& s = state_[model];
  const Time stable = Time::from_seconds(windows_.stable_window_s);
  const Time panic = Time::from_seconds(windows_.stable_window_s * windows_.panic_window_percentage / 100);
  s.samples.push_back(Sample{now, metric});
  while (s.samples.front().at <= now - stable) s.samples.pop_front();
  double stable_sum = 0;
  double panic_sum = 0;
  int64_t panic_samples = 0;
  for (const Sample& sample : s.samples) {
    stable_sum += sample.value;
    if (sample.at > now - panic) {
      panic_sum += sample.value;
      ++panic_samples;
    }
  }
  const auto pods = [&](double sum, int64_t n) {
    return static_cast<int64_t>(std::ceil(sum / static_cast<double>(n) / target_));
  };
  const int64_t stable_desired = pods(stable_sum, static_cast<int64_t>(s.samples.size()));
  const int64_t panic_desired = pods(panic_sum, panic_samples);
  const bool over_threshold = static_cast<double>(panic_desired) / static_cast<double>(std::max<int64_t>(ready, 1)) >=
                              windows_.panic_threshold_percentage / 100;
  if (over_threshold) {
    s.panic_since = now;
  } else if (s.panic_since && now > *s.panic_since + stable) {
    s.panic_since.reset();
    s.max_panic = 0;
  }
  int64_t desired = stable_desired;
  if (s.panic_since) {
    desired = std::max(panic_desired, s.max_panic);
    s.max_panic = desired;
  }
  desired = std::max(desired, windows_.min_scale);
  if (windows_.max_scale > 0) desired = std::min(desired, windows_.max_scale);
  if (desired > 0) {
    s.zero_since.reset();
    return desired;
  }
  if (!s.zero_since) s.zero_since = now;
  // The grace period keeps the last instance; it never starts one.
  const bool in_grace = now - *s.zero_since < Time::from_seconds(windows_.scale_to_zero_grace_period_s);
  return in_grace && ready > 0 ? 1 : 0;
}

std::optional<Time> KnativeDecider::settled_window(ModelId model, Time now) const {
  const ModelState& s = state_[model];
  if (s.panic_since) return std::nullopt;
  for (const Sample& sample : s.samples)
    if (sample.value != 0) return std::nullopt;
  // Desired 0: zero_since stays, and once the grace period is over the decision stays 0.
  if (s.zero_since && now - *s.zero_since < Time::from_seconds(windows_.scale_to_zero_grace_period_s))
    return std::nullopt;
  return Time::from_seconds(windows_.stable_window_s);
}

}  // namespace slsim
