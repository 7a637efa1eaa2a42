#pragma once
// The serverless control plane: receives arrivals, routes them to ready instances (or holds
// them at the router while none is ready), asks the autoscaler for instances, places them
// with the placement policy, has the loader bring their checkpoints, runs their engines step by
// step, releases idle instances (or pre-warms them again) as the keep-alive policy says, and
// carries out the preloader's plans.
//
// Invariants: a request is in exactly one place (router queue, an engine, or done); an
// instance's GPUs are taken from placement until release; each instance has at most one
// live step event and one live expiry event, recognised by the sequence stored here.

#include <cstdint>
#include <deque>
#include <map>
#include <string>
#include <memory>
#include <utility>
#include <vector>

#include "sim/cluster/cluster.h"
#include "sim/control/observer.h"
#include "sim/control/route_index.h"
#include "sim/core/deferred_timer.h"
#include "sim/core/id_window.h"
#include "sim/core/simulator.h"
#include "sim/engine/engine.h"
#include "sim/engine/latency_model.h"
#include "sim/engine/model_spec.h"
#include "sim/loading/loader.h"
#include "sim/policy/autoscale/autoscaler.h"
#include "sim/policy/keepalive/keepalive.h"
#include "sim/policy/migration/migration.h"
#include "sim/policy/preload/preload.h"
#include "sim/policy/scheduler/placement.h"
#include "sim/policy/scheduler/routing.h"
#include "sim/workload/source.h"

namespace slsim {

struct ServedModel {
  ModelSpec spec;
  int64_t tensor_parallel = 1;
  // What a load must bring: the base checkpoint, then the model's own delta if it has one.
  std::vector<CheckpointPart> checkpoint;
};

struct Policies {
  std::unique_ptr<PlacementPolicy> placement;
  std::unique_ptr<KeepAlivePolicy> keepalive;
  std::unique_ptr<Autoscaler> autoscaler;
  std::unique_ptr<PreloadPolicy> preload;
  std::unique_ptr<RoutingPolicy> routing;
  std::unique_ptr<MigrationPolicy> migration;
};

class ControlPlane final : public EventHandler, public LoadListener, public FlowListener {
 public:
  ControlPlane(Simulator& sim, Cluster& cluster, Loader& loader, std::vector<ServedModel> models,
               const EngineParams& engine_params, Policies policies, RequestSource& source,
               ServingObserver& observer);

  // Schedules the first arrival and the preloader's first tick; run() does the rest.
  void start();
  // Publishes the engine statistics of the instances still up; call once when the run ends.
  void finish();
  void on_event(const Event& event) override;
  const char* name() const override { return "control plane"; }
  // Throws std::logic_error unless every request that arrived is in exactly one place (a
  // router queue, an engine, finished or rejected), each server's GPUs are free or held by
  // exactly one live instance, and every engine's KV blocks are consistent and within capacity.
  void audit() const;
  void on_load_done(InstanceId id, const LoadOutcome& outcome) override;
  // A live-kv migration's copy flow arrived (tag: the migration).
  void on_flow_done(FlowId flow, uint64_t tag) override;

  // Read-only counts for time series.
  int64_t models() const { return static_cast<int64_t>(models_.size()); }
  int64_t queued_requests(ModelId model) const { return static_cast<int64_t>(models_[model].router_queue.size()); }
  int64_t instances_in(ModelId model, InstanceState state) const;

 private:
  enum EventKind : uint16_t {
    kArrival, kStepDone, kIdleExpired, kPrewarm, kPreloadTick, kPreloadAction, kAutoscaleTick
  };

  struct InFlight {
    Request request;
    Time first_token;
    bool cold_start = false;
    Time dispatched;
    Time load_wait;
    Tier load_tier = Tier::remote;
    bool preloaded = false;
    ServerId server = kNoId;
    int64_t migrated = 0;
  };
  struct ModelState {
    ServedModel served;
    int64_t checkpoint_bytes = 0;
    int64_t longest_fit_tokens = 0;  // the largest KV capacity over server types
    std::deque<RequestId> router_queue;
    std::vector<InstanceId> instances;  // loading or ready
    // Its serving instances by (requests in flight, place in `instances`): least-outstanding
    // routing takes the first instead of scanning `instances` per arrival.
    RouteIndex route_index;
    uint64_t next_route_order = 0;
    int64_t ready = 0;
    int64_t starting = 0;  // loading, or waiting for GPUs
    int64_t outstanding = 0;
    ServerId last_server = kNoId;
    int64_t desired = 0;  // the target-based autoscaler's last answer
  };
  // Why an instance starts: on demand, or pre-warmed ahead of a predicted request, in which
  // case it may stay idle for `keep_alive` before its first request.
  struct StartReason {
    bool prewarm = false;
    Time keep_alive;
  };
  struct Instance {
    ModelId model = 0;
    ServerId server = 0;
    InstanceState state = InstanceState::released;
    std::vector<int64_t> gpus;
    Time load_started;
    Time ready_at;
    LoadOutcome load;
    StartReason reason;
    bool served_any = false;
    const LatencyModel* latency = nullptr;
    std::unique_ptr<SwapChannel> swap;
    std::unique_ptr<Engine> engine;
    EventSeq step_event = 0;
    Time step_started;
    Time step_end;
    DeferredTimer expiry;  // its keep-alive while idle
    // The placement policy's estimate of the time until it could run (< 0: none), from `placed`.
    double estimated_start_s = -1;
    Time placed;
    int32_t migration = -1;  // the live migration it is the source or destination of
    bool stop_for_migration = false;  // a migration's source: stop when the step in progress ends
    // Its keep-alive ran out while the autoscaler's target still wanted it.
    bool keep_alive_expired = false;
    uint64_t route_order = 0;  // rises with each push onto ModelState::instances, whose order it keeps
    int64_t indexed_outstanding = -1;  // its count in ModelState::route_index; -1: absent
    uint32_t route_leaf = 0;           // its place there while present
  };
  // A live migration: the source keeps decoding while the destination recomputes what it was
  // sent (live-token: shadow sequences in its engine) or receives its KV cache (live-kv: flows).
  // The destination serves the model's new requests once loaded.
  struct Migration {
    InstanceId source = 0;
    InstanceId destination = 0;
    ModelId made_room_for = 0;
    Time started;
    Time stopped;  // when the source stopped for the last round
    int64_t rounds = 0;
    int64_t tokens_recomputed = 0;
    int64_t bytes_copied = 0;
    int64_t flows_pending = 0;
    bool round_pending = false;   // live-token: a round ends when the destination parked every shadow
    bool final_copy = false;      // live-kv: the stop-and-copy is in flight
    bool switch_waiting = false;  // the switch waits for the destination's step in progress
    std::map<RequestId, int64_t> sent;  // input + generated tokens sent (or whose KV was copied), per request
  };
  // An instance waiting for victims to leave its server.
  struct Reservation {
    ModelId model = 0;
    StartReason reason;
    ServerId server = 0;
    double estimated_start_s = -1;
    Time placed;
  };

  void on_arrival();
  void schedule_next_arrival();
  void route(RequestId id, bool cold_start);
  void autoscale(ModelId model);
  ModelDemand demand(ModelId model) const;
  // Target-based autoscaling: start instances up to the model's target, release expired idle
  // ones above it.
  void scale_to_target(ModelId model, bool may_start);
  void autoscale_tick();
  // The keep-alive let an idle instance go: released, unless the autoscaler's target keeps it.
  void expire(InstanceId id);
  void start_instance(ModelId model, StartReason reason);
  bool try_place(ModelId model, StartReason reason);
  InstanceId place_on(ModelId model, StartReason reason, ServerId server, double estimated_start_s, Time placed);
  std::vector<InstanceView> movable_instances();
  std::optional<Placement> cheapest_room(const PlacementRequest& request);
  void make_room(const Placement& placement, ModelId model, StartReason reason);
  void preempt_instance(InstanceId id, ModelId made_room_for);
  bool start_live_migration(InstanceId id, ModelId made_room_for);
  void migration_round(int32_t migration);
  // A migration's instance finished a step; true if the migration took it over (no kick).
  bool migration_step_done(InstanceId id);
  void stop_source(int32_t migration);
  void source_stopped(int32_t migration);
  // An instance's requests and their tokens now, part-way through its step in progress; with
  // `cached`, only the tokens whose keys and values are in its GPUs' cache.
  std::vector<std::pair<RequestId, int64_t>> tokens_now(InstanceId id, bool cached = false) const;
  // KV blocks of the source not yet (fully) copied.
  int64_t blocks_to_copy(const Migration& g) const;
  void copy_kv(int32_t migration, int64_t blocks);
  void switch_over(int32_t migration);
  // Ends an instance's run of decode steps after the step in progress, so that the next step
  // can take up new work.
  void cut_run_short(InstanceId id);
  void fill_reservations(ServerId server);
  std::optional<ServerId> relocation_server(const Instance& inst, double* load_s);
  void place_waiting();
  void kick(InstanceId id);
  void on_step_done(InstanceId id);
  void went_idle(InstanceId id);
  // The model's last request in flight finished: idle-time histograms start counting.
  void model_went_idle(ModelId model);
  void release(InstanceId id, bool keep_checkpoint_in_dram);
  void set_state(InstanceId id, InstanceState to);
  void join_instances(InstanceId id);  // appends it to its model's instances
  // Brings the instance's key in its model's routing index up to date; called after every
  // change of its state or of its engine's request count.
  void reindex(InstanceId id);
  void run_preload_plan();
  void act(const PreloadAction& action);
  void start_engine(Instance& inst, const GpuProfile& gpu);
  void publish_stats(InstanceId id);

  Simulator& sim_;
  Cluster& cluster_;
  Loader& loader_;
  EngineParams engine_params_;
  Policies policies_;
  RequestSource& source_;
  ServingObserver& observer_;
  uint16_t handler_;
  bool scaling_by_target_ = false;

  std::vector<ModelState> models_;
  std::vector<Instance> instances_;
  std::vector<InstanceId> free_instance_slots_;
  std::deque<std::pair<ModelId, StartReason>> waiting_for_gpus_;
  std::deque<Reservation> reservations_;
  std::vector<Migration> migrations_;
  std::vector<int32_t> free_migration_slots_;
  std::vector<RouteCandidate> route_candidates_;
  bool placing_ = false;
  bool place_again_ = false;
  std::optional<Request> next_arrival_;
  IdWindow<InFlight> in_flight_;  // by id; ids rise with arrival order (MergedSource)
  int64_t arrived_ = 0;
  int64_t finished_ = 0;
  int64_t rejected_ = 0;
  std::vector<PreloadAction> plan_;
  std::vector<PreloadAction> scheduled_actions_;
  std::vector<uint32_t> free_action_slots_;
  // Stateless, so shared by every instance of a model on one GPU type.
  std::map<std::pair<ModelId, std::string>, std::unique_ptr<LatencyModel>> latency_models_;
};

}  // namespace slsim
