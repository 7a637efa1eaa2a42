#include "sim/policy/autoscale/autoscaler.h"
#include "sim/policy/autoscale/on_demand.h"

namespace slsim {

const Registry<Autoscaler>& autoscale_policies() {
  static const Registry<Autoscaler> registry = [] {
    Registry<Autoscaler> r;
    r.add<OnDemandAutoscaler>("on-demand", "start one instance when a request finds none (scale from zero)");
    return r;
  }();
  return registry;
}

}  // namespace slsim
