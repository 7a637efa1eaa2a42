#include "sim/control/control_plane.h"

#include <algorithm>
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

void ControlPlane::start() { schedule_next_arrival(); }

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
    case kLoadDone: on_load_done(event.target); break;
    case kStepDone:
      if (instances_[event.target].step_event == event.seq) on_step_done(event.target);
      break;
    case kIdleExpired:
      if (instances_[event.target].expiry_event == event.seq) on_idle_expired(event.target);
      break;
    default: throw std::logic_error("unknown control-plane event");
  }
}

void ControlPlane::on_arrival() {
  const Request r = *next_arrival_;
  schedule_next_arrival();
  observer_.on_arrival(r);
  ModelState& m = models_[r.model];
  policies_.keepalive->on_request(r.model, sim_.now());
  const int64_t sequence = r.input_tokens + r.output_tokens;
  if (sequence > m.served.spec.architecture.max_context) {
    observer_.on_rejected(r, "longer than the model's context window");
    return;
  }
  if (std::max(r.samples, r.beam_width) > engine_params_.max_num_seqs) {
    observer_.on_rejected(r, "more parallel sequences than engine.max_num_seqs");
    return;
  }
  if (kv_footprint_tokens(engine_params_, m.served.spec.architecture.max_context, engine_request(r)) >
      m.longest_fit_tokens) {
    observer_.on_rejected(r, "larger than the KV cache of any instance");
    return;
  }
  in_flight_.emplace(r.id, InFlight{r, Time{}, false, Time{}, kNoId});
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
  for (int64_t i = 0; i < to_start; ++i) {
    ++m.starting;
    if (!try_place(model)) waiting_for_gpus_.push_back(model);
  }
}

bool ControlPlane::try_place(ModelId model) {
  ModelState& m = models_[model];
  const auto server = policies_.placement->place(
      PlacementRequest{model, m.served.tensor_parallel, m.checkpoint_bytes});
  if (!server) return false;
  cluster_.take_gpus(*server, m.served.tensor_parallel);

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
  start_engine(inst, gpu);
  m.instances.push_back(id);
  set_state(id, InstanceState::loading);

  const LoadPlan plan = loader_.plan(*server, model, m.checkpoint_bytes, m.served.tensor_parallel);
  inst.load_tier = plan.tier;
  observer_.on_load(id, model, *server, plan.tier, plan.duration);
  sim_.schedule_in(plan.duration, handler_, kLoadDone, id);
  return true;
}

void ControlPlane::place_waiting() {
  const size_t waiting = waiting_for_gpus_.size();
  for (size_t i = 0; i < waiting; ++i) {
    const ModelId model = waiting_for_gpus_.front();
    waiting_for_gpus_.pop_front();
    if (!try_place(model)) waiting_for_gpus_.push_back(model);
  }
}

void ControlPlane::on_load_done(InstanceId id) {
  Instance& inst = instances_[id];
  ModelState& m = models_[inst.model];
  loader_.on_loaded(inst.server, inst.model, m.checkpoint_bytes, inst.load_tier);
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
    outcome.server = f.server;
    observer_.on_finished(outcome);
    in_flight_.erase(it);
    --m.outstanding;
  }
  kick(id);
}

void ControlPlane::went_idle(InstanceId id) {
  Instance& inst = instances_[id];
  set_state(id, InstanceState::idle);
  const Time timeout = policies_.keepalive->idle_timeout(inst.model, sim_.now());
  if (timeout == Time::zero()) {
    release(id);
    return;
  }
  inst.expiry_event = sim_.schedule_in(timeout, handler_, kIdleExpired, id);
}

void ControlPlane::on_idle_expired(InstanceId id) {
  instances_[id].expiry_event = 0;
  release(id);
}

void ControlPlane::release(InstanceId id) {
  Instance& inst = instances_[id];
  ModelState& m = models_[inst.model];
  set_state(id, InstanceState::released);
  cluster_.give_back_gpus(inst.server, m.served.tensor_parallel);
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

}  // namespace slsim
