#pragma once

#include "sim/policy/autoscale/autoscaler.h"

namespace slsim {

// Scale from zero only: one instance starts when a request finds none, ready or starting,
// for its model. The pure serverless baseline (every idle gap past the keep-alive is a cold
// start).
class OnDemandAutoscaler final : public Autoscaler {
 public:
  struct Params {
    template <class V>
    void visit(V&) {}
  };
  OnDemandAutoscaler(const Params&, Context&) {}
};

// N instances per model from the start, never released: a reserved deployment.
class FixedAutoscaler final : public Autoscaler {
 public:
  struct Params {
    int64_t instances = 1;
    double tick_s = 2;
    template <class V>
    void visit(V& v) {
      v.field("instances", instances, "instances kept per model at all times", at_least(0));
      v.field("tick_s", tick_s, "seconds between checks that start any missing instance", positive());
    }
  };
  FixedAutoscaler(const Params& params, Context&) : params_(params) {}
  Time tick_interval() const override { return Time::from_seconds(params_.tick_s); }
  int64_t desired_instances(const ModelDemand&) override { return params_.instances; }
  int64_t floor_instances() const override { return params_.instances; }
  std::optional<Time> settled_window(ModelId, Time) const override { return Time::zero(); }

 private:
  Params params_;
};

}  // namespace slsim
