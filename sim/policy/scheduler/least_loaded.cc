#include "sim/policy/scheduler/least_loaded.h"

namespace slsim {

std::optional<ServerId> LeastLoadedPlacement::place(const PlacementRequest& request) {
  std::optional<ServerId> best;
  for (const Server& s : cluster_.servers()) {
    if (s.free_gpus < request.gpus) continue;
    if (!best) {
      best = s.id;
      continue;
    }
    const Server& b = cluster_.server(*best);
    if (s.free_gpus > b.free_gpus || (s.free_gpus == b.free_gpus && s.instances < b.instances)) best = s.id;
  }
  return best;
}

}  // namespace slsim
