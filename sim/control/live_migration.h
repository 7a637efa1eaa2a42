#pragma once
// Live migration of a running instance to another server, to make room for another model's
// cold start (ServerlessLLM): the destination loads the model, then the source keeps decoding
// while the destination catches up in rounds — live-token: it recomputes the tokens sent as
// shadow prefills in its engine; live-kv: it receives the KV cache as flows over the loader's
// FlowNetwork — until little is left; the source stops, the last round runs, and the requests
// switch to the destination, which serves the model from then on.
//
// Invariants: each of a migration's two instances names it (Instance::migration) until the
// switch; a live-token destination holds one shadow sequence per request in `sent`.

#include <cstdint>
#include <map>
#include <vector>

#include "sim/cluster/flow_network.h"
#include "sim/control/in_flight.h"
#include "sim/control/instance_registry.h"
#include "sim/control/observer.h"
#include "sim/control/placer.h"
#include "sim/core/simulator.h"
#include "sim/loading/loader.h"
#include "sim/policy/migration/migration.h"

namespace slsim {

// What a migration needs of the control plane that drives the instances' steps.
class MigrationHost {
 public:
  virtual ~MigrationHost() = default;
  // Ends the instance's run of decode steps after the step in progress.
  virtual void cut_run_short(InstanceId id) = 0;
  // Starts the instance's next step unless one is in progress.
  virtual void kick(InstanceId id) = 0;
  // The requests moved to `destination`: the model's requests at the router follow, the
  // destination steps and `source` is released.
  virtual void switched_over(InstanceId source, InstanceId destination) = 0;
};

class LiveMigration final : public FlowListener {
 public:
  LiveMigration(const Simulator& sim, InstanceRegistry& instances, InstancePlacer& placer, InFlightRequests& in_flight,
                Loader& loader, const MigrationPolicy& policy, ServingObserver& observer, MigrationHost& host);

  // Starts moving the instance to the server where its model loads soonest; false if none has room.
  bool start(InstanceId id, ModelId made_room_for);
  // The migration's destination finished loading.
  void destination_loaded(InstanceId id) { round(instances_.instance(id).migration); }
  // One of a migration's instances finished a step; true if the migration took it over (the
  // caller must not kick it).
  bool step_done(InstanceId id);
  // A KV copy's flow arrived (tag: the migration).
  void on_flow_done(FlowId flow, uint64_t tag) override;
  // The shadow sequences the instance should hold: for a live-token destination, one per request sent.
  size_t shadows_expected(InstanceId id) const;

 private:
  struct Migration {
    InstanceId source;
    InstanceId destination;
    ModelId made_room_for;
    Time started;
    Time stopped;  // when the source stopped for the last round
    int64_t rounds = 0;
    int64_t tokens_recomputed = 0;
    int64_t bytes_copied = 0;
    int64_t flows_pending = 0;
    bool round_pending = false;         // live-token: a round ends when the destination parked every shadow
    bool final_copy = false;            // live-kv: the stop-and-copy is in flight
    bool switch_waiting = false;        // the switch waits for the destination's step in progress
    std::map<RequestId, int64_t> sent;  // input + generated tokens sent (or whose KV was copied), per request
  };

  bool copies_kv() const { return policy_.method() == MigrationMethod::live_kv; }
  void round(int32_t migration);
  void stop_source(int32_t migration);
  void source_stopped(int32_t migration);
  // KV blocks of the source not yet (fully) copied.
  int64_t blocks_to_copy(const Migration& g) const;
  void copy_kv(int32_t migration, int64_t blocks);
  void switch_over(int32_t migration);

  const Simulator& sim_;
  InstanceRegistry& instances_;
  InstancePlacer& placer_;
  InFlightRequests& in_flight_;
  Loader& loader_;
  const MigrationPolicy& policy_;
  ServingObserver& observer_;
  MigrationHost& host_;
  std::vector<Migration> migrations_;
  std::vector<int32_t> free_slots_;
};

// Starts copying `bytes` of KV cache from `source`'s GPUs to `destination`'s, which match shard
// for shard, with `listener` told each flow's end with `tag`; returns how many flows it started.
int64_t copy_kv_shards(Loader& loader, const Instance& source, const Instance& destination, int64_t bytes,
                       FlowListener& listener, uint64_t tag);

}  // namespace slsim
