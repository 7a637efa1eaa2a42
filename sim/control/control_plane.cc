#include "sim/control/control_plane.h"

#include <fmt/format.h>

#include <algorithm>
#include <stdexcept>

#include "sim/core/errors.h"
#include "sim/core/slots.h"

namespace slsim {

ControlPlane::ControlPlane(Simulator& sim, Cluster& cluster, Loader& loader, std::vector<ServedModel> models,
                           const EngineParams& engine_params, const KvTierParams& kv_tier_params,
                           const RouterParams& router_params, Policies policies, RequestSource& source,
                           ServingObserver& observer)
    : sim_(sim),
      cluster_(cluster),
      loader_(loader),
      policies_(std::move(policies)),
      source_(source),
      observer_(observer),
      handler_(sim.add_handler(this)),
      scaling_by_target_(policies_.autoscaler->tick_interval() > Time::zero()),
      kv_tiers_(kv_tier_params.enabled() ? std::make_unique<KvTiers>(kv_tier_params, cluster.servers().size())
                                         : nullptr),
      kv_transfers_(loader.network(), loader.topology(), *this),
      instances_(sim, cluster, std::move(models), engine_params, observer, kv_tiers_.get()),
      router_(sim, instances_, *policies_.routing, in_flight_, router_params),
      placer_(sim, cluster, loader, instances_, router_, *policies_.placement, *policies_.migration, *this, *this),
      migration_(sim, instances_, placer_, in_flight_, loader, *policies_.migration, observer, *this),
      partial_migrations_(sim, instances_, in_flight_, loader, *policies_.rebalance, observer, *this),
      sharing_(cluster),
      live_(instances_),
      switching_(sim, cluster, instances_, loader.network(), loader.topology(), *policies_.switching, *this) {}

void ControlPlane::place_at_start(const std::vector<InstanceAtStart>& instances) {
  for (const InstanceAtStart& spec : instances) {
    const InstanceId id = placer_.place_ready(spec);
    // The keep-alive of an instance kept by a target-based autoscaler asks the model's target,
    // which its first tick sets.
    if (scaling_by_target_ && !spec.pinned)
      at_start_before_first_tick_.push_back(id);
    else
      went_idle(id);
  }
}

void ControlPlane::start() {
  schedule_next_arrival();
  if (policies_.preload->interval() > Time::zero()) sim_.schedule_in(Time::zero(), handler_, kPreloadTick, 0);
  if (scaling_by_target_) sim_.schedule_in(Time::zero(), handler_, kAutoscaleTick, 0);
}

void ControlPlane::finish() {
  for (const InstanceId id : instances_.instance_ids()) {
    Instance& inst = instances_.instance(id);
    if (!inst.engine) continue;
    // The run stopped at its end time mid-way through a fast-forwarded run of steps.
    inst.engine->settle(inst.step_elapsed(sim_.now()));
    instances_.publish_stats(id);
  }
}

void ControlPlane::schedule_next_arrival() {
  next_arrival_ = source_.next();
  if (next_arrival_) sim_.schedule_lane_at(next_arrival_->arrival + router_.dispatch_latency(), handler_, kArrival, 0);
}

void ControlPlane::on_event(const Event& event) {
  switch (event.kind) {
    case kArrival:
      on_arrival();
      break;
    case kStepDone: {
      const InstanceId id(event.target);
      if (instances_.instance(id).step_event == event.seq) on_step_done(id);
      break;
    }
    case kIdleExpired: {
      const InstanceId id(event.target);
      if (instances_.instance(id).expiry.fire(sim_, event)) expire(id);
      break;
    }
    case kPrewarm: {
      const ModelId model(event.target);
      const KeepAliveDecision d = policies_.keepalive->decide(model, sim_.now());
      const ModelState& m = instances_.model(model);
      if (m.ready() + m.starting() == 0) placer_.start(model, StartReason{true, d.keep_alive});
      break;
    }
    case kPreloadTick:
      stop_if_no_progress_possible();
      run_preload_plan();
      // Once the workload is exhausted there is nothing left to prepare for.
      if (next_arrival_ || !in_flight_.empty())
        sim_.schedule_in(policies_.preload->interval(), handler_, kPreloadTick, 0);
      break;
    case kPreloadAction:
      act(scheduled_actions_[event.target]);
      free_action_slots_.push_back(event.target);
      break;
    case kAutoscaleTick:
      autoscale_tick();
      break;
    case kRebalanceTick:
      rebalance_tick();
      break;
    default:
      throw std::logic_error("unknown control-plane event");
  }
}

void ControlPlane::on_arrival() {
  const Request r = *next_arrival_;
  schedule_next_arrival();
  observer_.on_arrival(r);
  ++counts_.arrived;
  policies_.keepalive->on_request(r.model, sim_.now());
  policies_.preload->on_request(r.model, sim_.now());
  policies_.autoscaler->on_arrival(r.model, sim_.now());
  const char* refusal = router_.refusal(r);
  if (!refusal && instances_.model(r.model).ready() == 0 && router_.full(r.model)) refusal = "router queue full";
  if (refusal) {
    ++counts_.rejected;
    observer_.on_rejected(r, refusal);
    return;
  }
  in_flight_.insert(r.id, InFlight{r, Time{}, false, Time{}, Time{}, Tier::remote, false, ServerId::none(), 0});
  if (!rebalance_tick_pending_ && policies_.rebalance->interval() > Time::zero()) {
    rebalance_tick_pending_ = true;
    sim_.schedule_in(policies_.rebalance->interval(), handler_, kRebalanceTick, 0);
  }
  if (instances_.model(r.model).ready() > 0) {
    const InstanceId to = router_.route(r.id, false);
    cut_run_short(to);
    kick(to);
  } else {
    router_.hold(r.model, r.id);
    autoscale(r.model);
    placer_.queue_grew(r.model);
  }
}

void ControlPlane::route_queued(ModelId model, bool cold_start) {
  while (router_.holds_any(model)) {
    const InstanceId to = router_.route(router_.pop(model), cold_start);
    cut_run_short(to);
    kick(to);
  }
}

void ControlPlane::cut_run_short(InstanceId id) {
  Instance& inst = instances_.instance(id);
  // A step that moves KV bytes is a single step: nothing to cut.
  if (!inst.computing()) return;
  const Time elapsed = inst.step_elapsed(sim_.now());
  inst.step_alone_length = elapsed + inst.engine->interrupt(elapsed);
  inst.step_done_alone = elapsed;
  inst.step_progress_at = sim_.now();
  time_step_end(id);
}

void ControlPlane::advance_step(InstanceId id) {
  Instance& inst = instances_.instance(id);
  inst.step_done_alone = inst.step_elapsed(sim_.now());
  inst.step_progress_at = sim_.now();
}

void ControlPlane::time_step_end(InstanceId id) {
  Instance& inst = instances_.instance(id);
  const Time end = sim_.now() + (inst.step_alone_length - inst.step_done_alone).scaled(inst.step_slowdown);
  if (end != inst.step_end || inst.step_event == 0) {
    inst.step_end = end;
    inst.step_event = sim_.schedule_at(end, handler_, kStepDone, id.value());
  }
}

void ControlPlane::share_gpu(InstanceId id, CardUse change) {
  const Instance& inst = instances_.instance(id);
  const std::vector<InstanceId> beside = sharing_.stepping_beside(id, inst);
  for (const InstanceId other : beside) advance_step(other);
  switch (change) {
    case CardUse::step_begins:
      sharing_.join(id, inst);
      break;
    case CardUse::step_ends:
      sharing_.leave(id, inst);
      break;
    case CardUse::capture_begins:
      sharing_.occupy(inst);
      break;
    case CardUse::capture_ends:
      sharing_.vacate(inst);
      break;
  }
  for (const InstanceId other : beside) {
    instances_.instance(other).step_slowdown = slowdown(other);
    time_step_end(other);
  }
}

double ControlPlane::slowdown(InstanceId id) const {
  const Instance& inst = instances_.instance(id);
  const double shared = sharing_.shared(inst) ? sharing_.slowdown(inst) : 1;
  if (!live_.any()) return shared;
  return shared * live_.source_factor(id);
}

void ControlPlane::set_source_share(InstanceId id, double share) {
  const InstanceId source = instances_.instance(id).live_source;
  const bool computing = instances_.instance(source).computing();
  if (computing) advance_step(source);
  live_.set_share(id, share);
  if (!computing) return;
  instances_.instance(source).step_slowdown = slowdown(source);
  time_step_end(source);
}

void ControlPlane::on_live_load(InstanceId id, InstanceId source) {
  if (!live_.can_read(id, source)) return;
  Instance& inst = instances_.instance(id);
  live_.begin(id, source);
  inst.ready_at = sim_.now();
  inst.load.tier = Tier::gpu;
  instances_.live_load_began(inst.model);
  // Routed to as a warm instance from now; idle, it waits for its load before its keep-alive.
  instances_.set_state(id, InstanceState::idle);
  route_queued(inst.model, true);
}

void ControlPlane::on_consolidated(InstanceId id) {
  const std::vector<ServerId> servers = instances_.instance(id).stage_servers();
  instances_.release_stages(id);
  // A fast-forwarded run of decode steps was timed with the hand-offs: it stops after its step.
  cut_run_short(id);
  for (const ServerId server : servers) placer_.fill_reservations(server);
  placer_.place_waiting();
}

void ControlPlane::on_group_serves(InstanceId head, Tier tier, const std::vector<PeerCopy>& stages) {
  Instance& inst = instances_.instance(head);
  instances_.begin_group_pipeline(head, placer_.hand_off_s_per_token(inst, stages));
  inst.ready_at = sim_.now();
  inst.load.tier = tier;
  instances_.live_load_began(inst.model);
  // Routed to as a warm instance from now; idle, it waits for its group's loads before its keep-alive.
  instances_.set_state(head, InstanceState::idle);
  route_queued(inst.model, true);
}

void ControlPlane::end_live(InstanceId id, bool source_gone) {
  Instance& inst = instances_.instance(id);
  // A source going away is not re-timed: its step ends with it.
  if (inst.source_share > 0 && !source_gone) set_source_share(id, 0);
  live_.end(id);
  if (!source_gone) return;
  // The step in progress ends; a fast-forwarded run of decode steps stops after it.
  cut_run_short(id);
  instances_.live_source_lost(inst.model);
  instances_.set_state(id, InstanceState::loading);
}

ModelDemand ControlPlane::demand(ModelId model) const {
  const ModelState& m = instances_.model(model);
  ModelDemand d;
  d.model = model;
  d.now = sim_.now();
  d.ready_instances = m.ready();
  d.starting_instances = m.starting();
  d.queued_requests = static_cast<int64_t>(router_.queue(model).size());
  d.outstanding_requests = m.outstanding();
  return d;
}

void ControlPlane::autoscale(ModelId model) {
  const int64_t to_start = policies_.autoscaler->instances_to_start(demand(model));
  for (int64_t i = 0; i < to_start; ++i) placer_.start(model, StartReason{});
}

void ControlPlane::autoscale_tick() {
  // Once the workload is exhausted nothing new starts; ticks go on only to scale down.
  const bool active = next_arrival_ || !in_flight_.empty();
  stop_if_no_progress_possible();
  bool above_floor = false;
  bool changed = false;
  for (const ModelId model : instances_.model_ids()) {
    const ModelState& m = instances_.model(model);
    const int64_t ready = m.ready();
    const int64_t starting = m.starting();
    scale_to_target(model, active);
    // Those a request at the start has kept busy have been through went_idle() already.
    for (const InstanceId id : at_start_before_first_tick_) {
      const Instance& inst = instances_.instance(id);
      if (inst.model == model && inst.at_start && inst.state == InstanceState::idle && !inst.served_any) went_idle(id);
    }
    changed = changed || m.ready() != ready || m.starting() != starting;
    // Pinned instances never go, so they do not keep the ticks going.
    if (m.ready() + m.starting() - m.pinned() > policies_.autoscaler->floor_instances()) above_floor = true;
  }
  at_start_before_first_tick_.clear();
  if (!active && !above_floor) return;
  const Time interval = policies_.autoscaler->tick_interval();
  const int64_t skipped = changed ? 0 : ticks_to_skip(interval);
  elided_ticks_ += skipped;
  sim_.schedule_in(Time::from_ns(interval.ns() * (skipped + 1)), handler_, kAutoscaleTick, 0);
}

void ControlPlane::rebalance_tick() {
  // Nothing to balance until the next arrival schedules the next tick: nothing in flight, or
  // nothing else scheduled (requests held at a router for GPUs that no event will free), where
  // ticking on would keep a run going that ends without them.
  if (in_flight_.empty() || sim_.foreground_pending() == 0) {
    rebalance_tick_pending_ = false;
    return;
  }
  for (const ModelId model : instances_.model_ids()) {
    if (instances_.model(model).ready() < 2) continue;
    moves_.clear();
    const std::vector<InstanceLoad> loads = partial_migrations_.loads(model);
    policies_.rebalance->plan(loads, moves_);
    for (const RebalanceMove& move : moves_) partial_migrations_.start(move);
  }
  sim_.schedule_in(policies_.rebalance->interval(), handler_, kRebalanceTick, 0);
}

int64_t ControlPlane::ticks_to_skip(Time interval) const {
  // Quiet: no request in the system, nothing starting, loading or migrating, and the autoscaler
  // settled for every model. Until the next event nothing then changes what a tick sees, and
  // it decides as it just did, so the ticks up to one window (and a tick) before that event
  // are skipped: the ticks after it see the same windows as if none had been.
  if (!in_flight_.empty()) return 0;
  Time window;
  for (const ModelId model : instances_.model_ids()) {
    const ModelState& m = instances_.model(model);
    if (m.starting() > 0 || instances_.instances_in(model, InstanceState::loading) > 0 ||
        instances_.instances_in(model, InstanceState::migrating) > 0)
      return 0;
    const std::optional<Time> settled = policies_.autoscaler->settled_window(model, sim_.now());
    if (!settled) return 0;
    window = std::max(window, *settled);
  }
  const std::optional<Time> next_event = sim_.next_foreground_event_time();
  if (!next_event) return 0;
  const Time quiet = *next_event - sim_.now() - window - interval;
  return quiet > interval ? quiet.ns() / interval.ns() - 1 : 0;
}

void ControlPlane::stop_if_no_progress_possible() {
  // With no arrival left and nothing scheduled but the periodic ticks (the one being handled is
  // popped; the other kind, if configured, is always pending while requests are in flight),
  // requests in flight can only be waiting at their routers, for a start that gets no GPUs. Only a tick can change
  // that, and an autoscaler's decisions rest on windows (Knative's 60 s, a seasonal day): a simulated day and 1,000
  // ticks without another event means none will, and the ticks would go on until the time bound.
  const int64_t other_ticks = (policies_.preload->interval() > Time::zero() ? 1 : 0) + (scaling_by_target_ ? 1 : 0) +
                              (rebalance_tick_pending_ ? 1 : 0) - 1;
  if (next_arrival_ || in_flight_.empty() || sim_.foreground_pending() > other_ticks) {
    waiting_on_ticks_since_.reset();
    ticks_waited_ = 0;
    return;
  }
  if (!waiting_on_ticks_since_) waiting_on_ticks_since_ = sim_.now();
  constexpr int64_t kTicksWithoutProgress = 1000;
  const Time kTimeWithoutProgress = Time::from_seconds(86400);
  if (++ticks_waited_ < kTicksWithoutProgress || sim_.now() - *waiting_on_ticks_since_ < kTimeWithoutProgress) return;
  std::string waiting;
  for (const ModelId model : ids_below<ModelId>(instances_.models()))
    if (router_.holds_any(model))
      waiting += fmt::format("{}{} ({} queued)", waiting.empty() ? "" : ", ", instances_.model(model).served.spec.name,
                             router_.queue(model).size());
  throw InputError(fmt::format(
      "no progress possible at {:.3f} s: {} requests wait at the router for {} but no arrival is left and nothing has "
      "been scheduled except periodic ticks since {:.3f} s: their instances cannot get GPUs (check the "
      "autoscaler's fixed or minimum instances, policies.migration.params.idle_instances_yield and the cluster's "
      "size); no results are written",
      sim_.now().seconds(), in_flight_.size(), waiting, waiting_on_ticks_since_->seconds()));
}

void ControlPlane::scale_to_target(ModelId model, bool may_start) {
  ModelState& m = instances_.model(model);
  m.desired = policies_.autoscaler->desired_instances(demand(model));
  if (may_start)
    for (int64_t have = m.ready() + m.starting(); have < m.desired; ++have) placer_.start(model, StartReason{});
  // Requests at the router keep one start, whatever the forecast says.
  int64_t excess = m.ready() + m.starting() - std::max<int64_t>(m.desired, router_.holds_any(model) ? 1 : 0);
  // Starts still waiting for GPUs are withdrawn first, the latest first, then idle instances,
  // the newest first (none that a partial migration moves requests to or from).
  if (excess > 0) excess -= placer_.withdraw_waiting(model, excess);
  for (auto it = m.instances().rbegin(); excess > 0 && it != m.instances().rend();) {
    const InstanceId id = *it++;
    const Instance& inst = instances_.instance(id);
    if (inst.state != InstanceState::idle || !inst.keep_alive_expired || inst.rebalancing >= 0) continue;
    release(id);
    --excess;
    it = m.instances().rbegin();
  }
}

void ControlPlane::expire(InstanceId id) {
  Instance& inst = instances_.instance(id);
  const ModelState& m = instances_.model(inst.model);
  if (scaling_by_target_ && m.ready() + m.starting() <= m.desired) {
    inst.keep_alive_expired = true;
    return;
  }
  release(id);
}

void ControlPlane::preempt_victim(InstanceId id, ModelId made_room_for) {
  Instance& inst = instances_.instance(id);
  const ModelId victim_model = inst.model;
  MigrationRecord record;
  record.method = "preempt";
  record.model = victim_model;
  record.source = id;
  record.from = inst.server;
  record.made_room_for = made_room_for;
  record.started = record.ended = sim_.now();
  // The step in progress is lost with the instance; its requests start again from scratch.
  if (inst.computing() && sharing_.shared(inst)) share_gpu(id, CardUse::step_ends);
  inst.step_event = 0;
  std::vector<RequestId> restarted;
  for (const auto& [request, tokens] : inst.engine->request_tokens()) restarted.push_back(request);
  std::sort(restarted.begin(), restarted.end());
  for (const RequestId r : restarted) {
    InFlight& f = in_flight_.at(r);
    f.first_token = Time{};
    f.server = ServerId::none();  // back at the router until routed again
    ++f.migrated;
    instances_.request_left(victim_model);
  }
  record.requests = static_cast<int64_t>(restarted.size());
  observer_.on_migration(record);
  release(id);
  for (auto it = restarted.rbegin(); it != restarted.rend(); ++it) router_.hold_first(victim_model, *it);
  if (instances_.model(victim_model).ready() > 0)
    route_queued(victim_model, false);
  else
    autoscale(victim_model);
}

void ControlPlane::switched_over(InstanceId source, InstanceId destination) {
  const ModelId model = instances_.instance(source).model;
  route_queued(model, true);
  kick(destination);
  release(source);
}

void ControlPlane::on_graph_capture(InstanceId id) {
  Instance& inst = instances_.instance(id);
  if (!sharing_.shared(inst)) return;
  inst.capturing_graphs = true;
  share_gpu(id, CardUse::capture_begins);
}

void ControlPlane::on_load_done(InstanceId id, const LoadOutcome& outcome) {
  Instance& inst = instances_.instance(id);
  if (inst.capturing_graphs) {
    inst.capturing_graphs = false;
    share_gpu(id, CardUse::capture_ends);
  }
  const ModelId model = inst.model;
  // Serving since its transfers began (live scaling) or since its group held its slices
  // (execute-while-load), it is counted ready already.
  const bool live = live_.live(id);
  if (live) end_live(id, false);
  const bool early = live || inst.group_pipeline;
  if (inst.group_pipeline) {
    instances_.end_group_pipeline(id);
    // A fast-forwarded run of decode steps was timed with the hand-offs: it stops after its step.
    cut_run_short(id);
  }
  inst.load = outcome;
  if (!early) inst.ready_at = sim_.now();
  const Time load_time = sim_.now() - inst.load_started;
  observer_.on_load(id, model, inst.server, outcome.tier, load_time);
  if (inst.estimated_start_s >= 0)
    observer_.on_placement_estimate(model, Time::from_seconds(inst.estimated_start_s), sim_.now() - inst.placed);
  policies_.autoscaler->on_load(model, load_time);
  // A migration's destination serves like any instance from now; the model stops counting its
  // source as starting. One whose live source went holds the requests it took meanwhile.
  if (!early) {
    instances_.load_finished(model);
    instances_.set_state(id, inst.engine->stepping() ? InstanceState::busy : InstanceState::idle);
  }
  if (inst.migration >= 0) {
    migration_.destination_loaded(id);
    // A source with nothing left switches at once, and the switch set everything going.
    if (instances_.instance(id).migration < 0) return;
  }
  route_queued(model, true);
  if (instances_.instance(id).state != InstanceState::idle) return;
  if (instances_.instance(id).engine->outstanding() > 0)
    kick(id);
  else
    went_idle(id);
}

void ControlPlane::kick(InstanceId id) {
  Instance& inst = instances_.instance(id);
  // One whose live source went steps again once loaded.
  if (inst.engine->stepping() || (inst.state == InstanceState::loading && inst.migration < 0)) return;
  inst.expiry.cancel();
  inst.keep_alive_expired = false;
  // A seat of a card shared by model switching steps only while the card is its; until then its
  // requests wait, and it counts as busy.
  if (!switching_.may_step(id)) {
    if (inst.state == InstanceState::idle) instances_.set_state(id, InstanceState::busy);
    return;
  }
  // A step moves requests between the engine's queues but never changes how many it holds, so
  // the routing index needs no update here.
  ElasticKvPool& pool = instances_.kv_pool();
  const bool elastic = pool.member(id);
  if (elastic) pool.lend(id, *inst.engine);
  const auto duration = inst.engine->begin_step();
  if (elastic) pool.reclaim(id, *inst.engine);
  if (!duration) {
    went_idle(id);
    return;
  }
  if (inst.state != InstanceState::migrating) instances_.set_state(id, InstanceState::busy);
  inst.step_started = sim_.now();
  inst.step_alone_length = *duration;
  inst.step_done_alone = Time::zero();
  inst.step_progress_at = sim_.now();
  inst.step_slowdown = 1;
  inst.step_event = 0;
  inst.moving_kv = kv_transfers_.start(id, inst.server, inst.gpus, inst.engine->kv_moves());
  if (!inst.moving_kv) begin_compute(id);
}

void ControlPlane::on_kv_moved(InstanceId id) {
  Instance& inst = instances_.instance(id);
  inst.moving_kv = false;
  inst.engine->kv_moved(sim_.now() - inst.step_started);
  inst.step_progress_at = sim_.now();
  begin_compute(id);
}

void ControlPlane::begin_compute(InstanceId id) {
  Instance& inst = instances_.instance(id);
  if (live_.live(id)) {
    const double share = LiveScaling::step_share(loader_.loaded_fraction(id));
    if (share > 0) set_source_share(id, share);
  }
  if (sharing_.shared(inst)) share_gpu(id, CardUse::step_begins);
  if (sharing_.shared(inst) || live_.any()) inst.step_slowdown = slowdown(id);
  time_step_end(id);
}

void ControlPlane::on_step_done(InstanceId id) {
  Instance& inst = instances_.instance(id);
  inst.step_event = 0;
  if (inst.source_share > 0) set_source_share(id, 0);
  if (sharing_.shared(inst)) share_gpu(id, CardUse::step_ends);
  const int64_t batch = inst.engine->outstanding();
  const StepResult& result = inst.engine->finish_step();
  if (instances_.kv_pool().member(id)) instances_.kv_pool().reclaim(id, *inst.engine);
  if (!result.finished.empty()) instances_.reindex(id);  // only a completion changes how many it holds
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
    ++counts_.finished;
    in_flight_.erase(r);
    instances_.request_left(inst.model);
  }
  if (!result.finished.empty() && instances_.model(inst.model).outstanding() == 0 && !router_.holds_any(inst.model))
    model_went_idle(inst.model);
  if (inst.rebalancing >= 0 && partial_migrations_.step_done(id)) return;
  if (inst.migration >= 0 && migration_.step_done(id)) return;
  kick(id);
}

void ControlPlane::went_idle(InstanceId id) {
  Instance& inst = instances_.instance(id);
  // Still loading (live scaling, or a group's pipeline): its keep-alive starts when the load is done.
  if (live_.live(id) || inst.group_pipeline) {
    instances_.set_state(id, InstanceState::idle);
    return;
  }
  // A migration's instances stay until the switch: the source with nothing left to decode waits
  // for the next round to let go, the destination for what it is being sent.
  if (inst.migration >= 0) {
    if (inst.state != InstanceState::migrating) instances_.set_state(id, InstanceState::idle);
    return;
  }
  instances_.set_state(id, InstanceState::idle);
  // Requests move to or from it: the keep-alive counts from the end of the move.
  if (inst.rebalancing >= 0) return;
  if (inst.pinned) return;  // kept to the end of the run, whatever the keep-alive says
  if (inst.reason.prewarm && !inst.served_any) {
    inst.expiry.arm(sim_, sim_.now() + inst.reason.keep_alive, handler_, kIdleExpired, id.value());
    placer_.place_waiting();  // kept idle: a start waiting for GPUs may take them
    return;
  }
  const KeepAliveDecision d = policies_.keepalive->decide(inst.model, sim_.now());
  // A target-based autoscaler decides what runs ahead of demand; pre-warming is the
  // reactive autoscaler's companion.
  if (d.prewarm_after > Time::zero() && !scaling_by_target_) {
    const ModelId model = inst.model;
    release(id, d.keep_checkpoint_in_dram);
    sim_.schedule_in(d.prewarm_after, handler_, kPrewarm, model.value());
    return;
  }
  if (d.keep_alive == Time::zero() && !scaling_by_target_) {
    release(id, d.keep_checkpoint_in_dram);
    return;
  }
  if (d.keep_alive == Time::zero())
    expire(id);
  else
    inst.expiry.arm(sim_, sim_.now() + d.keep_alive, handler_, kIdleExpired, id.value());
  placer_.place_waiting();  // kept idle: a start waiting for GPUs may take them
}

void ControlPlane::model_went_idle(ModelId model) {
  policies_.keepalive->on_idle(model, sim_.now());
  policies_.preload->on_idle(model, sim_.now());
  run_preload_plan();
}

void ControlPlane::release(InstanceId id) {
  release(id, policies_.keepalive->decide(instances_.instance(id).model, sim_.now()).keep_checkpoint_in_dram);
}

void ControlPlane::release(InstanceId id, bool keep_checkpoint_in_dram) {
  Instance& inst = instances_.instance(id);
  if (inst.computing() && sharing_.shared(inst)) share_gpu(id, CardUse::step_ends);
  // Live-scaling instances reading this one wait for the rest of their loads.
  if (live_.any()) live_.for_each_reader(id, [&](InstanceId other) { end_live(other, true); });
  kv_transfers_.cancel(id);
  inst.moving_kv = false;
  const std::vector<ServerId> stage_servers = inst.stage_servers();
  if (!stage_servers.empty()) loader_.cancel_consolidation(id);
  const ServerId server = inst.server;
  const std::vector<CheckpointPart>& checkpoint = instances_.model(inst.model).served.checkpoint;
  // Kept: as ServerlessLLM's pool does. Not kept: the parts this instance's load put in DRAM
  // leave with it; a part the cache held before the load stays for whoever put it there.
  for (size_t i = 0; i < checkpoint.size(); ++i) {
    if (keep_checkpoint_in_dram)
      loader_.keep_in_dram(server, checkpoint[i]);
    else if (inst.load.cached_in_dram(i))
      loader_.drop_from_dram(server, checkpoint[i].id);
  }
  instances_.retire(id);
  switching_.leave(id);
  placer_.fill_reservations(server);
  for (const ServerId stage_server : stage_servers) placer_.fill_reservations(stage_server);
  placer_.place_waiting();
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
  const ModelState& m = instances_.model(action.model);
  if (action.target == PreloadAction::Target::instance) {
    if (m.ready() + m.starting() == 0) placer_.start(action.model, StartReason{true, action.keep_alive});
    return;
  }
  // A checkpoint with no server named goes where the model last ran.
  ServerId server = action.server;
  if (server.is_none()) server = m.last_server.is_none() ? ServerId(0) : m.last_server;
  const Tier tier = action.target == PreloadAction::Target::dram ? Tier::dram : Tier::ssd;
  for (const CheckpointPart& part : m.served.checkpoint) loader_.preload(server, part, tier);
}

void ControlPlane::audit() const {
  audit_control_plane(
      ControlPlaneView{counts_, in_flight_, router_, instances_, migration_, partial_migrations_, cluster_});
  if (kv_tiers_) kv_tiers_->audit();
  live_.audit();
  switching_.audit();
  for (const InstanceId id : instances_.instance_ids()) {
    const Instance& inst = instances_.instance(id);
    if (inst.engine && inst.moving_kv != kv_transfers_.moving(id))
      throw std::logic_error(fmt::format("instance {} {} KV bytes the transfers {}", id.value(),
                                         inst.moving_kv ? "waits for" : "does not wait for",
                                         inst.moving_kv ? "do not move" : "move"));
  }
}

}  // namespace slsim
