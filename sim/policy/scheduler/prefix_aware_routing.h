#pragma once
// Prefix-aware routing, after the SGLang router's cache-aware policy and llm-d's precise prefix
// scorer: a request goes to the ready instance whose GPU prefix cache holds most of its prompt,
// unless that instance is overloaded next to the least loaded one, where queueing would cost
// more than the recomputation saved. Unlike SGLang's router, which mirrors the prompts it has
// routed in an approximate radix tree per worker, this reads the engines' caches themselves
// (as llm-d's precise scorer does with KV events): the cache is what decides the hit.

#include <cstddef>
#include <cstdint>
#include <span>

#include "sim/core/fields.h"
#include "sim/policy/scheduler/routing.h"

namespace slsim {

class PrefixAwareRouting final : public RoutingPolicy {
 public:
  // The load guard: the longest-prefix instance is passed over for the least-outstanding one
  // when it has more than `balance_abs_requests` requests in flight above that one AND more
  // than `balance_rel` times as many (both, so that neither a small instance count nor a
  // large one alone triggers it). Defaults are the SGLang router's (docs/decisions.md).
  struct Params {
    int64_t balance_abs_requests = 64;
    double balance_rel = 1.5;

    template <class V>
    void visit(V& v) {
      v.field("balance_abs_requests", balance_abs_requests,
              "requests in flight the longest-prefix instance may have above the least loaded one before "
              "least-outstanding takes over (with balance_rel; SGLang router default 64)",
              at_least(0));
      v.field("balance_rel", balance_rel,
              "... and the ratio of its requests in flight to the least loaded one's above which "
              "least-outstanding takes over (SGLang router default 1.5)",
              at_least(1));
    }
  };
  PrefixAwareRouting(const Params& params, Context&) : params_(params) {}
  size_t route(ModelId model, std::span<const RouteCandidate> ready) override;
  bool reads_cached_prefixes() const override { return true; }

 private:
  Params params_;
};

}  // namespace slsim
