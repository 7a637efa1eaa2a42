#include "sim/control/router.h"

#include <algorithm>
#include <stdexcept>

namespace slsim {

Router::Router(const Simulator& sim, InstanceRegistry& instances, RoutingPolicy& routing, InFlightRequests& in_flight,
               const RouterParams& params)
    : sim_(sim),
      instances_(instances),
      routing_(routing),
      in_flight_(in_flight),
      params_(params),
      dispatch_latency_(Time::from_seconds(params.dispatch_latency_s)),
      queues_(instances.models()),
      queued_input_tokens_(instances.models(), 0) {}

void Router::hold(ModelId model, RequestId id) {
  queued_input_tokens_[model] += in_flight_.at(id).request.input_tokens;
  queues_[model].push_back(id);
}

void Router::hold_first(ModelId model, RequestId id) {
  queued_input_tokens_[model] += in_flight_.at(id).request.input_tokens;
  queues_[model].push_front(id);
}

RequestId Router::pop(ModelId model) {
  const RequestId id = queues_[model].front();
  queues_[model].pop_front();
  queued_input_tokens_[model] -= in_flight_.at(id).request.input_tokens;
  return id;
}

const char* Router::refusal(const Request& r) const {
  const ModelState& m = instances_.model(r.model);
  const EngineParams& engine = instances_.engine_params();
  if (m.fit_tokens == 0) return "model fits no server";
  if (r.input_tokens + r.output_tokens > m.served.spec.architecture.max_context)
    return "longer than the model's context window";
  if (std::max(r.samples, r.beam_width) > engine.max_num_seqs)
    return "more parallel sequences than engine.max_num_seqs";
  if (kv_footprint_tokens(engine, m.served.spec.architecture.max_context, engine_request(r)) > m.fit_tokens)
    return "larger than the KV cache of any instance";
  return nullptr;
}

InstanceId Router::route(RequestId id, bool cold_start) {
  InFlight& f = in_flight_.at(id);
  const ModelState& m = instances_.model(f.request.model);
  InstanceId best;
  if (routing_.routes_to_least_outstanding()) {
    if (m.route_index().empty()) throw std::logic_error("routed a request to a model without a ready instance");
    best = m.route_index().best();
  } else {
    candidates_.clear();
    const bool prefixes = routing_.reads_cached_prefixes();
    for (const InstanceId i : m.instances()) {
      const Instance& inst = instances_.instance(i);
      if (!serving(inst.state)) continue;
      candidates_.push_back(RouteCandidate{
          i, inst.engine->outstanding(),
          prefixes ? inst.engine->cached_prefix_tokens(f.request.input_tokens, f.request.prefix_blocks) : 0});
    }
    if (candidates_.empty()) throw std::logic_error("routed a request to a model without a ready instance");
    best = candidates_[routing_.route(f.request.model, candidates_)].instance;
  }
  Instance& inst = instances_.instance(best);
  f.cold_start = cold_start;
  f.dispatched = sim_.now();
  f.server = inst.server;
  f.load_tier = inst.load.tier;
  f.preloaded = inst.load.preloaded || (inst.reason.prewarm && !inst.served_any);
  if (cold_start) f.load_wait = inst.ready_at - std::max(f.request.arrival, inst.load_started);
  inst.served_any = true;
  instances_.request_dispatched(f.request.model);
  inst.engine->enqueue(engine_request(f.request));
  instances_.reindex(best);
  return best;
}

}  // namespace slsim
