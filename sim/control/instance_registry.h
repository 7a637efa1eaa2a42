#pragma once
// The instances of every served model: their slots, engines and states, each model's routing
// index, and the per-model counts the autoscaler and the router read (ready, starting, requests
// outstanding). Counts change only through the named transitions below, so every place that
// moves an instance or a request through its life says which step it takes.
//
// Invariants: `ModelState::instances()` lists exactly the model's instances that are loading,
// serving or migrating, in the order they were placed; an instance is in its model's routing
// index, keyed by its engine's request count, exactly while it is idle or busy (reindex() after
// every change of either).

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "sim/cluster/cluster.h"
#include "sim/control/kv_pool.h"
#include "sim/control/kv_tiers.h"
#include "sim/control/observer.h"
#include "sim/control/route_index.h"
#include "sim/core/deferred_timer.h"
#include "sim/core/simulator.h"
#include "sim/engine/engine.h"
#include "sim/engine/latency_model.h"
#include "sim/engine/model_spec.h"
#include "sim/engine/pipeline_latency.h"
#include "sim/loading/loader.h"

namespace slsim {

struct ServedModel {
  ModelSpec spec;
  int64_t tensor_parallel = 1;
  // What a load must bring: the base checkpoint, then the model's own delta if it has one.
  std::vector<CheckpointPart> checkpoint;
};

// Why an instance starts: on demand, or pre-warmed ahead of a predicted request, in which case
// it may stay idle for `keep_alive` before its first request.
struct StartReason {
  bool prewarm = false;
  Time keep_alive;
};

// Where a model's instances may run. In a cluster of mixed GPUs the tensor-parallel degree,
// chosen once per model, may leave a server too small: an instance goes only where its KV cache
// holds a full-context sequence (where no server's does, only where it is largest), so that it
// never lands where the weights do not fit.
struct ModelFit {
  std::vector<uint8_t> holds_by_server;  // by server id: 1 where the model's instances may run
  // The KV capacity (tokens) of its smallest instance over those servers; 0: it fits none.
  int64_t fit_tokens = 0;
};
ModelFit model_fit(const ServedModel& served, const Cluster& cluster, const EngineParams& engine_params);

inline bool serving(InstanceState state) { return state == InstanceState::idle || state == InstanceState::busy; }

struct Instance {
  ModelId model;
  ServerId server;
  InstanceState state = InstanceState::released;
  std::vector<int64_t> gpus;
  Time load_started;
  Time ready_at;
  LoadOutcome load;
  StartReason reason;
  bool served_any = false;
  const LatencyModel* latency = nullptr;
  std::unique_ptr<KvOffload> offload;  // its view of the KV offload tiers (kv_tiers.h); null: none
  std::unique_ptr<Engine> engine;
  // The step in progress waits for the KV bytes it moves (kv_transfers.h) before it computes.
  bool moving_kv = false;
  EventSeq step_event = 0;
  Time step_started;
  Time step_end;
  // The engine time of the step (or run of steps) in progress: its length alone on its GPU, and
  // how much of it was done by step_progress_at. While its physical GPU is shared
  // (compute_sharing.h) it advances at 1/step_slowdown of wall time.
  Time step_alone_length;
  Time step_done_alone;
  Time step_progress_at;
  double step_slowdown = 1;
  // Loaded, capturing its CUDA graphs on a shared card (compute_sharing.h).
  bool capturing_graphs = false;
  // Live scaling (load_source blitzscale's live_scaling): serving while its weights arrive from
  // `live_source`, a loaded instance of its model that runs the layers not yet here; none: not.
  InstanceId live_source = InstanceId::none();
  // The share of a step's compute that its step in progress puts on `live_source`: 1 - the
  // loaded fraction when the step began computing; 0 once that step ends or the source goes.
  double source_share = 0;
  // A parallel cold start (load_source hydraserve): the other servers' GPUs holding stages of its
  // layers, until consolidation lets them go; empty: it runs on `server` alone. `pipeline` times
  // its steps while it has stages, and after (with no hand-offs) for the engine that holds it.
  std::vector<PeerCopy> stages;
  std::unique_ptr<PipelineLatency> pipeline;
  // The servers of `stages`, in order.
  std::vector<ServerId> stage_servers() const {
    std::vector<ServerId> servers;
    for (const PeerCopy& stage : stages) servers.push_back(stage.server);
    return servers;
  }
  // Execute-while-load (load_source lambdascale): the head of a group whose members each hold
  // their own slice, serving as a pipeline over the members' GPUs (which they hold as instances
  // of their own, loading) until the group's loads are done.
  bool group_pipeline = false;

  // The engine time the step in progress has run by `now`: none while its KV bytes move.
  Time step_elapsed(Time now) const {
    return moving_kv ? step_done_alone : step_done_alone + (now - step_progress_at).scaled(1 / step_slowdown);
  }
  // Stepping, its KV bytes in: the step occupies its GPUs.
  bool computing() const { return engine->stepping() && !moving_kv; }
  DeferredTimer expiry;  // its keep-alive while idle
  // The placement policy's estimate of the time until it could run (< 0: none), from `placed`.
  double estimated_start_s = -1;
  Time placed;
  int32_t migration = -1;           // the live migration it is the source or destination of
  bool stop_for_migration = false;  // a migration's source: stop when the step in progress ends
  int32_t rebalancing = -1;         // the partial migration it is the source or destination of
  // Its keep-alive ran out while the autoscaler's target still wanted it.
  bool keep_alive_expired = false;
  // Ready when the run started (cluster.instances_at_start): no load, no cold start.
  bool at_start = false;
  // An instance at start that nothing releases: no keep-alive, autoscaler or placement victim.
  bool pinned = false;
  uint64_t route_order = 0;          // rises with each instance the model places, whose order it keeps
  int64_t indexed_outstanding = -1;  // its count in ModelState::route_index; -1: absent
  uint32_t route_leaf = 0;           // its place there while present
};

class ModelState {
 public:
  ServedModel served;
  int64_t checkpoint_bytes = 0;
  // By server id: 1 where the model's instances may run (ModelFit).
  std::vector<uint8_t> holds_by_server;
  // The KV capacity (tokens) of its smallest instance over those servers; 0: it fits none. A
  // request larger than this is refused, so every admitted request fits wherever it is routed.
  int64_t fit_tokens = 0;
  ServerId last_server = ServerId::none();
  int64_t desired = 0;  // the target-based autoscaler's last answer

  const std::vector<InstanceId>& instances() const { return instances_; }  // loading or ready
  // Its serving instances by (requests in flight, place in `instances`): least-outstanding
  // routing takes the first instead of scanning `instances` per arrival.
  const RouteIndex& route_index() const { return route_index_; }
  int64_t ready() const { return ready_; }
  int64_t starting() const { return starting_; }        // loading, or waiting for GPUs
  int64_t outstanding() const { return outstanding_; }  // dispatched to its instances, not finished
  int64_t pinned() const { return pinned_; }            // ready since the start and never released

 private:
  friend class InstanceRegistry;
  std::vector<InstanceId> instances_;
  RouteIndex route_index_;
  uint64_t next_route_order_ = 0;
  int64_t ready_ = 0;
  int64_t starting_ = 0;
  int64_t outstanding_ = 0;
  int64_t pinned_ = 0;
};

class InstanceRegistry {
 public:
  // `kv_tiers`: where the instances' GPU prefix caches evict to; nullptr: nowhere.
  InstanceRegistry(Simulator& sim, Cluster& cluster, std::vector<ServedModel> models, const EngineParams& engine_params,
                   ServingObserver& observer, KvTiers* kv_tiers = nullptr);

  const EngineParams& engine_params() const { return engine_params_; }
  // The KV pools of cards shared elastically; the placer takes seats and the control plane lends
  // blocks through it.
  ElasticKvPool& kv_pool() { return kv_pool_; }
  const ElasticKvPool& kv_pool() const { return kv_pool_; }
  size_t models() const { return models_.size(); }
  auto model_ids() const { return models_.ids(); }
  ModelState& model(ModelId model) { return models_[model]; }
  const ModelState& model(ModelId model) const { return models_[model]; }
  // Every slot, released ones included.
  auto instance_ids() const { return instances_.ids(); }
  Instance& instance(InstanceId id) { return instances_[id]; }
  const Instance& instance(InstanceId id) const { return instances_[id]; }
  int64_t instances_in(ModelId model, InstanceState state) const;

  // Per-model counts, as instances and requests move through their lives.
  void start_requested(ModelId model) { ++models_[model].starting_; }
  void start_withdrawn(ModelId model) { --models_[model].starting_; }
  void load_finished(ModelId model) {
    --models_[model].starting_;
    ++models_[model].ready_;
  }
  // An instance ready when the run starts, with no start or load before it.
  void ready_at_start(ModelId model, bool pinned) {
    ++models_[model].ready_;
    if (pinned) ++models_[model].pinned_;
  }
  // A live migration's source takes no new requests; while it moves the model counts it as
  // starting, until its destination's load_finished().
  void migration_started(ModelId model) {
    --models_[model].ready_;
    ++models_[model].starting_;
  }
  // The switch: the destination, ready since its load, is counted beside the source until the
  // source's retire() takes that one back.
  void migration_switched(ModelId model) { ++models_[model].ready_; }
  // Live scaling: a loading instance serves from now (ready), until its source goes while its
  // weights still arrive (starting again, until load_finished()).
  void live_load_began(ModelId model) { load_finished(model); }
  void live_source_lost(ModelId model) {
    --models_[model].ready_;
    ++models_[model].starting_;
  }
  void request_dispatched(ModelId model) { ++models_[model].outstanding_; }
  // Finished, or taken back to the router by a preemption.
  void request_left(ModelId model) { --models_[model].outstanding_; }

  // A new instance of `model` on `gpus` of `server` (already taken), with its engine, in state
  // `released` until set_state(); it joins the model's instances.
  InstanceId add(ModelId model, ServerId server, std::vector<int64_t> gpus, StartReason reason,
                 double estimated_start_s, Time placed);
  // The new instance (just added, not yet loading) also holds `stages` (GPUs already taken) and
  // runs as a pipeline over them: each step hands its activations over the stage boundaries at
  // `boundary_s_per_token` per token.
  void add_stages(InstanceId id, std::vector<PeerCopy> stages, double boundary_s_per_token);
  // Consolidated: the stages' GPUs go back to their servers and its steps have no hand-offs.
  // Published as a release of all its GPUs and a start on its own at once, so GPU-seconds count
  // what it holds.
  void release_stages(InstanceId id);
  // Execute-while-load: the instance, loading with nothing in its engine, runs from now as the
  // pipeline of its group, each step handing its activations over the members' boundaries at
  // `boundary_s_per_token` per token; until end_group_pipeline(), whose steps have no hand-offs.
  void begin_group_pipeline(InstanceId id, double boundary_s_per_token);
  void end_group_pipeline(InstanceId id);
  // The GPUs it holds, its stages' included.
  int64_t gpus_held(const Instance& inst) const {
    return models_[inst.model].served.tensor_parallel * static_cast<int64_t>(1 + inst.stages.size());
  }
  // A loaded instance of `model` on `server`, whose GPUs a new one can copy from; none: none.
  InstanceId loaded_copy(ModelId model, ServerId server) const;
  // The loaded instances of `model` on servers other than `server`.
  std::vector<InstanceId> loaded_copies_elsewhere(ModelId model, ServerId server) const;
  // Publishes the transition and keeps the routing index in step.
  void set_state(InstanceId id, InstanceState to);
  // Brings the instance's key in its model's routing index up to date; called after every
  // change of its state or of its engine's request count.
  void reindex(InstanceId id);
  // Lets a ready instance go: its GPUs back to the server, its engine's statistics published,
  // its slot free for reuse, and the model's ready count down by one.
  void retire(InstanceId id);
  void publish_stats(InstanceId id);
  // The prefix-cache lookups of every instance so far, released ones included.
  PrefixLookups prefix_lookups() const;
  // The same by model id.
  std::vector<PrefixLookups> prefix_lookups_by_model() const;
  // An instance's requests and their tokens now, part-way through its step in progress; with
  // `cached`, only the tokens whose keys and values are in its GPUs' cache.
  std::vector<std::pair<RequestId, int64_t>> tokens_now(InstanceId id, bool cached = false) const;

 private:
  void start_engine(Instance& inst, const GpuProfile& gpu);
  // The instance's steps from now: its model's on its GPU plus `boundary_s_per_token` of hand-offs
  // per token (add_stages, begin_group_pipeline).
  void run_as_pipeline(InstanceId id, double boundary_s_per_token);

  Simulator& sim_;
  Cluster& cluster_;
  EngineParams engine_params_;
  ServingObserver& observer_;
  KvTiers* kv_tiers_;
  ElasticKvPool kv_pool_;
  IdVector<ModelId, ModelState> models_;
  IdVector<InstanceId, Instance> instances_;
  std::vector<InstanceId> free_slots_;
  PrefixLookups released_prefix_lookups_;
  std::vector<PrefixLookups> released_prefix_lookups_by_model_;
  // Stateless, so shared by every instance of a model on one GPU type.
  std::map<std::pair<ModelId, std::string>, std::unique_ptr<LatencyModel>> latency_models_;
};

}  // namespace slsim
