#include "sim/policy/keepalive/histogram.h"

namespace slsim {

KeepAliveDecision HistogramKeepAlive::decide(ModelId model, Time) {
  const IdleHistogram& h = tracker_.histogram(model);
  KeepAliveDecision d;
  d.keep_checkpoint_in_dram = params_.keep_checkpoint_in_dram;
  const auto samples = static_cast<double>(h.samples());
  if (h.samples() >= static_cast<uint64_t>(params_.min_samples) &&
      static_cast<double>(h.out_of_range()) > params_.out_of_range_threshold * samples) {
    // Idle times mostly beyond the histogram: pre-warm shortly before the forecast idle time
    // and keep the instance for a window around it (the paper's ARIMA branch: 15% margins).
    const double forecast_s = h.out_of_range_mean_s();
    d.prewarm_after = Time::from_seconds(forecast_s * 0.85);
    d.keep_alive = Time::from_seconds(forecast_s * 0.30);
    return d;
  }
  if (h.samples() < static_cast<uint64_t>(params_.min_samples) || h.bin_count_cv() < params_.cv_threshold) {
    d.keep_alive = Time::from_seconds(params_.fallback_keep_alive_s);
    return d;
  }
  const double prewarm_s = h.head_s(params_.head_percentile) * (1 - params_.margin);
  const double tail_s = h.tail_s(params_.tail_percentile) * (1 + params_.margin);
  d.prewarm_after = Time::from_seconds(prewarm_s);
  d.keep_alive = Time::from_seconds(tail_s - prewarm_s);
  return d;
}

}  // namespace slsim
