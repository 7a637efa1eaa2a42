#pragma once
// The control plane's parts wired together without the ControlPlane, over the round-figure
// servers of tests/unit/loading/test_loading.h, for tests that drive them step by step. One
// small model (tensor parallel 1); placement least-loaded unless a bench names another (with its
// default parameters), routing least-outstanding. A bench may also be given its server groups.

#include <memory>
#include <utility>
#include <vector>

#include "sim/control/audit.h"
#include "sim/control/instance_registry.h"
#include "sim/control/live_migration.h"
#include "sim/control/partial_migration.h"
#include "sim/control/placer.h"
#include "sim/control/router.h"
#include "sim/policy/migration/migration.h"
#include "sim/policy/rebalance/rebalance.h"
#include "sim/policy/scheduler/least_loaded.h"
#include "sim/policy/scheduler/routing.h"
#include "tests/unit/loading/test_loading.h"

namespace slsim::testing {

// A request waiting at the router, every other field at its default.
inline InFlight in_flight_of(const Request& r) {
  InFlight f;
  f.request = r;
  return f;
}

inline ServedModel small_model(CheckpointId checkpoint) {
  ServedModel m;
  m.spec.name = "small";
  Architecture& a = m.spec.architecture;
  a.layers = 2;
  a.hidden_size = 256;
  a.attention_heads = 4;
  a.kv_heads = 4;
  a.head_dim = 64;
  a.ffn_size = 1024;
  a.vocab_size = 1000;
  a.max_context = 2048;
  m.checkpoint = {CheckpointPart{checkpoint, m.spec.checkpoint_bytes(), 1}};
  return m;
}

struct IgnoreLoads : LoadListener {
  void on_load_done(InstanceId, const LoadOutcome&) override {}
};

// Records what the placer asks of its victims and does nothing, so that a test decides when
// they leave.
struct RecordingVictims : VictimHandler {
  void release_victim(InstanceId victim) override { released.push_back(victim); }
  bool migrate_victim(InstanceId, ModelId) override { return false; }
  void preempt_victim(InstanceId victim, ModelId) override { preempted.push_back(victim); }
  std::vector<InstanceId> released;
  std::vector<InstanceId> preempted;
};

struct IdleHost : MigrationHost {
  void cut_run_short(InstanceId) override {}
  void kick(InstanceId) override {}
  void switched_over(InstanceId, InstanceId) override {}
};

template <class Migration = NoMigration, class Placement = LeastLoadedPlacement>
struct ControlBench {
  explicit ControlBench(int64_t servers, int64_t models = 1) : ControlBench({round_servers(servers, 1)}, models) {}
  ControlBench(std::vector<ServerGroupSpec> groups, int64_t models)
      : cluster(std::move(groups), 1.0),
        topology(cluster, no_latency()),
        network(sim, topology),
        loader(sim, cluster, topology, network, testing::transfer_only(), CheckpointFormat{}, &lru_eviction,
               &lru_eviction),
        instances(sim, cluster, served_models(models), EngineParams{}, observer),
        placement_context{cluster, loader, RandomStream(1)},
        placement({}, placement_context),
        migration({}, migration_context),
        routing({}, routing_context),
        router(sim, instances, routing, in_flight, RouterParams{}),
        placer(sim, cluster, loader, instances, router, placement, migration, loads, victims),
        live(sim, instances, placer, in_flight, loader, migration, observer, host),
        partial(sim, instances, in_flight, loader, rebalance, observer, host) {}

  static std::vector<ServedModel> served_models(int64_t count) {
    std::vector<ServedModel> models;
    for (int64_t i = 0; i < count; ++i) models.push_back(small_model(static_cast<CheckpointId>(i)));
    return models;
  }
  // The instance's load is done: it serves from now, idle.
  void loaded(InstanceId id) {
    instances.load_finished(instances.instance(id).model);
    instances.set_state(id, InstanceState::idle);
  }
  // A request of `input_tokens` arrives and waits at the model's router.
  void hold(ModelId model, RequestId id, int64_t input_tokens) {
    Request r;
    r.id = id;
    r.model = model;
    r.input_tokens = input_tokens;
    r.output_tokens = 1;
    in_flight.insert(id, in_flight_of(r));
    router.hold(model, id);
  }
  void audit() const {
    audit_control_plane(ControlPlaneView{counts, in_flight, router, instances, live, partial, cluster});
  }

  Simulator sim;
  Cluster cluster;
  Topology topology;
  FlowNetwork network;
  Loader loader;
  ServingObserver observer;
  InstanceRegistry instances;
  PlacementPolicy::Context placement_context;
  Placement placement;
  MigrationPolicy::Context migration_context;
  Migration migration;
  RoutingPolicy::Context routing_context{RandomStream(2)};
  LeastOutstandingRouting routing;
  IgnoreLoads loads;
  RecordingVictims victims;
  IdleHost host;
  InFlightRequests in_flight;
  RequestCounts counts;
  Router router;
  InstancePlacer placer;
  LiveMigration live;
  RebalancePolicy::Context rebalance_context;
  NoRebalance rebalance{{}, rebalance_context};
  PartialMigrations partial;
};

}  // namespace slsim::testing
