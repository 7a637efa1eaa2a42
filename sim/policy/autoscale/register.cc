#include "sim/policy/autoscale/autoscaler.h"
#include "sim/policy/autoscale/knative.h"
#include "sim/policy/autoscale/on_demand.h"
#include "sim/policy/autoscale/predictive.h"

namespace slsim {

const Registry<Autoscaler>& autoscale_policies() {
  static const Registry<Autoscaler> registry = [] {
    Registry<Autoscaler> r;
    r.add<OnDemandAutoscaler>("on-demand", "start one instance when a request finds none (scale from zero)");
    r.add<FixedAutoscaler>("fixed", "N instances per model, never released (reserved deployment)");
    r.add<KpaAutoscaler>("kpa", "Knative Pod Autoscaler on concurrency: stable and panic windows, scale-to-zero grace");
    r.add<RpsAutoscaler>("rps", "Knative's KPA on requests per second per instance");
    r.add<PredictiveAutoscaler>(
        "predictive", "seasonal-histogram or EWMA arrival forecast, instances started ahead by the learned cold start");
    return r;
  }();
  return registry;
}

}  // namespace slsim
