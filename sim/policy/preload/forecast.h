#pragma once

#include "sim/policy/idle_histogram.h"
#include "sim/policy/preload/preload.h"

namespace slsim {

// Acts ahead of the next arrival the idle-time histogram predicts (Shahrad et al.'s pre-warm
// window): when a model goes idle, schedule a load of its checkpoint into DRAM, or the start of
// an instance, at the histogram's head percentile less a margin. Until the histogram has
// enough samples it does nothing.
class ForecastPreload final : public PreloadPolicy {
 public:
  struct Params {
    std::string target = "dram";
    double bin_s = 60;
    double range_s = 4 * 3600;
    double head_percentile = 5;
    double margin = 0.10;
    int64_t min_samples = 10;
    double instance_keep_alive_s = 300;
    template <class V>
    void visit(V& v) {
      v.choice("target", target, "what to prepare: the checkpoint in DRAM or a whole instance", {"dram", "instance"});
      v.field("bin_s", bin_s, "histogram bin width, s", positive());
      v.field("range_s", range_s, "histogram range, s", positive());
      v.field("head_percentile", head_percentile, "percentile of idle time to act at", between(0, 100));
      v.field("margin", margin, "act this share earlier", between(0, 1));
      v.field("min_samples", min_samples, "idle times needed before forecasting", at_least(1));
      v.field("instance_keep_alive_s", instance_keep_alive_s,
              "how long a pre-started instance waits for its first request, s", at_least(0));
    }
  };
  ForecastPreload(const Params& params, Context&) : params_(params), tracker_(params.bin_s, params.range_s) {}
  void on_request(ModelId model, Time now) override { tracker_.on_request(model, now); }
  void on_idle(ModelId model, Time now) override;
  void plan(Time now, std::vector<PreloadAction>& actions) override;

 private:
  Params params_;
  IdleTracker tracker_;
  std::vector<PreloadAction> due_;
};

}  // namespace slsim
