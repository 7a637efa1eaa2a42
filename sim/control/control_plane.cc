#include "sim/control/control_plane.h"

#include <algorithm>
#include <fmt/format.h>
#include <stdexcept>

namespace slsim {
namespace {

EngineRequest engine_request(const Request& r) {
  return EngineRequest{r.id, r.input_tokens, r.output_tokens, r.samples, r.beam_width, r.prefix_blocks};
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
      handler_(sim.add_handler(this)) {
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
  if (next_arrival_) sim_.schedule_at(next_arrival_->arrival, handler_, kArrival, 0);
}

void ControlPlane::on_event(const Event& event) {
  switch (event.kind) {
    case kArrival: on_arrival(); break;
    case kStepDone:
      if (instances_[event.target].step_event == event.seq) on_step_done(event.target);
      break;
    case kIdleExpired:
      if (instances_[event.target].expiry_event == event.seq) {
        instances_[event.target].expiry_event = 0;
        release(event.target, policies_.keepalive->decide(instances_[event.target].model, sim_.now()).keep_checkpoint_in_dram);
      }
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
  in_flight_.emplace(r.id, InFlight{r, Time{}, false, Time{}, Time{}, Tier::remote, false, kNoId});
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
  InstanceId best = kNoId;
  int64_t best_load = 0;
  for (const InstanceId i : m.instances) {
    const Instance& inst = instances_[i];
    if (inst.state == InstanceState::loading) continue;
    const int64_t load = inst.engine->outstanding();
    if (best == kNoId || load < best_load) {
      best = i;
      best_load = load;
    }
  }
  if (best == kNoId) throw std::logic_error("routed a request to a model without a ready instance");
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
  if (inst.engine->stepping()) {
    // A run of decode steps ends early so that the next step can admit this request.
    const Time end = sim_.now() + inst.engine->interrupt(sim_.now() - inst.step_started);
    if (end != inst.step_end) {
      inst.step_end = end;
      inst.step_event = sim_.schedule_at(end, handler_, kStepDone, best);
    }
  }
  kick(best);
}

void ControlPlane::autoscale(ModelId model) {
  ModelState& m = models_[model];
  ModelDemand demand;
  demand.model = model;
  demand.now = sim_.now();
  demand.ready_instances = m.ready;
  demand.starting_instances = m.starting;
  demand.queued_requests = static_cast<int64_t>(m.router_queue.size());
  demand.outstanding_requests = m.outstanding;
  const int64_t to_start = policies_.autoscaler->instances_to_start(demand);
  for (int64_t i = 0; i < to_start; ++i) start_instance(model, StartReason{});
}

void ControlPlane::start_instance(ModelId model, StartReason reason) {
  ++models_[model].starting;
  if (!try_place(model, reason)) waiting_for_gpus_.emplace_back(model, reason);
}

bool ControlPlane::try_place(ModelId model, StartReason reason) {
  ModelState& m = models_[model];
  const auto server = policies_.placement->place(
      PlacementRequest{model, m.served.tensor_parallel, m.checkpoint_bytes});
  if (!server) return false;

  InstanceId id;
  if (!free_instance_slots_.empty()) {
    id = free_instance_slots_.back();
    free_instance_slots_.pop_back();
  } else {
    id = static_cast<InstanceId>(instances_.size());
    instances_.emplace_back();
  }
  Instance& inst = instances_[id];
  const GpuProfile& gpu = *cluster_.server(*server).gpu;
  inst = Instance{};
  inst.model = model;
  inst.server = *server;
  inst.reason = reason;
  inst.gpus = cluster_.take_gpus(*server, m.served.tensor_parallel);
  inst.load_started = sim_.now();
  start_engine(inst, gpu);
  m.last_server = *server;

  LoadRequest load{id, *server, inst.gpus, {}, m.served.checkpoint};
  // A loaded copy of the same model on this server can be copied GPU to GPU.
  for (const InstanceId other : m.instances) {
    const Instance& o = instances_[other];
    if (o.server == *server && o.state != InstanceState::loading) {
      load.source_gpus = o.gpus;
      break;
    }
  }
  m.instances.push_back(id);
  set_state(id, InstanceState::loading);
  loader_.start(load, *this);
  return true;
}

void ControlPlane::place_waiting() {
  const size_t waiting = waiting_for_gpus_.size();
  for (size_t i = 0; i < waiting; ++i) {
    const auto [model, reason] = waiting_for_gpus_.front();
    waiting_for_gpus_.pop_front();
    if (!try_place(model, reason)) waiting_for_gpus_.emplace_back(model, reason);
  }
}

void ControlPlane::on_load_done(InstanceId id, const LoadOutcome& outcome) {
  Instance& inst = instances_[id];
  ModelState& m = models_[inst.model];
  inst.load = outcome;
  inst.ready_at = sim_.now();
  observer_.on_load(id, inst.model, inst.server, outcome.tier, inst.ready_at - inst.load_started);
  --m.starting;
  ++m.ready;
  set_state(id, InstanceState::idle);
  while (!m.router_queue.empty()) {
    const RequestId r = m.router_queue.front();
    m.router_queue.pop_front();
    route(r, true);
  }
  if (inst.state == InstanceState::idle) went_idle(id);
}

void ControlPlane::kick(InstanceId id) {
  Instance& inst = instances_[id];
  if (inst.engine->stepping()) return;
  inst.expiry_event = 0;
  const auto duration = inst.engine->begin_step();
  if (!duration) {
    went_idle(id);
    return;
  }
  set_state(id, InstanceState::busy);
  inst.step_started = sim_.now();
  inst.step_end = sim_.now() + *duration;
  inst.step_event = sim_.schedule_at(inst.step_end, handler_, kStepDone, id);
}

void ControlPlane::on_step_done(InstanceId id) {
  Instance& inst = instances_[id];
  inst.step_event = 0;
  ModelState& m = models_[inst.model];
  const StepResult& result = inst.engine->finish_step();
  for (const RequestId r : result.first_tokens) in_flight_.at(r).first_token = sim_.now();
  for (const RequestId r : result.finished) {
    const auto it = in_flight_.find(r);
    const InFlight& f = it->second;
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
    observer_.on_finished(outcome);
    ++finished_;
    in_flight_.erase(it);
    --m.outstanding;
  }
  if (!result.finished.empty() && m.outstanding == 0 && m.router_queue.empty()) model_went_idle(inst.model);
  kick(id);
}

void ControlPlane::went_idle(InstanceId id) {
  Instance& inst = instances_[id];
  set_state(id, InstanceState::idle);
  if (inst.reason.prewarm && !inst.served_any) {
    inst.expiry_event = sim_.schedule_in(inst.reason.keep_alive, handler_, kIdleExpired, id);
    return;
  }
  const KeepAliveDecision d = policies_.keepalive->decide(inst.model, sim_.now());
  if (d.prewarm_after > Time::zero()) {
    const ModelId model = inst.model;
    release(id, d.keep_checkpoint_in_dram);
    sim_.schedule_in(d.prewarm_after, handler_, kPrewarm, model);
    return;
  }
  if (d.keep_alive == Time::zero()) {
    release(id, d.keep_checkpoint_in_dram);
    return;
  }
  inst.expiry_event = sim_.schedule_in(d.keep_alive, handler_, kIdleExpired, id);
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
  free_instance_slots_.push_back(id);
  place_waiting();
}

void ControlPlane::set_state(InstanceId id, InstanceState to) {
  Instance& inst = instances_[id];
  if (inst.state == to) return;
  observer_.on_instance(InstanceTransition{id, inst.model, inst.server, models_[inst.model].served.tensor_parallel,
                                           inst.state, to, sim_.now()});
  inst.state = to;
}

void ControlPlane::run_preload_plan() {
  plan_.clear();
  policies_.preload->plan(sim_.now(), plan_);
  for (const PreloadAction& action : plan_) {
    if (action.at <= sim_.now()) {
      act(action);
      continue;
    }
    uint32_t slot;
    if (!free_action_slots_.empty()) {
      slot = free_action_slots_.back();
      free_action_slots_.pop_back();
    } else {
      slot = static_cast<uint32_t>(scheduled_actions_.size());
      scheduled_actions_.emplace_back();
    }
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
      const auto it = in_flight_.find(id);
      if (it == in_flight_.end() || it->second.server != kNoId)
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
    inst.engine->blocks().audit();
  }
  int64_t dispatched = 0;
  for (const auto& [id, f] : in_flight_) dispatched += f.server != kNoId;
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
