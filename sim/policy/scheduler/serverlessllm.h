#pragma once

#include "sim/policy/scheduler/placement.h"

namespace slsim {

// ServerlessLLM's startup-time-optimized scheduler (Fu et al., OSDI'24, §6): for each server,
// the time until the instance could run = the server's loading-queue wait + the checkpoint's
// load time from the fastest tier holding it; where GPUs must first be freed (and the
// migration policy allows it), plus the migration time a·tokens + b of the cheapest instances
// in the way (a live migration also waits for the victim's model to load elsewhere). Picks the
// least; ties go to the lowest server id. As ServerlessLLM refines its estimator from observed
// loads, a tier's bandwidth is the server's moving average of measured load rates once it has one.
class ServerlessLlmPlacement final : public PlacementPolicy {
 public:
  struct Params {
    double migration_base_s = -1;
    double migration_s_per_token = -1;
    bool refine_from_observed_loads = true;

    template <class V>
    void visit(V& v) {
      v.field("migration_base_s", migration_base_s,
              "b: fixed part of a migration's time, s; < 0: fitted from the victim's latency model (prefill time of "
              "one token)");
      v.field("migration_s_per_token", migration_s_per_token,
              "a: migration time per token to recompute, s; < 0: fitted from the victim's latency model (prefill "
              "time per token between 1 and 2,048 tokens)");
      v.field("refine_from_observed_loads", refine_from_observed_loads,
              "estimate a load with the rates the server's earlier loads from the same tier achieved (the loader's "
              "moving average, loader.observed_rate_weight) instead of the idle-link rates, where it has them");
    }
  };
  ServerlessLlmPlacement(const Params& params, Context& context)
      : params_(params), cluster_(context.cluster), loader_(context.loader) {}
  std::optional<Placement> place(const PlacementRequest& request) override;

  // The estimated migration time of one instance: a·tokens + b, plus its model's load elsewhere.
  double migration_s(const InstanceView& victim) const;

 private:
  Params params_;
  const Cluster& cluster_;
  const Loader& loader_;
};

}  // namespace slsim
