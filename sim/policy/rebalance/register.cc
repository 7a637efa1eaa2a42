#include "sim/policy/rebalance/rebalance.h"

namespace slsim {

const Registry<RebalancePolicy>& rebalance_policies() {
  static const Registry<RebalancePolicy> registry = [] {
    Registry<RebalancePolicy> r;
    r.add<NoRebalance>("none", "requests stay on the instance they were routed to");
    r.add<LlumnixRebalance>("llumnix",
                            "every interval, move requests live from loaded instances of a model to lightly loaded "
                            "ones, their KV caches copied in stages (Llumnix, OSDI'24)");
    return r;
  }();
  return registry;
}

}  // namespace slsim
