#pragma once

#include "sim/policy/idle_histogram.h"
#include "sim/policy/keepalive/keepalive.h"

namespace slsim {

// The hybrid histogram policy of Shahrad et al., "Serverless in the Wild" (ATC'20). Per model,
// a histogram of idle times (1-minute bins, 4-hour range). When it is representative (enough
// samples, bin counts concentrated: CV above a threshold) the pre-warm window is its head
// percentile (5th) less a margin, and the keep-alive window runs to its tail percentile (99th)
// plus a margin; when most idle times fall beyond the range, a time-series forecast of them sets
// both windows (the paper uses ARIMA; this uses an exponentially weighted mean); otherwise the
// fixed fallback keep-alive applies.
class HistogramKeepAlive final : public KeepAlivePolicy {
 public:
  struct Params {
    double bin_s = 60;
    double range_s = 4 * 3600;
    double head_percentile = 5;
    double tail_percentile = 99;
    double margin = 0.10;
    double cv_threshold = 2;
    int64_t min_samples = 10;
    double out_of_range_threshold = 0.5;
    double fallback_keep_alive_s = 4 * 3600;
    bool keep_checkpoint_in_dram = true;
    template <class V>
    void visit(V& v) {
      v.field("bin_s", bin_s, "histogram bin width, s (paper: 1 minute)", positive());
      v.field("range_s", range_s, "histogram range, s (paper: 4 hours)", positive());
      v.field("head_percentile", head_percentile, "pre-warm window percentile (paper: 5th)", between(0, 100));
      v.field("tail_percentile", tail_percentile, "keep-alive window percentile (paper: 99th)", between(0, 100));
      v.field("margin", margin, "shrinks pre-warm and stretches keep-alive by this share (paper: 10%)", between(0, 1));
      v.field("cv_threshold", cv_threshold, "bin-count CV above which the histogram is representative (paper: 2)",
              at_least(0));
      v.field("min_samples", min_samples, "idle times needed before the histogram is used", at_least(1));
      v.field("out_of_range_threshold", out_of_range_threshold,
              "share of idle times beyond the range above which the forecast is used", between(0, 1));
      v.field("fallback_keep_alive_s", fallback_keep_alive_s,
              "keep-alive while the histogram is not representative, s (paper: the range, 4 hours)", at_least(0));
      v.field("keep_checkpoint_in_dram", keep_checkpoint_in_dram,
              "on release, keep the checkpoint in the server's DRAM cache; false removes what its load put there");
    }
  };
  HistogramKeepAlive(const Params& params, Context&) : params_(params), tracker_(params.bin_s, params.range_s) {}
  void on_request(ModelId model, Time now) override { tracker_.on_request(model, now); }
  void on_idle(ModelId model, Time now) override { tracker_.on_idle(model, now); }
  KeepAliveDecision decide(ModelId model, Time now) override;

 private:
  Params params_;
  IdleTracker tracker_;
};

}  // namespace slsim
