#pragma once
// The control plane's invariants, checked over read-only views of its parts (with
// --check-invariants, after every event).

#include <cstdint>

#include "sim/cluster/cluster.h"
#include "sim/control/in_flight.h"
#include "sim/control/instance_registry.h"
#include "sim/control/live_migration.h"
#include "sim/control/partial_migration.h"
#include "sim/control/router.h"

namespace slsim {

struct RequestCounts {
  int64_t arrived = 0;
  int64_t finished = 0;
  int64_t rejected = 0;
};

struct ControlPlaneView {
  const RequestCounts& counts;
  const InFlightRequests& in_flight;
  const Router& router;
  const InstanceRegistry& instances;
  const LiveMigration& migrations;
  const PartialMigrations& partial_migrations;
  const Cluster& cluster;
};

// Throws std::logic_error unless every request that arrived is in exactly one place (a router
// queue, an engine, in transit between two instances, finished or rejected), each model counts
// as outstanding the requests its instances' engines hold and those in transit, each server's
// GPUs are free or held by exactly one live instance, every engine's KV blocks are consistent
// and within capacity, and the routing index holds each serving instance under its current count.
void audit_control_plane(const ControlPlaneView& view);

}  // namespace slsim
