#pragma once
// What policies may see of the serving system: small read-only snapshots that the control
// plane fills in. Policies never reach into the control plane or into each other.

#include <cstdint>

#include "sim/core/ids.h"
#include "sim/core/time.h"

namespace slsim {

// One model's instances and demand at the moment an autoscaler is asked.
struct ModelDemand {
  ModelId model = 0;
  Time now;
  int64_t ready_instances = 0;
  int64_t starting_instances = 0;  // placed and loading
  int64_t queued_requests = 0;     // waiting at the router for any instance
  int64_t outstanding_requests = 0;  // routed to instances, not yet finished
};

// A new instance looking for a server.
struct PlacementRequest {
  ModelId model = 0;
  int64_t gpus = 0;
  int64_t checkpoint_bytes = 0;
};

}  // namespace slsim
