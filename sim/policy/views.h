#pragma once
// What policies may see of the serving system: small read-only snapshots that the control
// plane fills in. Policies never reach into the control plane or into each other.

#include <cstdint>
#include <span>
#include <vector>

#include "sim/core/ids.h"
#include "sim/core/time.h"
#include "sim/loading/loader.h"

namespace slsim {

// One model's instances and demand at the moment an autoscaler is asked.
struct ModelDemand {
  ModelId model;
  Time now;
  int64_t ready_instances = 0;
  int64_t starting_instances = 0;    // placed and loading
  int64_t queued_requests = 0;       // waiting at the router for any instance
  int64_t outstanding_requests = 0;  // routed to instances, not yet finished
};

// A ready instance that could make room for a new one by moving (or being preempted).
struct InstanceView {
  InstanceId instance;
  ModelId model;
  ServerId server;
  int64_t gpus = 0;
  int64_t requests = 0;  // in flight on it
  int64_t tokens = 0;    // input plus generated tokens of those requests: what a migration recomputes
  // Its prefill time as a + b·tokens, fitted from its latency model at 1 and 2,048 tokens.
  double prefill_base_s = 0;
  double prefill_s_per_token = 0;
  // Estimated load of its model on the best other server with free GPUs; < 0: none has room.
  double relocation_load_s = -1;
};

// A new instance looking for a server.
struct PlacementRequest {
  ModelId model;
  int64_t gpus = 0;
  int64_t checkpoint_bytes = 0;
  std::span<const CheckpointPart> checkpoint;
  // Set when the migration policy can free GPUs: then `movable` lists the candidates.
  bool may_free_gpus = false;
  std::span<const InstanceView> movable;
  // By server id: nonzero where the server's GPUs can hold the instance (memory at its
  // tensor-parallel degree, InstanceRegistry's rule); empty: every server can.
  std::span<const uint8_t> holds_by_server;
  // The model's requests waiting at the router for an instance, and their input tokens: the
  // demand a preemptive policy weighs against what its victims would lose.
  int64_t waiting_requests = 0;
  int64_t waiting_input_tokens = 0;

  bool fits_on(ServerId server) const { return holds_by_server.empty() || holds_by_server[server.index()] != 0; }
};

// Where the instance goes, which instances must first leave that server, and the policy's
// estimate of the time until the instance can run (< 0: no estimate).
struct Placement {
  ServerId server;
  std::vector<InstanceId> victims;
  double estimated_start_s = -1;
};

// A ready instance a request could be routed to.
struct RouteCandidate {
  InstanceId instance;
  int64_t outstanding = 0;
  // Prompt tokens of the request its GPU prefix cache holds; filled in only for a policy that
  // reads_cached_prefixes().
  int64_t cached_prefix_tokens = 0;
};

}  // namespace slsim
