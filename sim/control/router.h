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
#include "sim/core/simulator.h"
#include "sim/policy/scheduler/routing.h"

namespace slsim {

class Router {
 public:
  Router(const Simulator& sim, InstanceRegistry& instances, RoutingPolicy& routing, InFlightRequests& in_flight);

  // Why the request can never be served, or nullptr when it can.
  const char* refusal(const Request& r) const;

  const std::deque<RequestId>& queue(ModelId model) const { return queues_[model]; }
  bool holds_any(ModelId model) const { return !queues_[model].empty(); }
  // Holds a request until an instance of its model is ready: last in line, or, for one taken
  // back from a preempted instance, first.
  void hold(ModelId model, RequestId id) { queues_[model].push_back(id); }
  void hold_first(ModelId model, RequestId id) { queues_[model].push_front(id); }
  RequestId pop(ModelId model) {
    const RequestId id = queues_[model].front();
    queues_[model].pop_front();
    return id;
  }

  // Enqueues the request in the best serving instance of its model and returns that instance;
  // `cold_start`: it waited at the router for an instance to start.
  InstanceId route(RequestId id, bool cold_start);

 private:
  const Simulator& sim_;
  InstanceRegistry& instances_;
  RoutingPolicy& routing_;
  InFlightRequests& in_flight_;
  IdVector<ModelId, std::deque<RequestId>> queues_;
  std::vector<RouteCandidate> candidates_;
};

}  // namespace slsim
