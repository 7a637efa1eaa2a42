#pragma once
// The serverless control plane: dispatches its events and carries each request through its
// life — admission and the router (Router), dispatch to an instance, engine steps, completion —
// and each instance through keep-alive, pre-warming, autoscaling and release. Where instances go
// is InstancePlacer's job, what they are and count is InstanceRegistry's, moving them live is
// LiveMigration's, moving some of their requests for load balance PartialMigrations', which
// instance serves while loading from which and the slowdown that puts on its source
// LiveScaling's; the invariants are audit_control_plane()'s.
//
// Invariants: a request is in exactly one place (router queue, an engine, in transit between
// two instances (PartialMigrations), or done); an instance's GPUs are taken from placement
// until release; each instance has at most one live step event and one live expiry event,
// recognised by the sequence stored here.

#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

#include "sim/cluster/cluster.h"
#include "sim/control/audit.h"
#include "sim/control/compute_sharing.h"
#include "sim/control/in_flight.h"
#include "sim/control/instance_registry.h"
#include "sim/control/kv_tiers.h"
#include "sim/control/kv_transfers.h"
#include "sim/control/live_migration.h"
#include "sim/control/live_scaling.h"
#include "sim/control/model_switching.h"
#include "sim/control/observer.h"
#include "sim/control/partial_migration.h"
#include "sim/control/placer.h"
#include "sim/control/router.h"
#include "sim/core/simulator.h"
#include "sim/engine/engine.h"
#include "sim/loading/loader.h"
#include "sim/policy/autoscale/autoscaler.h"
#include "sim/policy/keepalive/keepalive.h"
#include "sim/policy/migration/migration.h"
#include "sim/policy/preload/preload.h"
#include "sim/policy/rebalance/rebalance.h"
#include "sim/policy/scheduler/placement.h"
#include "sim/policy/scheduler/routing.h"
#include "sim/workload/source.h"

namespace slsim {

struct Policies {
  std::unique_ptr<PlacementPolicy> placement;
  std::unique_ptr<KeepAlivePolicy> keepalive;
  std::unique_ptr<Autoscaler> autoscaler;
  std::unique_ptr<PreloadPolicy> preload;
  std::unique_ptr<RoutingPolicy> routing;
  std::unique_ptr<MigrationPolicy> migration;
  std::unique_ptr<RebalancePolicy> rebalance;
  std::unique_ptr<SwitchPolicy> switching;
};

class ControlPlane final : public EventHandler,
                           public LoadListener,
                           private VictimHandler,
                           private MigrationHost,
                           private KvTransferListener {
 public:
  ControlPlane(Simulator& sim, Cluster& cluster, Loader& loader, std::vector<ServedModel> models,
               const EngineParams& engine_params, const KvTierParams& kv_tier_params, const RouterParams& router_params,
               Policies policies, RequestSource& source, ServingObserver& observer);

  // Instances ready when the run starts, placed before start(): idle, their keep-alive counting
  // from now (with a target-based autoscaler, from its first tick, which sets the target that
  // may keep them), unless pinned.
  void place_at_start(const std::vector<InstanceAtStart>& instances);
  // Schedules the first arrival and the preloader's first tick; run() does the rest.
  void start();
  // Publishes the engine statistics of the instances still up; call once when the run ends.
  void finish();
  void on_event(const Event& event) override;
  const char* name() const override { return "control plane"; }
  // Throws std::logic_error unless the invariants of audit_control_plane() hold.
  void audit() const;
  void on_load_done(InstanceId id, const LoadOutcome& outcome) override;
  // Live scaling (live_scaling.h): the instance serves while its weights arrive from `source`, a
  // serving instance of its model.
  void on_live_load(InstanceId id, InstanceId source) override;
  // A parallel cold start's consolidation is done: its stages' GPUs go back and its steps hand
  // off no activations from the next one on.
  void on_consolidated(InstanceId id) override;
  // Execute-while-load: the group's head serves from now as a pipeline over its members' GPUs,
  // routed to as a warm instance, until its group's loads are done.
  void on_group_serves(InstanceId head, Tier tier, const std::vector<PeerCopy>& stages) override;

  // Autoscaler ticks skipped through quiet stretches (they would have changed nothing); counted
  // with the events handled in summary.json's `events`, which stays what it was before skipping.
  int64_t elided_ticks() const { return elided_ticks_; }
  // Cards shared by model switching: whether any server has them, switches begun, and the weights
  // and KV bytes they moved.
  bool model_switching() const { return switching_.any(); }
  int64_t model_switches() const { return switching_.switches(); }
  int64_t model_switched_bytes() const { return switching_.switched_bytes(); }
  // Read-only counts for time series.
  int64_t models() const { return static_cast<int64_t>(instances_.models()); }
  int64_t queued_requests(ModelId model) const { return static_cast<int64_t>(router_.queue(model).size()); }
  int64_t instances_in(ModelId model, InstanceState state) const { return instances_.instances_in(model, state); }
  PrefixLookups prefix_lookups() const { return instances_.prefix_lookups(); }
  std::vector<PrefixLookups> prefix_lookups_by_model() const { return instances_.prefix_lookups_by_model(); }

 private:
  enum EventKind : uint16_t {
    kArrival,
    kStepDone,
    kIdleExpired,
    kPrewarm,
    kPreloadTick,
    kPreloadAction,
    kAutoscaleTick,
    kRebalanceTick
  };

  void on_arrival();
  void schedule_next_arrival();
  // Routes the model's requests held at the router, in order, and steps the instances they go to.
  void route_queued(ModelId model, bool cold_start);
  void autoscale(ModelId model);
  ModelDemand demand(ModelId model) const;
  // Target-based autoscaling: start instances up to the model's target, release expired idle
  // ones above it.
  void scale_to_target(ModelId model, bool may_start);
  void autoscale_tick();
  // The rebalance policy's moves between each model's instances; ticks run while requests are in flight.
  void rebalance_tick();
  // Periodic ticks that would change nothing before the next event, skipped (see the .cc).
  int64_t ticks_to_skip(Time interval) const;
  // Throws when requests wait that no event but a periodic tick can ever serve.
  void stop_if_no_progress_possible();
  // The keep-alive let an idle instance go: released, unless the autoscaler's target keeps it.
  void expire(InstanceId id);
  // Ends an instance's run of decode steps after the step in progress, so that the next step
  // can take up new work.
  void cut_run_short(InstanceId id) override;
  void kick(InstanceId id) override;
  // The step begun computes: it takes its share of a shared GPU and its end is scheduled.
  void begin_compute(InstanceId id);
  void on_kv_moved(InstanceId id) override;
  void on_step_done(InstanceId id);
  // What begins or ends on a shared physical GPU.
  enum class CardUse : uint8_t { step_begins, step_ends, capture_begins, capture_ends };
  // A step or a graph capture on a shared physical GPU begins or ends: the steps beside it are
  // brought up to date at their old pace and re-timed at the new one.
  void share_gpu(InstanceId id, CardUse change);
  void on_graph_capture(InstanceId id) override;
  // How many times longer than alone a step of the instance takes now: a shared card's slowdown
  // (compute_sharing.h) times 1 + the shares of live-scaling steps it runs for others.
  double slowdown(InstanceId id) const;
  // The share of a step's compute that a live-scaling instance's step puts on its source changes:
  // the source's step in progress is brought up to date at its old pace and re-timed.
  void set_source_share(InstanceId id, double share);
  // Live scaling ends: the load is done, or (`source_gone`) its source goes first, and the
  // instance waits for the rest of its load before it steps again.
  void end_live(InstanceId id, bool source_gone);
  // Records the step's engine time done by now and schedules its end at its current pace.
  void advance_step(InstanceId id);
  void time_step_end(InstanceId id);
  void went_idle(InstanceId id);
  // The model's last request in flight finished: idle-time histograms start counting.
  void model_went_idle(ModelId model);
  // Releases the instance as the keep-alive policy decides now for its model.
  void release(InstanceId id);
  void release(InstanceId id, bool keep_checkpoint_in_dram);
  void release_victim(InstanceId victim) override { release(victim); }
  bool migrate_victim(InstanceId victim, ModelId made_room_for) override {
    return migration_.start(victim, made_room_for);
  }
  void preempt_victim(InstanceId victim, ModelId made_room_for) override;
  void switched_over(InstanceId source, InstanceId destination) override;
  void run_preload_plan();
  void act(const PreloadAction& action);

  Simulator& sim_;
  Cluster& cluster_;
  Loader& loader_;
  Policies policies_;
  RequestSource& source_;
  ServingObserver& observer_;
  uint16_t handler_;
  bool scaling_by_target_ = false;

  InFlightRequests in_flight_;
  std::unique_ptr<KvTiers> kv_tiers_;  // null: no KV offload tiers
  KvTransfers kv_transfers_;
  InstanceRegistry instances_;
  Router router_;
  InstancePlacer placer_;
  LiveMigration migration_;
  PartialMigrations partial_migrations_;
  bool rebalance_tick_pending_ = false;
  std::vector<RebalanceMove> moves_;
  ComputeSharing sharing_;
  LiveScaling live_;
  ModelSwitching switching_;
  std::optional<Request> next_arrival_;
  // Unpinned instances at start whose keep-alive waits for the autoscaler's first tick.
  std::vector<InstanceId> at_start_before_first_tick_;
  // Since when the requests in flight have been waiting with nothing but this plane's ticks
  // scheduled (autoscale_tick), and for how many ticks.
  std::optional<Time> waiting_on_ticks_since_;
  int64_t ticks_waited_ = 0;
  int64_t elided_ticks_ = 0;
  RequestCounts counts_;
  std::vector<PreloadAction> plan_;
  std::vector<PreloadAction> scheduled_actions_;
  std::vector<uint32_t> free_action_slots_;
};

}  // namespace slsim
