#pragma once
// Placement of new instances: asks the placement policy for a server (and, where the migration
// policy can free GPUs, for the instances that must leave it), takes the GPUs and has the loader
// bring the checkpoint. A start that finds no room waits, in order, until GPUs come back; one
// whose server must first be emptied holds a reservation there until its victims are gone.
// Where the migration method moves no instance, idle ones still yield their GPUs to a start
// whose model has requests waiting at the router (MigrationPolicy::idle_instances_yield). Where
// the policy names no server but the migration policy can free GPUs, the placer frees them where
// that costs the fewest tokens, unless the policy weighs victims itself
// (PlacementPolicy::weighs_victims): then the start waits, and is weighed again as its model's
// queue grows.
//
// Invariants: every start counted by InstanceRegistry::start_requested() is, until it is placed
// or withdrawn, either waiting for GPUs or reserved on a server; a reservation is filled, in
// order, as soon as its server has the GPUs.

#include <cstdint>
#include <deque>
#include <optional>
#include <span>
#include <utility>
#include <vector>

#include "sim/cluster/cluster.h"
#include "sim/control/instance_registry.h"
#include "sim/control/router.h"
#include "sim/core/simulator.h"
#include "sim/loading/loader.h"
#include "sim/policy/migration/migration.h"
#include "sim/policy/scheduler/placement.h"

namespace slsim {

// What becomes of the instances a placement names as victims; the control plane decides what a
// release or a preemption means for their requests.
class VictimHandler {
 public:
  virtual ~VictimHandler() = default;
  // An idle victim: released.
  virtual void release_victim(InstanceId victim) = 0;
  // A busy one moves live to another server; false if none can take it.
  virtual bool migrate_victim(InstanceId victim, ModelId made_room_for) = 0;
  // A busy one that cannot move: stopped, its requests back at the router.
  virtual void preempt_victim(InstanceId victim, ModelId made_room_for) = 0;
};

// An instance ready on `server` when the run starts (cluster.instances_at_start).
struct InstanceAtStart {
  ModelId model;
  ServerId server;
  bool pinned = false;
};

class InstancePlacer {
 public:
  InstancePlacer(const Simulator& sim, Cluster& cluster, Loader& loader, InstanceRegistry& instances,
                 const Router& router, PlacementPolicy& placement, const MigrationPolicy& migration,
                 LoadListener& load_listener, VictimHandler& victims);

  // Counts a start of the model and places it now, or once GPUs come back.
  void start(ModelId model, StartReason reason);
  // Withdraws up to `count` of the model's starts still waiting for GPUs, the latest first;
  // returns how many.
  int64_t withdraw_waiting(ModelId model, int64_t count);
  // Places every start waiting for GPUs that now finds room, in order, until none does; called
  // when GPUs come back and when an instance goes idle (it may yield them).
  void place_waiting();
  // A request joined the model's router queue: where the placement policy weighs victims
  // against that demand and a start of the model waits for GPUs, the waiting starts are weighed
  // again (place_waiting).
  void queue_grew(ModelId model);
  // Places the reservations on `server` whose GPUs are now free, in order.
  void fill_reservations(ServerId server);

  // An instance of the model on `server`, loading from now; with `cold_start`, spread over other
  // servers where the load source does (a live migration's destination is not: it takes over
  // the source's requests and KV cache on one server).
  InstanceId place_on(ModelId model, StartReason reason, ServerId server, double estimated_start_s, Time placed,
                      bool cold_start = true);
  // An instance of the model on `server`, idle and ready now with nothing loaded: the run starts
  // with it. Throws std::logic_error where it does not fit (the config's resolution checked).
  InstanceId place_ready(const InstanceAtStart& spec);
  // The other server with free GPUs, that its model fits on, where it would load soonest, with that
  // estimate in `*load_s`; nullopt: none has room.
  std::optional<ServerId> relocation_server(const Instance& inst, double* load_s) const;
  // A pipeline over the instance's GPUs and then `stages`' in order: the seconds each token's
  // activations (hidden_size values of the model's dtype) take over all its boundaries, stage i to
  // stage i + 1 at the idle rate of the slowest link between their first GPUs.
  double hand_off_s_per_token(const Instance& inst, std::span<const PeerCopy> stages) const;

  size_t waiting_for_gpus() const { return waiting_.size(); }
  size_t reservations() const { return reservations_.size(); }

 private:
  // An instance waiting for victims to leave its server.
  struct Reservation {
    ModelId model;
    StartReason reason;
    ServerId server;
    double estimated_start_s = -1;
    Time placed;
  };

  bool try_place(ModelId model, StartReason reason);
  // The instances a placement may name as victims: every serving one not moving or pinned, or
  // with `idle_only` those with no request in flight.
  std::vector<InstanceView> movable_instances(bool idle_only) const;
  // Where freeing GPUs costs the fewest tokens, for a policy that never names victims.
  std::optional<Placement> cheapest_room(const PlacementRequest& request) const;
  void make_room(const Placement& placement, ModelId model, StartReason reason);
  // A parallel cold start (Loader::parallel_servers > 1) of a checkpoint that must come from the
  // remote store: takes a stage's GPUs on each of the other servers it needs and lists them in
  // the load; where too few servers have room, none (the load reads its own tiers), counted.
  void add_stages(LoadRequest& load);
  // Whether the server has GPUs for an instance of the model now: free ones, and on a card
  // shared elastically a seat whose card has room for it (kv_pool.h).
  bool has_room(ServerId server, const ModelState& m) const;
  std::vector<int64_t> take_gpus(ServerId server, const ModelState& m);
  // The card of an elastic server where releasing the fewest of `idle` (instances with no
  // request) makes room for the model; nullopt: none.
  std::optional<Placement> elastic_room(const ModelState& m, const std::vector<InstanceView>& idle) const;
  // On a server whose cards switch between models (model_switching.h): the seat a new instance takes.
  int64_t switching_seat(ServerId server) const;

  const Simulator& sim_;
  Cluster& cluster_;
  Loader& loader_;
  InstanceRegistry& instances_;
  const Router& router_;
  PlacementPolicy& placement_;
  const MigrationPolicy& migration_;
  LoadListener& load_listener_;
  VictimHandler& victims_;
  std::deque<std::pair<ModelId, StartReason>> waiting_;
  std::deque<Reservation> reservations_;
  // With a server whose cards are shared elastically: by server, where the model placed now fits.
  bool any_elastic_ = false;
  std::vector<uint8_t> fits_now_;
  bool placing_ = false;
  bool place_again_ = false;
};

}  // namespace slsim
