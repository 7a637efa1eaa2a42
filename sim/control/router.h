#pragma once
// Admission and the router: refuses a request no instance could ever serve, holds a model's
// requests while none of its instances is ready (one FIFO queue per model), and hands a request
// to the serving instance the routing policy picks (least-outstanding through the model's
// routing index, without a scan). Stepping that instance is the caller's part.
//
// Invariant: a request in a router queue is in flight and dispatched to no server.

#include <cstdint>
#include <deque>
#include <vector>

#include "sim/control/in_flight.h"
#include "sim/control/instance_registry.h"
#include "sim/core/fields.h"
#include "sim/core/simulator.h"
#include "sim/policy/scheduler/routing.h"

namespace slsim {

// A model's router queue is bounded so that a burst at a model whose instances cannot start
// (or start too slowly) costs bounded memory; the default is far above any queue of the
// reference scenarios, so it only guards against runaway runs.
struct RouterParams {
  int64_t max_queued_per_model = 1'000'000;
  // The request path before the router acts (client to gateway, the API server's parsing and
  // tokenization, the hand-over to the engine's process): every request's TTFT carries it. The
  // testbed's controller hands a request to its instance's process in about 0.4 ms
  // (0.34-0.44 ms over runs 3-7, results/validation-coldstart).
  double dispatch_latency_s = 0;

  template <class V>
  void visit(V& v) {
    v.field("max_queued_per_model", max_queued_per_model,
            "most requests waiting at one model's router for an instance; one arriving at a full queue is "
            "rejected (`router queue full`)",
            at_least(1));
    v.field("dispatch_latency_s", dispatch_latency_s,
            "seconds from a request's arrival until the router acts on it (gateway, API server, hand-over to "
            "the engine's process); counted in its TTFT",
            at_least(0));
  }
};

class Router {
 public:
  Router(const Simulator& sim, InstanceRegistry& instances, RoutingPolicy& routing, InFlightRequests& in_flight,
         const RouterParams& params);

  // How long after its arrival the router acts on a request (dispatch_latency_s).
  Time dispatch_latency() const { return dispatch_latency_; }

  // Why the request can never be served, or nullptr when it can.
  const char* refusal(const Request& r) const;

  const std::deque<RequestId>& queue(ModelId model) const { return queues_[model]; }
  bool holds_any(ModelId model) const { return !queues_[model].empty(); }
  // A new arrival would exceed max_queued_per_model (requests taken back from a preempted
  // instance are held regardless: they were admitted).
  bool full(ModelId model) const { return static_cast<int64_t>(queues_[model].size()) >= params_.max_queued_per_model; }
  // The input tokens of the requests held for the model: the demand a preemptive placement
  // weighs against the work its victims would lose. Kept as requests come and go, not summed.
  int64_t queued_input_tokens(ModelId model) const { return queued_input_tokens_[model]; }
  // Holds a request (in flight) until an instance of its model is ready: last in line, or, for
  // one taken back from a preempted instance, first.
  void hold(ModelId model, RequestId id);
  void hold_first(ModelId model, RequestId id);
  RequestId pop(ModelId model);

  // Enqueues the request in the best serving instance of its model and returns that instance;
  // `cold_start`: it waited at the router for an instance to start.
  InstanceId route(RequestId id, bool cold_start);

 private:
  const Simulator& sim_;
  InstanceRegistry& instances_;
  RoutingPolicy& routing_;
  InFlightRequests& in_flight_;
  RouterParams params_;
  Time dispatch_latency_;
  IdVector<ModelId, std::deque<RequestId>> queues_;
  IdVector<ModelId, int64_t> queued_input_tokens_;
  std::vector<RouteCandidate> candidates_;
};

}  // namespace slsim
