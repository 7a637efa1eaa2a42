#include "sim/policy/scheduler/prefix_aware_routing.h"

namespace slsim {

size_t PrefixAwareRouting::route(ModelId, std::span<const RouteCandidate> ready) {
  size_t least = 0;
  size_t best = 0;
  for (size_t i = 1; i < ready.size(); ++i) {
    const RouteCandidate& c = ready[i];
    if (c.outstanding < ready[least].outstanding) least = i;
    // Equal prefixes (none cached anywhere included) go to the less loaded, then the earliest
    // started: least-outstanding's choice.
    if (c.cached_prefix_tokens > ready[best].cached_prefix_tokens ||
        (c.cached_prefix_tokens == ready[best].cached_prefix_tokens && c.outstanding < ready[best].outstanding))
      best = i;
  }
  const int64_t load = ready[best].outstanding;
  const int64_t lowest = ready[least].outstanding;
  const bool overloaded = load - lowest > params_.balance_abs_requests &&
                          static_cast<double>(load) > params_.balance_rel * static_cast<double>(lowest);
  return overloaded ? least : best;
}

}  // namespace slsim
