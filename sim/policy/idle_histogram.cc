#include "sim/policy/idle_histogram.h"

#include <cmath>

namespace slsim {

void IdleHistogram::add(double idle_s) {
  const auto bin = static_cast<size_t>(idle_s / bin_s_);
  if (bin < bins_.size()) {
    ++bins_[bin];
    ++in_range_;
    return;
  }
  ++out_of_range_;
  constexpr double kWeight = 0.3;
  out_of_range_mean_s_ = out_of_range_ == 1 ? idle_s : kWeight * idle_s + (1 - kWeight) * out_of_range_mean_s_;
}

double IdleHistogram::bin_count_cv() const {
  const auto n = static_cast<double>(bins_.size());
  double mean = 0;
  for (const uint64_t c : bins_) mean += static_cast<double>(c);
  mean /= n;
  if (mean == 0) return 0;
  double variance = 0;
  for (const uint64_t c : bins_) variance += (static_cast<double>(c) - mean) * (static_cast<double>(c) - mean);
  return std::sqrt(variance / n) / mean;
}

size_t IdleHistogram::bin_at_percent(double percent) const {
  const double wanted = percent / 100.0 * static_cast<double>(in_range_);
  uint64_t seen = 0;
  for (size_t i = 0; i < bins_.size(); ++i) {
    seen += bins_[i];
    if (static_cast<double>(seen) >= wanted && seen > 0) return i;
  }
  return bins_.size() - 1;
}

double IdleHistogram::head_s(double percent) const { return static_cast<double>(bin_at_percent(percent)) * bin_s_; }

double IdleHistogram::tail_s(double percent) const { return static_cast<double>(bin_at_percent(percent) + 1) * bin_s_; }

void IdleTracker::grow(ModelId model) {
  while (histograms_.size() <= model.index()) {
    histograms_.emplace_back(bin_s_, range_s_);
    idle_since_.emplace_back();
  }
}

void IdleTracker::on_idle(ModelId model, Time now) {
  grow(model);
  idle_since_[model] = now;
}

void IdleTracker::on_request(ModelId model, Time now) {
  grow(model);
  if (idle_since_[model]) histograms_[model].add((now - *idle_since_[model]).seconds());
  idle_since_[model].reset();
}

const IdleHistogram& IdleTracker::histogram(ModelId model) {
  grow(model);
  return histograms_[model];
}

}  // namespace slsim
