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
  int64_t instances_to_start(const ModelDemand& d) override {
    return d.ready_instances + d.starting_instances == 0 && d.queued_requests > 0 ? 1 : 0;
  }
};

}  // namespace slsim
