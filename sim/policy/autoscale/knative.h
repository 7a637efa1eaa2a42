#pragma once
// Knative's Pod Autoscaler (KPA), with its defaults from the Knative Serving documentation
// (https://knative.dev/docs/serving/autoscaling/kpa-specific/ and .../autoscaling/concurrency/):
// stable window 60 s, panic window 10% of it, panic threshold 200%, scale-to-zero grace
// period 30 s, container-concurrency-target-default 100 at target utilization 70%, rps
// target 200, a decision every 2 s (the autoscaler's tick in pkg/autoscaler/scaling).
//
// The decider (pkg/autoscaler/scaling/autoscaler.go, Scale): desired = ceil(average metric
// over the stable window / (target × utilization)); when the same ratio over the panic window
// reaches threshold × ready instances, it panics: it scales on the panic window and never
// scales down until a whole stable window has passed without reaching the threshold. Knative
// averages per-second buckets; here the metric is sampled on each tick. Scale-up and
// scale-down rate limits (1000×, 2×) are not modelled.

#include <deque>
#include <optional>
#include <vector>

#include "sim/policy/autoscale/autoscaler.h"

namespace slsim {

struct KnativeWindows {
  double stable_window_s = 60;
  double panic_window_percentage = 10;
  double panic_threshold_percentage = 200;
  double scale_to_zero_grace_period_s = 30;
  double target_utilization_percentage = 70;
  int64_t min_scale = 0;
  int64_t max_scale = 0;
  double tick_s = 2;

  template <class V>
  void visit(V& v) {
    v.field("stable_window_s", stable_window_s, "seconds the metric is averaged over (Knative: 60)", positive());
    v.field("panic_window_percentage", panic_window_percentage,
            "panic window as a percentage of the stable window (Knative: 10)", positive());
    v.field("panic_threshold_percentage", panic_threshold_percentage,
            "panic when the panic-window demand reaches this percentage of ready capacity (Knative: 200)", positive());
    v.field("scale_to_zero_grace_period_s", scale_to_zero_grace_period_s,
            "seconds the last instance is kept after demand first asks for zero (Knative: 30)", at_least(0));
    v.field("target_utilization_percentage", target_utilization_percentage,
            "share of the target an instance is driven to, percent (Knative: 70)", positive());
    v.field("min_scale", min_scale, "fewest instances per model (Knative: 0)", at_least(0));
    v.field("max_scale", max_scale, "most instances per model; 0: unbounded (Knative: 0)", at_least(0));
    v.field("tick_s", tick_s, "seconds between decisions (Knative: 2)", positive());
  }
  // Windows hold samples of whole nanoseconds: one that rounds to none would hold no sample.
  void check(const std::string& path) const;
};

// The windowed decider shared by `kpa` (concurrency) and `rps` (requests per second).
class KnativeDecider {
 public:
  KnativeDecider(const KnativeWindows& windows, double target, int64_t models);
  // One tick: records `metric` (the model's demand now) and returns the desired instances.
  int64_t decide(ModelId model, Time now, double metric, int64_t ready);
  bool panicking(ModelId model) const { return state_[model].panic_since.has_value(); }
  // Autoscaler::settled_window: every sample in the window 0, not panicking, and past the
  // scale-to-zero grace period (or held above zero by min_scale): the stable window.
  std::optional<Time> settled_window(ModelId model, Time now) const;
  Time tick() const { return Time::from_seconds(windows_.tick_s); }
  int64_t min_scale() const { return windows_.min_scale; }

 private:
  struct Sample {
    Time at;
    double value;
  };
  struct ModelState {
    std::deque<Sample> samples;
    std::optional<Time> panic_since;
    int64_t max_panic = 0;
    std::optional<Time> zero_since;
  };
  KnativeWindows windows_;
  double target_;  // metric one instance is driven to: target × utilization
  IdVector<ModelId, ModelState> state_;
};

// `kpa`: the metric is concurrency, requests in the system (queued at the router or in an
// instance), as Knative's queue-proxy and activator count them.
class KpaAutoscaler final : public Autoscaler {
 public:
  struct Params {
    double target_concurrency = 100;
    KnativeWindows windows;
    template <class V>
    void visit(V& v) {
      v.field("target_concurrency", target_concurrency,
              "concurrent requests per instance (Knative container-concurrency-target-default: 100)", positive());
      windows.visit(v);
    }
    void check(const std::string& path) const { windows.check(path); }
  };
  KpaAutoscaler(const Params& params, Context& context)
      : decider_(params.windows, params.target_concurrency, context.models) {}
  Time tick_interval() const override { return decider_.tick(); }
  int64_t floor_instances() const override { return decider_.min_scale(); }
  int64_t desired_instances(const ModelDemand& d) override {
    return decider_.decide(d.model, d.now, static_cast<double>(d.queued_requests + d.outstanding_requests),
                           d.ready_instances);
  }
  std::optional<Time> settled_window(ModelId model, Time now) const override {
    return decider_.settled_window(model, now);
  }
  bool panicking(ModelId model) const { return decider_.panicking(model); }

 private:
  KnativeDecider decider_;
};

// `rps`: Knative's KPA on the requests-per-second metric, arrivals counted between ticks.
class RpsAutoscaler final : public Autoscaler {
 public:
  struct Params {
    double target_rps = 200;
    KnativeWindows windows;
    template <class V>
    void visit(V& v) {
      v.field("target_rps", target_rps, "requests per second per instance (Knative rps target default: 200)",
              positive());
      windows.visit(v);
    }
    void check(const std::string& path) const { windows.check(path); }
  };
  RpsAutoscaler(const Params& params, Context& context)
      : decider_(params.windows, params.target_rps, context.models), arrivals_(context.models, 0) {}
  Time tick_interval() const override { return decider_.tick(); }
  int64_t floor_instances() const override { return decider_.min_scale(); }
  void on_arrival(ModelId model, Time) override { ++arrivals_[model]; }
  int64_t desired_instances(const ModelDemand& d) override {
    const double rate = static_cast<double>(arrivals_[d.model]) / decider_.tick().seconds();
    arrivals_[d.model] = 0;
    return decider_.decide(d.model, d.now, rate, d.ready_instances);
  }
  // Arrivals counted since the last tick are demand too.
  std::optional<Time> settled_window(ModelId model, Time now) const override {
    return arrivals_[model] == 0 ? decider_.settled_window(model, now) : std::nullopt;
  }
  bool panicking(ModelId model) const { return decider_.panicking(model); }

 private:
  KnativeDecider decider_;
  IdVector<ModelId, int64_t> arrivals_;
};

}  // namespace slsim
