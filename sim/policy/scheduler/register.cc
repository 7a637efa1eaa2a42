#include "sim/policy/scheduler/least_loaded.h"
#include "sim/policy/scheduler/placement.h"

namespace slsim {

const Registry<PlacementPolicy>& placement_policies() {
  static const Registry<PlacementPolicy> registry = [] {
    Registry<PlacementPolicy> r;
    r.add<LeastLoadedPlacement>("least-loaded", "the server with the most free GPUs, then the fewest instances");
    return r;
  }();
  return registry;
}

}  // namespace slsim
