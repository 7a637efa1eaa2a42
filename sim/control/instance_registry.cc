#include "sim/control/instance_registry.h"

#include <algorithm>

#include "sim/core/slots.h"

namespace slsim {

ModelFit model_fit(const ServedModel& served, const Cluster& cluster, const EngineParams& engine_params) {
  std::vector<int64_t> capacity_tokens;
  for (const Server& s : cluster.servers()) {
    int64_t tokens = s.profile->gpus < served.tensor_parallel
                         ? 0
                         : kv_capacity_tokens(served.spec, *s.gpu, served.tensor_parallel, engine_params);
    // A card shared elastically holds instances of one GPU each, with at least their minimum KV.
    if (s.profile->gpu_memory_sharing == GpuMemorySharing::elastic_kv &&
        (served.tensor_parallel != 1 || tokens * served.spec.kv_bytes_per_token() < s.profile->min_kv_reserve_bytes))
      tokens = 0;
    // A switching card's seats are single GPUs (model_switching.h).
    if (s.profile->gpu_memory_sharing == GpuMemorySharing::switching && served.tensor_parallel != 1) tokens = 0;
    capacity_tokens.push_back(tokens);
  }
  const int64_t largest =
      capacity_tokens.empty() ? 0 : *std::max_element(capacity_tokens.begin(), capacity_tokens.end());
  EngineRequest full_context_sequence;
  full_context_sequence.input_tokens = served.spec.architecture.max_context;
  const int64_t full_context =
      kv_footprint_tokens(engine_params, served.spec.architecture.max_context, full_context_sequence);
  const int64_t needed = std::min(full_context, largest);
  ModelFit fit;
  for (const int64_t tokens : capacity_tokens) {
    const bool holds = largest > 0 && tokens >= needed;
    fit.holds_by_server.push_back(holds ? 1 : 0);
    if (holds) fit.fit_tokens = fit.fit_tokens == 0 ? tokens : std::min(fit.fit_tokens, tokens);
  }
  return fit;
}

InstanceRegistry::InstanceRegistry(Simulator& sim, Cluster& cluster, std::vector<ServedModel> models,
                                   const EngineParams& engine_params, ServingObserver& observer, KvTiers* kv_tiers)
    : sim_(sim),
      cluster_(cluster),
      engine_params_(engine_params),
      observer_(observer),
      kv_tiers_(kv_tiers),
      kv_pool_(cluster, engine_params) {
  for (auto& served : models) {
    ModelState m;
    m.checkpoint_bytes = served.spec.checkpoint_bytes();
    ModelFit fit = model_fit(served, cluster_, engine_params_);
    m.holds_by_server = std::move(fit.holds_by_server);
    m.fit_tokens = fit.fit_tokens;
    m.served = std::move(served);
    models_.push_back(std::move(m));
  }
  released_prefix_lookups_by_model_.resize(models_.size());
}

int64_t InstanceRegistry::instances_in(ModelId model, InstanceState state) const {
  const std::vector<InstanceId>& ids = models_[model].instances_;
  return std::count_if(ids.begin(), ids.end(), [&](InstanceId i) { return instances_[i].state == state; });
}

InstanceId InstanceRegistry::add(ModelId model, ServerId server, std::vector<int64_t> gpus, StartReason reason,
                                 double estimated_start_s, Time placed) {
  ModelState& m = models_[model];
  const InstanceId id = reuse_or_append(instances_, free_slots_);
  Instance& inst = instances_[id];
  inst = Instance{};
  inst.model = model;
  inst.server = server;
  inst.reason = reason;
  inst.gpus = std::move(gpus);
  inst.load_started = sim_.now();
  inst.estimated_start_s = estimated_start_s;
  inst.placed = placed;
  start_engine(inst, *cluster_.server(server).gpu);
  if (kv_pool_.elastic(server)) {
    kv_pool_.join(id, server, inst.gpus.front(), m.checkpoint_bytes, inst.engine->kv_block_bytes());
    inst.engine->set_kv_blocks(0);
  }
  m.last_server = server;
  inst.route_order = m.next_route_order_++;
  m.instances_.push_back(id);
  return id;
}

namespace {
// Its GPUs hold the model's weights: not still loading (live, as a group's pipeline or not), not
// split into stages over other servers, and not let go (an instance being added is `released`
// until its first transition).
bool holds_weights(const Instance& inst) {
  return inst.state != InstanceState::loading && inst.state != InstanceState::released && inst.live_source.is_none() &&
         inst.stages.empty() && !inst.group_pipeline;
}
}  // namespace

InstanceId InstanceRegistry::loaded_copy(ModelId model, ServerId server) const {
  for (const InstanceId other : models_[model].instances_) {
    const Instance& o = instances_[other];
    if (o.server == server && holds_weights(o)) return other;
  }
  return InstanceId::none();
}

std::vector<InstanceId> InstanceRegistry::loaded_copies_elsewhere(ModelId model, ServerId server) const {
  std::vector<InstanceId> copies;
  for (const InstanceId other : models_[model].instances_) {
    const Instance& o = instances_[other];
    if (o.server != server && holds_weights(o)) copies.push_back(other);
  }
  return copies;
}

void InstanceRegistry::start_engine(Instance& inst, const GpuProfile& gpu) {
  const ServedModel& served = models_[inst.model].served;
  auto& latency = latency_models_[{inst.model, gpu.name}];
  if (!latency) latency = make_latency_model(served.spec, gpu, served.tensor_parallel, engine_params_);
  inst.latency = inst.pipeline ? static_cast<const LatencyModel*>(inst.pipeline.get()) : latency.get();
  const EngineCapacity capacity{kv_capacity_blocks(served.spec, gpu, served.tensor_parallel, engine_params_),
                                served.spec.architecture.max_context, served.spec.kv_bytes_per_token()};
  inst.engine.reset();  // before the offload it may point to
  inst.offload = kv_tiers_ ? kv_tiers_->offload_for(inst.server, inst.model,
                                                    capacity.kv_bytes_per_token * engine_params_.block_size)
                           : nullptr;
  inst.moving_kv = false;
  inst.engine = std::make_unique<Engine>(*inst.latency, engine_params_, capacity, inst.offload.get());
}

void InstanceRegistry::set_state(InstanceId id, InstanceState to) {
  Instance& inst = instances_[id];
  if (inst.state == to) return;
  observer_.on_instance(InstanceTransition{id, inst.model, inst.server, gpus_held(inst), inst.state, to, sim_.now()});
  const bool was_serving = serving(inst.state);
  inst.state = to;
  if (serving(to) != was_serving) reindex(id);
}

void InstanceRegistry::reindex(InstanceId id) {
  Instance& inst = instances_[id];
  RouteIndex& index = models_[inst.model].route_index_;
  const int64_t outstanding = inst.engine && serving(inst.state) ? inst.engine->outstanding() : -1;
  if (outstanding == inst.indexed_outstanding) return;
  if (inst.indexed_outstanding >= 0 && outstanding >= 0)
    index.update(inst.route_leaf, outstanding);
  else if (inst.indexed_outstanding >= 0)
    index.erase(inst.route_leaf);
  else
    inst.route_leaf = index.insert(id, inst.route_order, outstanding);
  inst.indexed_outstanding = outstanding;
}

void InstanceRegistry::run_as_pipeline(InstanceId id, double boundary_s_per_token) {
  Instance& inst = instances_[id];
  const GpuProfile& gpu = *cluster_.server(inst.server).gpu;
  inst.pipeline = std::make_unique<PipelineLatency>(*latency_models_[{inst.model, gpu.name}], boundary_s_per_token);
  // Nothing runs yet: the engine starts again over the pipeline's step times, its KV lent by its
  // card's pool again where the card is shared elastically.
  start_engine(inst, gpu);
  if (kv_pool_.member(id)) inst.engine->set_kv_blocks(0);
}

void InstanceRegistry::add_stages(InstanceId id, std::vector<PeerCopy> stages, double boundary_s_per_token) {
  instances_[id].stages = std::move(stages);
  run_as_pipeline(id, boundary_s_per_token);
}

void InstanceRegistry::begin_group_pipeline(InstanceId id, double boundary_s_per_token) {
  instances_[id].group_pipeline = true;
  run_as_pipeline(id, boundary_s_per_token);
}

void InstanceRegistry::end_group_pipeline(InstanceId id) {
  Instance& inst = instances_[id];
  inst.pipeline->consolidate();
  inst.group_pipeline = false;
}

void InstanceRegistry::release_stages(InstanceId id) {
  Instance& inst = instances_[id];
  // Published directly: its state and place in the routing index do not change.
  observer_.on_instance(InstanceTransition{id, inst.model, inst.server, gpus_held(inst), inst.state,
                                           InstanceState::released, sim_.now()});
  for (const PeerCopy& stage : inst.stages) cluster_.give_back_gpus(stage.server, stage.gpus);
  inst.stages.clear();
  inst.pipeline->consolidate();
  observer_.on_instance(InstanceTransition{id, inst.model, inst.server, gpus_held(inst), InstanceState::released,
                                           inst.state, sim_.now()});
}

void InstanceRegistry::retire(InstanceId id) {
  Instance& inst = instances_[id];
  ModelState& m = models_[inst.model];
  set_state(id, InstanceState::released);
  cluster_.give_back_gpus(inst.server, inst.gpus);
  for (const PeerCopy& stage : inst.stages) cluster_.give_back_gpus(stage.server, stage.gpus);
  inst.stages.clear();
  if (kv_pool_.member(id)) kv_pool_.leave(id);
  std::erase(m.instances_, id);
  --m.ready_;
  publish_stats(id);
  released_prefix_lookups_ += inst.engine->stats().prefix_lookups;
  released_prefix_lookups_by_model_[inst.model.value()] += inst.engine->stats().prefix_lookups;
  inst.engine.reset();
  inst.step_event = 0;
  inst.expiry.cancel();
  free_slots_.push_back(id);
}

void InstanceRegistry::publish_stats(InstanceId id) {
  const Instance& inst = instances_[id];
  const std::vector<std::string> estimates = inst.latency->estimates();
  observer_.on_instance_stats(
      InstanceStats{id, inst.model, &cluster_.server(inst.server).gpu->name, &inst.engine->stats(), &estimates});
}

PrefixLookups InstanceRegistry::prefix_lookups() const {
  PrefixLookups total = released_prefix_lookups_;
  for (const Instance& inst : instances_)
    if (inst.engine) total += inst.engine->stats().prefix_lookups;
  return total;
}

std::vector<PrefixLookups> InstanceRegistry::prefix_lookups_by_model() const {
  std::vector<PrefixLookups> by_model = released_prefix_lookups_by_model_;
  for (const Instance& inst : instances_)
    if (inst.engine) by_model[inst.model.value()] += inst.engine->stats().prefix_lookups;
  return by_model;
}

std::vector<std::pair<RequestId, int64_t>> InstanceRegistry::tokens_now(InstanceId id, bool cached) const {
  const Instance& inst = instances_[id];
  const Time elapsed = inst.engine->stepping() ? inst.step_elapsed(sim_.now()) : Time::zero();
  return cached ? inst.engine->cached_request_tokens(elapsed) : inst.engine->request_tokens(elapsed);
}

}  // namespace slsim
