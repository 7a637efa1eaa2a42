#include "sim/control/control_plane.h"

#include "sim/core/slots.h"

#include <algorithm>
#include <fmt/format.h>
#include <stdexcept>

namespace slsim {
namespace {

EngineRequest engine_request(const Request& r) {
  return EngineRequest{r.id, r.input_tokens, r.output_tokens, r.samples, r.beam_width, r.prefix_blocks};
}

// One prompt of `tokens` prefilled alone: what the placement's migration estimate a·tokens + b
// is fitted to.
Time prefill_time(const LatencyModel& latency, int64_t tokens) {
  if (tokens <= 0) return Time::zero();
  StepShape shape;
  shape.prefill_tokens = tokens;
  shape.prefill_attention_pairs = static_cast<double>(tokens) * static_cast<double>(tokens) / 2;
  shape.prefill_sequences = 1;
  return latency.step_time(shape);
}

bool serving(InstanceState state) { return state == InstanceState::idle || state == InstanceState::busy; }

bool live(MigrationMethod method) {
  return method == MigrationMethod::live_token || method == MigrationMethod::live_kv;
}

}  // namespace

ControlPlane::ControlPlane(Simulator& sim, Cluster& cluster, Loader& loader, std::vector<ServedModel> models,
                           const EngineParams& engine_params, Policies policies, RequestSource& source,
                           ServingObserver& observer)
    : sim_(sim),
      cluster_(cluster),
      loader_(loader),
      engine_params_(engine_params),
      policies_(std::move(policies)),
      source_(source),
      observer_(observer),
      handler_(sim.add_handler(this)),
      scaling_by_target_(policies_.autoscaler->tick_interval() > Time::zero()) {
  for (auto& served : models) {
    ModelState m;
    m.checkpoint_bytes = served.spec.checkpoint_bytes();
    for (const Server& s : cluster_.servers()) {
      if (s.profile->gpus < served.tensor_parallel) continue;
      m.longest_fit_tokens = std::max(
          m.longest_fit_tokens, kv_capacity_tokens(served.spec, *s.gpu, served.tensor_parallel, engine_params_));
    }
    m.served = std::move(served);
    models_.push_back(std::move(m));
  }
}

void ControlPlane::start() {
  schedule_next_arrival();
  if (policies_.preload->interval() > Time::zero()) sim_.schedule_in(Time::zero(), handler_, kPreloadTick, 0);
  if (scaling_by_target_) sim_.schedule_in(Time::zero(), handler_, kAutoscaleTick, 0);
}

int64_t ControlPlane::instances_in(ModelId model, InstanceState state) const {
  return std::count_if(models_[model].instances.begin(), models_[model].instances.end(),
                       [&](InstanceId i) { return instances_[i].state == state; });
}

void ControlPlane::finish() {
  for (InstanceId id = 0; id < instances_.size(); ++id) {
    Instance& inst = instances_[id];
    if (!inst.engine) continue;
    // The run stopped at its end time mid-way through a fast-forwarded run of steps.
    inst.engine->settle(sim_.now() - inst.step_started);
    publish_stats(id);
  }
}

void ControlPlane::start_engine(Instance& inst, const GpuProfile& gpu) {
  const ServedModel& served = models_[inst.model].served;
  auto& latency = latency_models_[{inst.model, gpu.name}];
  if (!latency) latency = make_latency_model(served.spec, gpu, served.tensor_parallel, engine_params_);
  inst.latency = latency.get();
  inst.swap = std::make_unique<HostLinkSwapChannel>(gpu, served.tensor_parallel);
  const EngineCapacity capacity{kv_capacity_blocks(served.spec, gpu, served.tensor_parallel, engine_params_),
                                served.spec.architecture.max_context, served.spec.kv_bytes_per_token()};
  inst.engine = std::make_unique<Engine>(*inst.latency, engine_params_, capacity, *inst.swap);
}

void ControlPlane::publish_stats(InstanceId id) {
  const Instance& inst = instances_[id];
  const std::vector<std::string> estimates = inst.latency->estimates();
  observer_.on_instance_stats(InstanceStats{id, inst.model, &cluster_.server(inst.server).gpu->name,
                                            &inst.engine->stats(), &estimates});
}

void ControlPlane::schedule_next_arrival() {
  next_arrival_ = source_.next();
  if (next_arrival_) sim_.schedule_lane_at(next_arrival_->arrival, handler_, kArrival, 0);
}

void ControlPlane::on_event(const Event& event) {
  switch (event.kind) {
    case kArrival: on_arrival(); break;
    case kStepDone:
      if (instances_[event.target].step_event == event.seq) on_step_done(event.target);
      break;
    case kIdleExpired:
      if (instances_[event.target].expiry.fire(sim_, event)) expire(event.target);
      break;
    case kPrewarm: {
      const KeepAliveDecision d = policies_.keepalive->decide(event.target, sim_.now());
      const ModelState& m = models_[event.target];
      if (m.ready + m.starting == 0) start_instance(event.target, StartReason{true, d.keep_alive});
      break;
    }
    case kPreloadTick:
      run_preload_plan();
      // Once the workload is exhausted there is nothing left to prepare for.
      if (next_arrival_ || !in_flight_.empty()) sim_.schedule_in(policies_.preload->interval(), handler_, kPreloadTick, 0);
      break;
    case kPreloadAction:
      act(scheduled_actions_[event.target]);
      free_action_slots_.push_back(event.target);
      break;
    case kAutoscaleTick: autoscale_tick(); break;
    default: throw std::logic_error("unknown control-plane event");
  }
}

void ControlPlane::on_arrival() {
  const Request r = *next_arrival_;
  schedule_next_arrival();
  observer_.on_arrival(r);
  ++arrived_;
  ModelState& m = models_[r.model];
  policies_.keepalive->on_request(r.model, sim_.now());
  policies_.preload->on_request(r.model, sim_.now());
  policies_.autoscaler->on_arrival(r.model, sim_.now());
  if (m.longest_fit_tokens == 0) {
    ++rejected_;
    observer_.on_rejected(r, "model fits no server");
    return;
  }
  const int64_t sequence = r.input_tokens + r.output_tokens;
  if (sequence > m.served.spec.architecture.max_context) {
    ++rejected_;
    observer_.on_rejected(r, "longer than the model's context window");
    return;
  }
  if (std::max(r.samples, r.beam_width) > engine_params_.max_num_seqs) {
    ++rejected_;
    observer_.on_rejected(r, "more parallel sequences than engine.max_num_seqs");
    return;
  }
  if (kv_footprint_tokens(engine_params_, m.served.spec.architecture.max_context, engine_request(r)) >
      m.longest_fit_tokens) {
    ++rejected_;
    observer_.on_rejected(r, "larger than the KV cache of any instance");
    return;
  }
  in_flight_.insert(r.id, InFlight{r, Time{}, false, Time{}, Time{}, Tier::remote, false, kNoId, 0});
  if (m.ready > 0) {
    route(r.id, false);
  } else {
    m.router_queue.push_back(r.id);
    autoscale(r.model);
  }
}

void ControlPlane::route(RequestId id, bool cold_start) {
  InFlight& f = in_flight_.at(id);
  ModelState& m = models_[f.request.model];
  InstanceId best;
  if (policies_.routing->routes_to_least_outstanding()) {
    if (m.route_index.empty()) throw std::logic_error("routed a request to a model without a ready instance");
    best = m.route_index.best();
  } else {
    route_candidates_.clear();
    for (const InstanceId i : m.instances)
      if (serving(instances_[i].state)) route_candidates_.push_back(RouteCandidate{i, instances_[i].engine->outstanding()});
    if (route_candidates_.empty()) throw std::logic_error("routed a request to a model without a ready instance");
    best = route_candidates_[policies_.routing->route(f.request.model, route_candidates_)].instance;
  }
  Instance& inst = instances_[best];
  f.cold_start = cold_start;
  f.dispatched = sim_.now();
  f.server = inst.server;
  f.load_tier = inst.load.tier;
  f.preloaded = inst.load.preloaded || (inst.reason.prewarm && !inst.served_any);
  if (cold_start) f.load_wait = inst.ready_at - std::max(f.request.arrival, inst.load_started);
  inst.served_any = true;
  ++m.outstanding;
  inst.engine->enqueue(engine_request(f.request));
  reindex(best);
  cut_run_short(best);
  kick(best);
}

void ControlPlane::cut_run_short(InstanceId id) {
  Instance& inst = instances_[id];
  if (!inst.engine->stepping()) return;
  const Time end = sim_.now() + inst.engine->interrupt(sim_.now() - inst.step_started);
  if (end != inst.step_end) {
    inst.step_end = end;
    inst.step_event = sim_.schedule_at(end, handler_, kStepDone, id);
  }
}

ModelDemand ControlPlane::demand(ModelId model) const {
  const ModelState& m = models_[model];
  ModelDemand d;
  d.model = model;
  d.now = sim_.now();
  d.ready_instances = m.ready;
  d.starting_instances = m.starting;
  d.queued_requests = static_cast<int64_t>(m.router_queue.size());
  d.outstanding_requests = m.outstanding;
  return d;
}

void ControlPlane::autoscale(ModelId model) {
  const int64_t to_start = policies_.autoscaler->instances_to_start(demand(model));
  for (int64_t i = 0; i < to_start; ++i) start_instance(model, StartReason{});
}

void ControlPlane::autoscale_tick() {
  // Once the workload is exhausted nothing new starts; ticks go on only to scale down.
  const bool active = next_arrival_ || !in_flight_.empty();
  bool above_floor = false;
  for (ModelId model = 0; model < models_.size(); ++model) {
    scale_to_target(model, active);
    const ModelState& m = models_[model];
    if (m.ready + m.starting > policies_.autoscaler->floor_instances()) above_floor = true;
  }
  if (active || above_floor) sim_.schedule_in(policies_.autoscaler->tick_interval(), handler_, kAutoscaleTick, 0);
}

void ControlPlane::scale_to_target(ModelId model, bool may_start) {
  ModelState& m = models_[model];
  m.desired = policies_.autoscaler->desired_instances(demand(model));
  if (may_start)
    for (int64_t have = m.ready + m.starting; have < m.desired; ++have) start_instance(model, StartReason{});
  // Requests at the router keep one start, whatever the forecast says.
  int64_t excess = m.ready + m.starting - std::max<int64_t>(m.desired, m.router_queue.empty() ? 0 : 1);
  // Starts still waiting for GPUs are withdrawn first, the latest first, then idle instances,
  // the newest first.
  for (auto it = waiting_for_gpus_.end(); excess > 0 && it != waiting_for_gpus_.begin();) {
    --it;
    if (it->first != model) continue;
    it = waiting_for_gpus_.erase(it);
    --m.starting;
    --excess;
  }
  for (auto it = m.instances.rbegin(); excess > 0 && it != m.instances.rend();) {
    const InstanceId id = *it++;
    const Instance& inst = instances_[id];
    if (inst.state != InstanceState::idle || !inst.keep_alive_expired) continue;
    release(id, policies_.keepalive->decide(model, sim_.now()).keep_checkpoint_in_dram);
    --excess;
    it = m.instances.rbegin();
  }
}

void ControlPlane::expire(InstanceId id) {
  Instance& inst = instances_[id];
  const ModelState& m = models_[inst.model];
  if (scaling_by_target_ && m.ready + m.starting <= m.desired) {
    inst.keep_alive_expired = true;
    return;
  }
  release(id, policies_.keepalive->decide(inst.model, sim_.now()).keep_checkpoint_in_dram);
}

void ControlPlane::start_instance(ModelId model, StartReason reason) {
  ++models_[model].starting;
  if (!try_place(model, reason)) waiting_for_gpus_.emplace_back(model, reason);
}

bool ControlPlane::try_place(ModelId model, StartReason reason) {
  ModelState& m = models_[model];
  PlacementRequest request{model, m.served.tensor_parallel, m.checkpoint_bytes, m.served.checkpoint, false, {}};
  std::vector<InstanceView> movable;
  if (policies_.migration->method() != MigrationMethod::none) {
    movable = movable_instances();
    request.may_free_gpus = true;
    request.movable = movable;
  }
  auto placement = policies_.placement->place(request);
  // A policy that never names victims still gets room where it costs the fewest tokens.
  if (!placement && request.may_free_gpus) placement = cheapest_room(request);
  if (!placement) return false;
  if (placement->victims.empty()) {
    place_on(model, reason, placement->server, placement->estimated_start_s, sim_.now());
    return true;
  }
  make_room(*placement, model, reason);
  return true;
}

InstanceId ControlPlane::place_on(ModelId model, StartReason reason, ServerId server, double estimated_start_s,
                                  Time placed) {
  ModelState& m = models_[model];
  const InstanceId id = reuse_or_append(instances_, free_instance_slots_);
  Instance& inst = instances_[id];
  const GpuProfile& gpu = *cluster_.server(server).gpu;
  inst = Instance{};
  inst.model = model;
  inst.server = server;
  inst.reason = reason;
  inst.gpus = cluster_.take_gpus(server, m.served.tensor_parallel);
  inst.load_started = sim_.now();
  inst.estimated_start_s = estimated_start_s;
  inst.placed = placed;
  start_engine(inst, gpu);
  m.last_server = server;

  LoadRequest load{id, server, inst.gpus, {}, m.served.checkpoint};
  // A loaded copy of the same model on this server can be copied GPU to GPU.
  for (const InstanceId other : m.instances) {
    const Instance& o = instances_[other];
    if (o.server == server && o.state != InstanceState::loading) {
      load.source_gpus = o.gpus;
      break;
    }
  }
  join_instances(id);
  set_state(id, InstanceState::loading);
  loader_.start(load, *this);
  return id;
}

std::optional<ServerId> ControlPlane::relocation_server(const Instance& inst, double* load_s) {
  const ServedModel& served = models_[inst.model].served;
  std::optional<ServerId> best;
  for (const Server& s : cluster_.servers()) {
    if (s.id == inst.server || s.free_gpus < served.tensor_parallel) continue;
    const double t = (loader_.queue_wait(s.id) + loader_.estimate(s.id, served.checkpoint, served.tensor_parallel)).seconds();
    if (!best || t < *load_s) {
      best = s.id;
      *load_s = t;
    }
  }
  return best;
}

std::vector<InstanceView> ControlPlane::movable_instances() {
  std::vector<InstanceView> views;
  for (InstanceId id = 0; id < instances_.size(); ++id) {
    Instance& inst = instances_[id];
    if (!inst.engine || !serving(inst.state) || inst.migration >= 0) continue;
    InstanceView v;
    v.instance = id;
    v.model = inst.model;
    v.server = inst.server;
    v.gpus = static_cast<int64_t>(inst.gpus.size());
    for (const auto& [request, tokens] : tokens_now(id)) {
      ++v.requests;
      v.tokens += tokens;
    }
    const double one = prefill_time(*inst.latency, 1).seconds();
    const double many = prefill_time(*inst.latency, 2048).seconds();
    v.prefill_s_per_token = (many - one) / 2047;
    v.prefill_base_s = one - v.prefill_s_per_token;
    if (v.requests > 0) relocation_server(inst, &v.relocation_load_s);
    views.push_back(v);
  }
  return views;
}

std::optional<Placement> ControlPlane::cheapest_room(const PlacementRequest& request) {
  const bool moves_live = live(policies_.migration->method());
  const auto cost = [moves_live](const InstanceView& v) {
    return moves_live && v.requests > 0 && v.relocation_load_s < 0 ? 1e300 : static_cast<double>(v.tokens);
  };
  std::optional<Placement> best;
  double best_cost = 0;
  for (const Server& s : cluster_.servers()) {
    auto victims = cheapest_victims(s, request, cost);
    if (!victims) continue;
    double total = 0;
    for (const InstanceId id : *victims)
      for (const InstanceView& v : request.movable)
        if (v.instance == id) total += cost(v);
    if (total >= 1e300) continue;
    if (!best || total < best_cost) {
      best = Placement{s.id, std::move(*victims), -1};
      best_cost = total;
    }
  }
  return best;
}

void ControlPlane::make_room(const Placement& placement, ModelId model, StartReason reason) {
  reservations_.push_back(Reservation{model, reason, placement.server, placement.estimated_start_s, sim_.now()});
  for (const InstanceId victim : placement.victims) {
    Instance& inst = instances_[victim];
    // An earlier victim's release may have let a nested placement move this one already.
    if (!inst.engine || !serving(inst.state) || inst.migration >= 0) continue;
    if (inst.engine->outstanding() == 0 && !inst.engine->stepping()) {
      release(victim, policies_.keepalive->decide(inst.model, sim_.now()).keep_checkpoint_in_dram);
      continue;
    }
    if (live(policies_.migration->method()) && start_live_migration(victim, model)) continue;
    preempt_instance(victim, model);
  }
  fill_reservations(placement.server);
}

void ControlPlane::preempt_instance(InstanceId id, ModelId made_room_for) {
  Instance& inst = instances_[id];
  ModelState& m = models_[inst.model];
  MigrationRecord record;
  record.method = "preempt";
  record.model = inst.model;
  record.source = id;
  record.from = inst.server;
  record.made_room_for = made_room_for;
  record.started = record.ended = sim_.now();
  // The step in progress is lost with the instance; its requests start again from scratch.
  inst.step_event = 0;
  std::vector<RequestId> restarted;
  for (const auto& [request, tokens] : inst.engine->request_tokens()) restarted.push_back(request);
  std::sort(restarted.begin(), restarted.end());
  for (const RequestId r : restarted) {
    InFlight& f = in_flight_.at(r);
    f.first_token = Time{};
    f.server = kNoId;  // back at the router until routed again
    ++f.migrated;
    --m.outstanding;
  }
  record.requests = static_cast<int64_t>(restarted.size());
  observer_.on_migration(record);
  const ModelId victim_model = inst.model;
  release(id, policies_.keepalive->decide(victim_model, sim_.now()).keep_checkpoint_in_dram);
  for (auto it = restarted.rbegin(); it != restarted.rend(); ++it) m.router_queue.push_front(*it);
  if (m.ready > 0) {
    while (!m.router_queue.empty()) {
      const RequestId r = m.router_queue.front();
      m.router_queue.pop_front();
      route(r, false);
    }
  } else {
    autoscale(victim_model);
  }
}

bool ControlPlane::start_live_migration(InstanceId id, ModelId made_room_for) {
  double load_s = 0;
  const auto to = relocation_server(instances_[id], &load_s);
  if (!to) return false;
  const int32_t slot = reuse_or_append(migrations_, free_migration_slots_);
  const ModelId model = instances_[id].model;
  ModelState& m = models_[model];
  const InstanceId destination = place_on(model, StartReason{}, *to, -1, sim_.now());
  Migration& g = migrations_[slot];
  g = Migration{};
  g.source = id;
  g.destination = destination;
  g.made_room_for = made_room_for;
  g.started = sim_.now();
  instances_[id].migration = slot;
  instances_[destination].migration = slot;
  // The source takes no new requests; while it moves, the model counts it as starting.
  --m.ready;
  ++m.starting;
  set_state(id, InstanceState::migrating);
  return true;
}

void ControlPlane::migration_round(int32_t index) {
  Migration& g = migrations_[index];
  const bool kv = policies_.migration->method() == MigrationMethod::live_kv;
  const auto tokens = tokens_now(g.source);
  // Requests that finished on the source need nothing more on the destination.
  for (auto it = g.sent.begin(); it != g.sent.end();) {
    const RequestId request = it->first;
    if (std::any_of(tokens.begin(), tokens.end(), [request](const auto& t) { return t.first == request; })) {
      ++it;
      continue;
    }
    if (!kv) instances_[g.destination].engine->remove_shadow(request);
    it = g.sent.erase(it);
  }
  bool last = tokens.empty();
  int64_t arrived = 0;
  int64_t blocks = 0;
  if (kv) {
    blocks = blocks_to_copy(g);
    last = last || blocks <= policies_.migration->last_stage_max_blocks() ||
           g.rounds + 1 >= policies_.migration->max_rounds();
  } else {
    for (const auto& [request, count] : tokens) {
      const auto it = g.sent.find(request);
      arrived += count - (it == g.sent.end() ? 0 : it->second);
    }
    last = last || (g.rounds > 0 && (arrived < policies_.migration->stop_below_tokens() ||
                                      g.rounds >= policies_.migration->max_rounds()));
  }
  if (last) {
    stop_source(index);
    return;
  }
  ++g.rounds;
  if (kv) {
    copy_kv(index, blocks);
    return;
  }
  // The round is a prefill in the destination's engine beside its other work.
  Instance& destination = instances_[g.destination];
  g.tokens_recomputed += arrived;
  for (const auto& [request, count] : tokens) {
    const auto it = g.sent.find(request);
    if (it == g.sent.end()) {
      EngineRequest shadow = engine_request(in_flight_.at(request).request);
      shadow.output_tokens = shadow.input_tokens + shadow.output_tokens - count;
      shadow.input_tokens = count;
      shadow.prefix_blocks.clear();
      destination.engine->enqueue_shadow(std::move(shadow));
    } else if (count > it->second) {
      destination.engine->extend_shadow(request, count - it->second);
    }
    g.sent[request] = count;
  }
  g.round_pending = true;
  cut_run_short(g.destination);
  kick(g.destination);
}

bool ControlPlane::migration_step_done(InstanceId id) {
  const int32_t index = instances_[id].migration;
  Migration& g = migrations_[index];
  if (id == g.source) {
    if (!instances_[id].stop_for_migration) return false;
    source_stopped(index);
    return true;
  }
  if (g.switch_waiting) {
    switch_over(index);
    return true;
  }
  if (g.round_pending && instances_[id].engine->unparked_shadows() == 0) {
    g.round_pending = false;
    migration_round(index);
    // The round may have ended the migration, whose switch set the destination going.
    return instances_[id].migration < 0;
  }
  return false;
}

void ControlPlane::stop_source(int32_t index) {
  Migration& g = migrations_[index];
  Instance& source = instances_[g.source];
  if (!source.engine->stepping()) {
    source_stopped(index);
    return;
  }
  source.stop_for_migration = true;
  cut_run_short(g.source);
}

void ControlPlane::source_stopped(int32_t index) {
  Migration& g = migrations_[index];
  g.stopped = sim_.now();
  if (policies_.migration->method() == MigrationMethod::live_kv) {
    const int64_t blocks = blocks_to_copy(g);
    if (blocks > 0) {
      g.final_copy = true;
      copy_kv(index, blocks);
      return;
    }
  }
  switch_over(index);
}

std::vector<std::pair<RequestId, int64_t>> ControlPlane::tokens_now(InstanceId id, bool cached) const {
  const Instance& inst = instances_[id];
  const Time elapsed = inst.engine->stepping() ? sim_.now() - inst.step_started : Time::zero();
  return cached ? inst.engine->cached_request_tokens(elapsed) : inst.engine->request_tokens(elapsed);
}

// A request's blocks from the one holding its first cached token not yet copied (a partial block
// is sent again once it has grown) to the one holding its last. A request waiting or swapped out
// has nothing in the GPUs' cache: the destination recomputes what was never copied.
int64_t ControlPlane::blocks_to_copy(const Migration& g) const {
  const int64_t block = engine_params_.block_size;
  int64_t blocks = 0;
  for (const auto& [request, count] : tokens_now(g.source, true)) {
    const auto it = g.sent.find(request);
    const int64_t copied = it == g.sent.end() ? 0 : it->second;
    if (count > copied) blocks += (count + block - 1) / block - copied / block;
  }
  return blocks;
}

void ControlPlane::copy_kv(int32_t index, int64_t blocks) {
  Migration& g = migrations_[index];
  const Instance& source = instances_[g.source];
  const Instance& destination = instances_[g.destination];
  for (const auto& [request, count] : tokens_now(g.source, true)) g.sent[request] = std::max(g.sent[request], count);
  const int64_t bytes = blocks * engine_params_.block_size * models_[source.model].served.spec.kv_bytes_per_token();
  g.bytes_copied += bytes;
  // Each tensor-parallel shard holds its share of the heads: one flow per GPU pair.
  const Topology& topology = loader_.topology();
  const size_t shards = source.gpus.size();
  g.flows_pending = static_cast<int64_t>(shards);
  for (size_t i = 0; i < shards; ++i)
    loader_.network().start(topology.gpu(source.server, source.gpus[i]),
                            topology.gpu(destination.server, destination.gpus[i]),
                            static_cast<double>(bytes) / static_cast<double>(shards), *this,
                            static_cast<uint64_t>(index));
}

void ControlPlane::on_flow_done(FlowId, uint64_t tag) {
  const auto index = static_cast<int32_t>(tag);
  Migration& g = migrations_[index];
  if (--g.flows_pending > 0) return;
  if (g.final_copy)
    switch_over(index);
  else
    migration_round(index);
}

void ControlPlane::switch_over(int32_t index) {
  Migration& g = migrations_[index];
  Instance& source = instances_[g.source];
  Instance& destination = instances_[g.destination];
  // The destination takes the requests between steps.
  if (destination.engine->stepping()) {
    g.switch_waiting = true;
    cut_run_short(g.destination);
    return;
  }
  const bool kv = policies_.migration->method() == MigrationMethod::live_kv;
  ModelState& m = models_[source.model];
  MigrationRecord record;
  record.method = kv ? "live-kv" : "live-token";
  record.model = source.model;
  record.source = g.source;
  record.from = source.server;
  record.to = destination.server;
  record.made_room_for = g.made_room_for;
  record.started = g.started;
  StepShape last_round;
  for (const auto& [request, count] : source.engine->request_tokens()) {
    const int64_t generated = *source.engine->remove(request);
    const auto sent = g.sent.find(request);
    const int64_t resident = sent == g.sent.end() ? 0 : sent->second;
    InFlight& f = in_flight_.at(request);
    ++f.migrated;
    f.server = destination.server;
    ++record.requests;
    if (kv) {
      destination.engine->enqueue_resumed(engine_request(f.request), generated, resident);
      continue;
    }
    if (resident > 0) {
      destination.engine->promote_shadow(engine_request(f.request), generated);
      g.sent.erase(sent);
    } else {
      destination.engine->enqueue_resumed(engine_request(f.request), generated, 0);
    }
    last_round.prefill_tokens += count - resident;
    const auto after = static_cast<double>(count);
    const auto before = static_cast<double>(resident);
    last_round.prefill_attention_pairs += (after * after - before * before) / 2;
    ++last_round.prefill_sequences;
  }
  // Shadows of requests that finished on the source since the last round.
  if (!kv)
    for (const auto& [request, tokens] : g.sent) destination.engine->remove_shadow(request);
  record.rounds = g.rounds + 1;
  record.tokens_recomputed = g.tokens_recomputed + last_round.prefill_tokens;
  record.bytes_copied = g.bytes_copied;
  record.pause = sim_.now() - g.stopped;
  if (last_round.prefill_tokens > 0) record.pause += destination.latency->step_time(last_round);
  record.ended = sim_.now();
  observer_.on_migration(record);

  const InstanceId source_id = g.source;
  const InstanceId destination_id = g.destination;
  source.migration = -1;
  source.stop_for_migration = false;
  destination.migration = -1;
  destination.served_any = true;
  g.sent.clear();
  free_migration_slots_.push_back(index);
  reindex(source_id);
  reindex(destination_id);
  // release() takes the source's ready count back as it lets it go; the destination counts as
  // ready since it loaded. Requests first: releasing the source may place other instances, which
  // must not find the destination idle and take it as a victim before it got what was waiting.
  ++m.ready;
  while (!m.router_queue.empty()) {
    const RequestId r = m.router_queue.front();
    m.router_queue.pop_front();
    route(r, true);
  }
  kick(destination_id);
  release(source_id, policies_.keepalive->decide(record.model, sim_.now()).keep_checkpoint_in_dram);
}

void ControlPlane::fill_reservations(ServerId server) {
  for (auto it = reservations_.begin(); it != reservations_.end();) {
    const ModelState& m = models_[it->model];
    if (it->server != server || cluster_.server(server).free_gpus < m.served.tensor_parallel) {
      ++it;
      continue;
    }
    const Reservation r = *it;
    it = reservations_.erase(it);
    place_on(r.model, r.reason, r.server, r.estimated_start_s, r.placed);
  }
}

void ControlPlane::place_waiting() {
  // Making room releases instances, which comes back here: the outer call goes round again.
  if (placing_) {
    place_again_ = true;
    return;
  }
  placing_ = true;
  do {
    place_again_ = false;
    const size_t waiting = waiting_for_gpus_.size();
    for (size_t i = 0; i < waiting; ++i) {
      const auto [model, reason] = waiting_for_gpus_.front();
      waiting_for_gpus_.pop_front();
      if (!try_place(model, reason)) waiting_for_gpus_.emplace_back(model, reason);
    }
  } while (place_again_);
  placing_ = false;
}

void ControlPlane::on_load_done(InstanceId id, const LoadOutcome& outcome) {
  Instance& inst = instances_[id];
  ModelState& m = models_[inst.model];
  inst.load = outcome;
  inst.ready_at = sim_.now();
  observer_.on_load(id, inst.model, inst.server, outcome.tier, inst.ready_at - inst.load_started);
  if (inst.estimated_start_s >= 0)
    observer_.on_placement_estimate(inst.model, Time::from_seconds(inst.estimated_start_s), sim_.now() - inst.placed);
  policies_.autoscaler->on_load(inst.model, inst.ready_at - inst.load_started);
  // A migration's destination serves like any instance from now; the model stops counting its
  // source as starting.
  --m.starting;
  ++m.ready;
  set_state(id, InstanceState::idle);
  if (inst.migration >= 0) {
    migration_round(inst.migration);
    // A source with nothing left switches at once, and the switch set everything going.
    if (instances_[id].migration < 0) return;
  }
  while (!m.router_queue.empty()) {
    const RequestId r = m.router_queue.front();
    m.router_queue.pop_front();
    route(r, true);
  }
  if (instances_[id].state == InstanceState::idle) went_idle(id);
}

void ControlPlane::kick(InstanceId id) {
  Instance& inst = instances_[id];
  if (inst.engine->stepping()) return;
  inst.expiry.cancel();
  inst.keep_alive_expired = false;
  // A step moves requests between the engine's queues but never changes how many it holds, so
  // the routing index needs no update here.
  const auto duration = inst.engine->begin_step();
  if (!duration) {
    went_idle(id);
    return;
  }
  if (inst.state != InstanceState::migrating) set_state(id, InstanceState::busy);
  inst.step_started = sim_.now();
  inst.step_end = sim_.now() + *duration;
  inst.step_event = sim_.schedule_at(inst.step_end, handler_, kStepDone, id);
}

void ControlPlane::on_step_done(InstanceId id) {
  Instance& inst = instances_[id];
  inst.step_event = 0;
  ModelState& m = models_[inst.model];
  const int64_t batch = inst.engine->outstanding();
  const StepResult& result = inst.engine->finish_step();
  if (!result.finished.empty()) reindex(id);  // only a completion changes how many it holds
  observer_.on_batch(id, inst.model, inst.server, inst.step_started, sim_.now(), batch);
  for (const RequestId r : result.first_tokens) in_flight_.at(r).first_token = sim_.now();
  for (const RequestId r : result.finished) {
    const InFlight& f = in_flight_.at(r);
    RequestOutcome outcome;
    outcome.request = f.request;
    outcome.first_token = f.first_token;
    outcome.finished = sim_.now();
    outcome.cold_start = f.cold_start;
    outcome.cold_start_wait = f.dispatched - f.request.arrival;
    outcome.load_wait = f.load_wait;
    outcome.queue_wait = outcome.cold_start_wait - f.load_wait;
    outcome.load_tier = f.load_tier;
    outcome.preloaded = f.preloaded;
    outcome.server = f.server;
    outcome.migrated = f.migrated;
    observer_.on_finished(outcome);
    ++finished_;
    in_flight_.erase(r);
    --m.outstanding;
  }
  if (!result.finished.empty() && m.outstanding == 0 && m.router_queue.empty()) model_went_idle(inst.model);
  if (inst.migration >= 0 && migration_step_done(id)) return;
  kick(id);
}

void ControlPlane::went_idle(InstanceId id) {
  Instance& inst = instances_[id];
  // A migration's instances stay until the switch: the source with nothing left to decode waits
  // for the next round to let go, the destination for what it is being sent.
  if (inst.migration >= 0) {
    if (inst.state != InstanceState::migrating) set_state(id, InstanceState::idle);
    return;
  }
  set_state(id, InstanceState::idle);
  if (inst.reason.prewarm && !inst.served_any) {
    inst.expiry.arm(sim_, sim_.now() + inst.reason.keep_alive, handler_, kIdleExpired, id);
    return;
  }
  const KeepAliveDecision d = policies_.keepalive->decide(inst.model, sim_.now());
  // A target-based autoscaler decides what runs ahead of demand; pre-warming is the
  // reactive autoscaler's companion.
  if (d.prewarm_after > Time::zero() && !scaling_by_target_) {
    const ModelId model = inst.model;
    release(id, d.keep_checkpoint_in_dram);
    sim_.schedule_in(d.prewarm_after, handler_, kPrewarm, model);
    return;
  }
  if (d.keep_alive == Time::zero()) {
    if (scaling_by_target_)
      expire(id);
    else
      release(id, d.keep_checkpoint_in_dram);
    return;
  }
  inst.expiry.arm(sim_, sim_.now() + d.keep_alive, handler_, kIdleExpired, id);
}

void ControlPlane::model_went_idle(ModelId model) {
  policies_.keepalive->on_idle(model, sim_.now());
  policies_.preload->on_idle(model, sim_.now());
  run_preload_plan();
}

void ControlPlane::release(InstanceId id, bool keep_checkpoint_in_dram) {
  Instance& inst = instances_[id];
  ModelState& m = models_[inst.model];
  set_state(id, InstanceState::released);
  if (keep_checkpoint_in_dram)
    for (const CheckpointPart& part : m.served.checkpoint) loader_.keep_in_dram(inst.server, part);
  cluster_.give_back_gpus(inst.server, inst.gpus);
  std::erase(m.instances, id);
  --m.ready;
  publish_stats(id);
  inst.engine.reset();
  inst.step_event = 0;
  inst.expiry.cancel();
  free_instance_slots_.push_back(id);
  fill_reservations(inst.server);
  place_waiting();
}

void ControlPlane::set_state(InstanceId id, InstanceState to) {
  Instance& inst = instances_[id];
  if (inst.state == to) return;
  observer_.on_instance(InstanceTransition{id, inst.model, inst.server, models_[inst.model].served.tensor_parallel,
                                           inst.state, to, sim_.now()});
  const bool was_serving = serving(inst.state);
  inst.state = to;
  if (serving(to) != was_serving) reindex(id);
}

void ControlPlane::join_instances(InstanceId id) {
  ModelState& m = models_[instances_[id].model];
  instances_[id].route_order = m.next_route_order++;
  m.instances.push_back(id);
}

void ControlPlane::reindex(InstanceId id) {
  Instance& inst = instances_[id];
  RouteIndex& index = models_[inst.model].route_index;
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

void ControlPlane::run_preload_plan() {
  plan_.clear();
  policies_.preload->plan(sim_.now(), plan_);
  for (const PreloadAction& action : plan_) {
    if (action.at <= sim_.now()) {
      act(action);
      continue;
    }
    const uint32_t slot = reuse_or_append(scheduled_actions_, free_action_slots_);
    scheduled_actions_[slot] = action;
    sim_.schedule_at(action.at, handler_, kPreloadAction, slot);
  }
}

void ControlPlane::act(const PreloadAction& action) {
  const ModelState& m = models_[action.model];
  if (action.target == PreloadAction::Target::instance) {
    if (m.ready + m.starting == 0) start_instance(action.model, StartReason{true, action.keep_alive});
    return;
  }
  // A checkpoint with no server named goes where the model last ran.
  const ServerId server = action.server != kNoId ? action.server : m.last_server != kNoId ? m.last_server : 0;
  const Tier tier = action.target == PreloadAction::Target::dram ? Tier::dram : Tier::ssd;
  for (const CheckpointPart& part : m.served.checkpoint) loader_.preload(server, part, tier);
}

void ControlPlane::audit() const {
  auto fail = [](const std::string& what) { throw std::logic_error("control plane: " + what); };
  if (arrived_ != finished_ + rejected_ + static_cast<int64_t>(in_flight_.size()))
    fail(fmt::format("{} requests arrived, but {} finished, {} were rejected and {} are in flight", arrived_, finished_,
                     rejected_, in_flight_.size()));
  int64_t queued = 0;
  for (const ModelState& m : models_) {
    queued += static_cast<int64_t>(m.router_queue.size());
    for (const RequestId id : m.router_queue) {
      const InFlight* f = in_flight_.find(id);
      if (!f || f->server != kNoId)
        fail(fmt::format("request {} is in a router queue but not waiting there", id));
    }
  }
  int64_t in_engines = 0;
  std::vector<int64_t> held(cluster_.servers().size(), 0);
  for (InstanceId id = 0; id < instances_.size(); ++id) {
    const Instance& inst = instances_[id];
    if (!inst.engine) continue;
    in_engines += inst.engine->outstanding();
    held[inst.server] += static_cast<int64_t>(inst.gpus.size());
    for (const int64_t gpu : inst.gpus)
      if (!cluster_.server(inst.server).gpu_taken[static_cast<size_t>(gpu)])
        fail(fmt::format("instance {} holds GPU {} of server {}, which is marked free", id, gpu, inst.server));
    inst.engine->audit();
    // Shadows are a live-token destination's recomputations of the requests it was sent.
    size_t shadows = 0;
    if (inst.migration >= 0 && migrations_[inst.migration].destination == id &&
        policies_.migration->method() == MigrationMethod::live_token)
      shadows = migrations_[inst.migration].sent.size();
    if (static_cast<size_t>(inst.engine->shadows()) != shadows)
      fail(fmt::format("instance {} holds {} shadow sequences, but its migration sent {} requests", id,
                       inst.engine->shadows(), shadows));
    const int64_t expected = serving(inst.state) ? inst.engine->outstanding() : -1;
    const auto holds_its_leaf = [&] {
      const RouteIndex::Entry entry = models_[inst.model].route_index.at(inst.route_leaf);
      return entry.instance == id && entry.outstanding == expected && entry.order == inst.route_order;
    };
    if (inst.indexed_outstanding != expected || (expected >= 0 && !holds_its_leaf()))
      fail(fmt::format("instance {} is in its model's routing index with {} requests, but has {}", id,
                       inst.indexed_outstanding, expected));
  }
  for (const ModelState& m : models_)
    m.route_index.for_each([&](const RouteIndex::Entry& key) {
      if (instances_[key.instance].indexed_outstanding != key.outstanding)
        fail(fmt::format("instance {} is in the routing index with a stale count", key.instance));
    });
  int64_t dispatched = 0;
  in_flight_.for_each([&](RequestId, const InFlight& f) { dispatched += f.server != kNoId; });
  if (queued + dispatched != static_cast<int64_t>(in_flight_.size()) || in_engines != dispatched)
    fail(fmt::format("{} requests in flight, but {} are queued at routers and {} in engines ({} dispatched)",
                     in_flight_.size(), queued, in_engines, dispatched));
  for (const Server& s : cluster_.servers()) {
    const auto taken = std::count(s.gpu_taken.begin(), s.gpu_taken.end(), true);
    if (held[s.id] != taken || s.free_gpus != s.profile->gpus - taken)
      fail(fmt::format("server {}: instances hold {} GPUs, {} are marked taken and {} free of {}", s.id, held[s.id],
                       taken, s.free_gpus, s.profile->gpus));
  }
}

}  // namespace slsim
