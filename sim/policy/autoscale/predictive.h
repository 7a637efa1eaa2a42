#pragma once
// `predictive`: forecasts each model's arrival rate and starts instances ahead of demand by
// the expected cold-start time, learned from observed loads. Two forecasts:
// - `seasonal`: a histogram of arrivals by phase within a period (a day by default), each bin
//   averaged over the periods seen; the forecast is the busiest bin in [now, now + lead + tick]
//   (the shape of Shahrad et al.'s and ServerlessLLM-era predictive pre-warming).
// - `ewma`: an exponentially weighted arrival rate with a half-life, flat into the future.
// desired = ceil(forecast rate / target_rps) when at least `min_expected_requests` arrivals
// are expected within the lead + one tick, else 0.

#include <string>
#include <vector>

#include "sim/policy/autoscale/autoscaler.h"

namespace slsim {

class PredictiveAutoscaler final : public Autoscaler {
 public:
  struct Params {
    std::string forecast = "seasonal";
    double target_rps = 1;
    double period_s = 86400;
    double bin_s = 60;
    double half_life_s = 60;
    double cold_start_s = 10;
    double cold_start_weight = 0.2;
    double min_expected_requests = 0.5;
    int64_t max_instances = 0;
    double tick_s = 2;
    template <class V>
    void visit(V& v) {
      v.choice("forecast", forecast, "`seasonal` (arrivals by phase within a period) or `ewma` (a decaying rate)",
               {"seasonal", "ewma"});
      v.field("target_rps", target_rps, "requests per second one instance serves", positive());
      v.field("period_s", period_s, "seasonal: the period, seconds (a day)", positive());
      v.field("bin_s", bin_s, "seasonal: histogram bin width, seconds", positive());
      v.field("half_life_s", half_life_s, "ewma: seconds after which an observation weighs half", positive());
      v.field("cold_start_s", cold_start_s, "expected cold start before any load was observed, seconds", at_least(0));
      v.field("cold_start_weight", cold_start_weight,
              "weight of each observed load in the learned cold-start time (EWMA); 0 keeps cold_start_s", at_least(0));
      v.field("min_expected_requests", min_expected_requests,
              "arrivals expected within lead + tick below which the model scales to zero", positive());
      v.field("max_instances", max_instances, "most instances per model; 0: unbounded", at_least(0));
      v.field("tick_s", tick_s, "seconds between decisions", positive());
    }
  };
  PredictiveAutoscaler(const Params& params, Context& context);
  Time tick_interval() const override { return Time::from_seconds(params_.tick_s); }
  void on_arrival(ModelId model, Time now) override;
  void on_load(ModelId model, Time duration) override;
  int64_t desired_instances(const ModelDemand& d) override;
  // The lead: how far ahead instances start.
  double expected_cold_start_s(ModelId model) const { return state_[model].cold_start_s; }

 private:
  struct ModelState {
    std::vector<double> bins;  // seasonal: arrivals by phase bin, summed over periods
    double rate = 0;           // ewma: requests per second
    int64_t since_tick = 0;    // ewma: arrivals since the last tick
    double cold_start_s = 0;
  };
  int64_t bin_of(Time t) const;
  Params params_;
  IdVector<ModelId, ModelState> state_;
};

}  // namespace slsim
