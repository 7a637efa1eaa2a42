#pragma once
// Per-model idle-time histograms as in "Serverless in the Wild" (Shahrad et al., ATC'20): the
// time from a model going idle (no request in flight) to its next arrival, in 1-minute bins over
// a 4-hour range. Shared by the histogram keep-alive and the forecast preloader, which each keep
// their own copy fed by the same hooks.

#include <cstdint>
#include <optional>
#include <vector>

#include "sim/core/ids.h"
#include "sim/core/time.h"

namespace slsim {

class IdleHistogram {
 public:
  IdleHistogram(double bin_s, double range_s) : bin_s_(bin_s), bins_(static_cast<size_t>(range_s / bin_s), 0) {}

  void add(double idle_s);
  uint64_t samples() const { return in_range_ + out_of_range_; }
  uint64_t out_of_range() const { return out_of_range_; }
  // Coefficient of variation of the bin counts: high when idle times cluster in a few bins.
  double bin_count_cv() const;
  // The idle time below which `percent` of the in-range samples fall, at bin granularity (the
  // lower edge of the bin for head percentiles, the upper edge for tail ones, as the paper does).
  double head_s(double percent) const;
  double tail_s(double percent) const;
  // Exponentially weighted mean of the out-of-range idle times (the paper uses ARIMA here).
  double out_of_range_mean_s() const { return out_of_range_mean_s_; }

 private:
  size_t bin_at_percent(double percent) const;
  double bin_s_;
  std::vector<uint64_t> bins_;
  uint64_t in_range_ = 0;
  uint64_t out_of_range_ = 0;
  double out_of_range_mean_s_ = 0;
};

// Feeds one IdleHistogram per model from the control plane's hooks.
class IdleTracker {
 public:
  IdleTracker(double bin_s, double range_s) : bin_s_(bin_s), range_s_(range_s) {}
  void on_idle(ModelId model, Time now);
  void on_request(ModelId model, Time now);
  const IdleHistogram& histogram(ModelId model);

 private:
  void grow(ModelId model);
  double bin_s_;
  double range_s_;
  IdVector<ModelId, IdleHistogram> histograms_;
  IdVector<ModelId, std::optional<Time>> idle_since_;
};

}  // namespace slsim
