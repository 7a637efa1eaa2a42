#pragma once
// Routing: which of a model's ready instances a request goes to.

#include <cstddef>
#include <span>
#include <vector>

#include "sim/core/random.h"
#include "sim/core/registry.h"
#include "sim/policy/views.h"

namespace slsim {

class RoutingPolicy {
 public:
  static constexpr const char* kind = "routing";
  struct Context {
    RandomStream random;
  };
  virtual ~RoutingPolicy() = default;
  // The index in `ready` (never empty, in the order the instances started) of the instance
  // that gets the request.
  virtual size_t route(ModelId model, std::span<const RouteCandidate> ready) = 0;
  // True when route() always picks the fewest requests in flight, ties to the earliest started:
  // the control plane then answers from its index of instances by that count, without building
  // the candidates.
  virtual bool routes_to_least_outstanding() const { return false; }
  // True when route() reads the candidates' cached_prefix_tokens (a lookup per instance, so
  // only done when asked).
  virtual bool reads_cached_prefixes() const { return false; }
};

const Registry<RoutingPolicy>& routing_policies();

// The instance with the fewest requests in flight; ties go to the earliest started.
class LeastOutstandingRouting final : public RoutingPolicy {
 public:
  struct Params {
    template <class V>
    void visit(V&) {}
  };
  LeastOutstandingRouting(const Params&, Context&) {}
  size_t route(ModelId model, std::span<const RouteCandidate> ready) override;
  bool routes_to_least_outstanding() const override { return true; }
};

// Each model's requests go to its ready instances in turn.
class RoundRobinRouting final : public RoutingPolicy {
 public:
  struct Params {
    template <class V>
    void visit(V&) {}
  };
  RoundRobinRouting(const Params&, Context&) {}
  size_t route(ModelId model, std::span<const RouteCandidate> ready) override;

 private:
  IdVector<ModelId, size_t> next_;
};

// A ready instance drawn uniformly (stream `routing`).
class RandomRouting final : public RoutingPolicy {
 public:
  struct Params {
    template <class V>
    void visit(V&) {}
  };
  RandomRouting(const Params&, Context& context) : random_(context.random) {}
  size_t route(ModelId, std::span<const RouteCandidate> ready) override { return random_.below(ready.size()); }

 private:
  RandomStream random_;
};

}  // namespace slsim
