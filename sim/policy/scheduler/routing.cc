#include "sim/policy/scheduler/routing.h"

#include "sim/policy/scheduler/prefix_aware_routing.h"

namespace slsim {

size_t LeastOutstandingRouting::route(ModelId, std::span<const RouteCandidate> ready) {
  size_t best = 0;
  for (size_t i = 1; i < ready.size(); ++i)
    if (ready[i].outstanding < ready[best].outstanding) best = i;
  return best;
}

size_t RoundRobinRouting::route(ModelId model, std::span<const RouteCandidate> ready) {
  if (model.index() >= next_.size()) next_.resize(model.index() + 1, 0);
  return next_[model]++ % ready.size();
}

const Registry<RoutingPolicy>& routing_policies() {
  static const Registry<RoutingPolicy> registry = [] {
    Registry<RoutingPolicy> r;
    r.add<LeastOutstandingRouting>("least-outstanding", "the ready instance with the fewest requests in flight");
    r.add<RoundRobinRouting>("round-robin", "each model's ready instances in turn");
    r.add<RandomRouting>("random", "a ready instance drawn uniformly");
    r.add<PrefixAwareRouting>("prefix-aware",
                              "the ready instance whose GPU prefix cache holds most of the prompt, unless it is "
                              "overloaded next to the least loaded one (SGLang router's cache-aware policy)");
    return r;
  }();
  return registry;
}

}  // namespace slsim
