#pragma once
// Partial live migration, for load balance (Llumnix, OSDI'24 §4.3-4.4): some of a running
// instance's requests move to another running instance of the same model, which holds the
// weights already, so only the requests' KV caches move, as flows over the loader's
// FlowNetwork, in stages while the source keeps decoding every request: stage 1 copies the
// moving requests' blocks, each next stage those that appeared (or grew) during the previous
// one. The last stage is the stop-and-copy: at the end of the source's step in progress the
// moving requests leave it, which serves the rest without a pause, their last blocks are copied
// (their pause) and they resume on the destination with their KV cache resident.
//
// Invariants: each of a move's two instances names it (Instance::rebalancing) until it ends, and
// takes part in no other move or migration; a request between leaving the source and reaching
// the destination is in transit, in no engine.

#include <cstdint>
#include <map>
#include <vector>

#include "sim/cluster/flow_network.h"
#include "sim/control/in_flight.h"
#include "sim/control/instance_registry.h"
#include "sim/control/live_migration.h"
#include "sim/control/observer.h"
#include "sim/core/simulator.h"
#include "sim/loading/loader.h"
#include "sim/policy/rebalance/rebalance.h"

namespace slsim {

class PartialMigrations final : public FlowListener {
 public:
  PartialMigrations(const Simulator& sim, InstanceRegistry& instances, InFlightRequests& in_flight, Loader& loader,
                    const RebalancePolicy& policy, ServingObserver& observer, MigrationHost& host);

  // The loads of the model's serving instances that take part in no migration or move.
  std::vector<InstanceLoad> loads(ModelId model) const;
  // Starts moving the requests, all on the source now, to the destination.
  void start(const RebalanceMove& move);
  // One of a move's instances finished a step; true if the move took it over (the caller must
  // not kick it).
  bool step_done(InstanceId id);
  // A KV copy's flow arrived (tag: the move).
  void on_flow_done(FlowId flow, uint64_t tag) override;
  // Requests of the model between their source and their destination.
  int64_t in_transit(ModelId model) const;

 private:
  struct Transit {
    RequestId request;
    int64_t generated = 0;
    int64_t resident = 0;  // tokens whose keys and values were copied
  };
  struct Move {
    InstanceId source;
    InstanceId destination;
    ModelId model;
    Time started;
    Time stopped;  // when the moving requests left the source
    int64_t stages = 0;
    int64_t bytes_copied = 0;
    int64_t flows_pending = 0;
    bool stopping = false;              // the requests leave the source when its step in progress ends
    bool final_copy = false;            // the stop-and-copy is in flight
    std::map<RequestId, int64_t> sent;  // per moving request still on the source: tokens whose KV was copied
    std::vector<Transit> in_transit;
  };

  // Requests that finished on the source move no more; true: none is left, and the move ended.
  bool forget_finished(int32_t move);
  void stage(int32_t move);
  void stop_source(int32_t move);
  void take_out(int32_t move);
  // The moving requests' blocks (from their cached tokens) not yet (fully) copied; updates `sent`.
  int64_t blocks_to_copy(const Move& g) const;
  void copy_kv(int32_t move, int64_t blocks);
  void arrive(int32_t move);
  void end(int32_t move);

  const Simulator& sim_;
  InstanceRegistry& instances_;
  InFlightRequests& in_flight_;
  Loader& loader_;
  const RebalancePolicy& policy_;
  ServingObserver& observer_;
  MigrationHost& host_;
  std::vector<Move> moves_;
  std::vector<int32_t> free_slots_;
};

}  // namespace slsim
