#include "sim/policy/scheduler/shepherd.h"

#include <cstdint>
#include <utility>

namespace slsim {

std::optional<Placement> ShepherdPlacement::place(const PlacementRequest& request) {
  if (auto free = locality_.place(request)) return free;
  if (!request.may_free_gpus || request.waiting_requests == 0) return std::nullopt;
  // A restart throws away every token a victim holds (a live move, where the migration policy
  // makes one, loses less: the gate errs towards waiting).
  const auto lost_tokens = [](const InstanceView& v) { return static_cast<double>(v.tokens); };
  std::optional<Placement> best;
  int64_t best_lost = 0;
  Tier best_tier = Tier::remote;
  for (const Server& s : cluster_.servers()) {
    auto victims = cheapest_victims(s, request, lost_tokens);
    if (!victims) continue;
    int64_t lost = 0;
    for (const InstanceView* v : victims->views) lost += v->tokens;
    const Tier tier = slowest_tier_holding(loader_, s.id, request.checkpoint);
    if (!best || lost < best_lost || (lost == best_lost && tier < best_tier)) {
      best = Placement{s.id, std::move(victims->instances), -1};
      best_lost = lost;
      best_tier = tier;
    }
  }
  if (!best ||
      static_cast<double>(request.waiting_input_tokens) < params_.preempt_factor * static_cast<double>(best_lost))
    return std::nullopt;
  return best;
}

}  // namespace slsim
