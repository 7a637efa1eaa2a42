#include "sim/policy/scheduler/serverlessllm.h"

#include <algorithm>

namespace slsim {

double ServerlessLlmPlacement::migration_s(const InstanceView& victim) const {
  if (victim.requests == 0) return 0;  // an idle instance just lets go of its GPUs
  const double a = params_.migration_s_per_token >= 0 ? params_.migration_s_per_token : victim.prefill_s_per_token;
  const double b = params_.migration_base_s >= 0 ? params_.migration_base_s : victim.prefill_base_s;
  return victim.relocation_load_s + a * static_cast<double>(victim.tokens) + b;
}

std::optional<Placement> ServerlessLlmPlacement::place(const PlacementRequest& request) {
  std::optional<Placement> best;
  for (const Server& s : cluster_.servers()) {
    if (!request.fits_on(s.id)) continue;
    const Time load = loader_.estimate(s.id, request.checkpoint, request.gpus, params_.refine_from_observed_loads);
    const double load_s = (loader_.queue_wait(s.id) + load).seconds();
    Placement candidate{s.id, {}, load_s};
    if (s.free_gpus < request.gpus) {
      if (!request.may_free_gpus) continue;
      const auto cost = [this](const InstanceView& v) {
        return v.requests > 0 && v.relocation_load_s < 0 ? 1e300 : migration_s(v);
      };
      auto victims = cheapest_victims(s, request, cost);
      if (!victims) continue;
      // Victims move in parallel: the slowest one sets when the GPUs are free.
      double freed_s = 0;
      bool movable = true;
      for (const InstanceView* v : victims->views) {
        if (v->requests > 0 && v->relocation_load_s < 0) movable = false;
        freed_s = std::max(freed_s, migration_s(*v));
      }
      if (!movable) continue;
      candidate.victims = std::move(victims->instances);
      candidate.estimated_start_s = std::max(load_s, freed_s + load.seconds());
    }
    if (!best || candidate.estimated_start_s < best->estimated_start_s) best = std::move(candidate);
  }
  return best;
}

}  // namespace slsim
