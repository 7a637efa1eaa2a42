#include "sim/policy/scheduler/placement.h"

#include <algorithm>

namespace slsim {

Tier slowest_tier_holding(const Loader& loader, ServerId server, std::span<const CheckpointPart> checkpoint) {
  Tier tier = Tier::gpu;
  for (const CheckpointPart& part : checkpoint) tier = std::max(tier, loader.tier_holding(server, part.id));
  return tier;
}

std::optional<Victims> cheapest_victims(const Server& server, const PlacementRequest& request,
                                        const std::function<double(const InstanceView&)>& cost) {
  if (!request.fits_on(server.id)) return std::nullopt;
  std::vector<const InstanceView*> here;
  for (const InstanceView& v : request.movable)
    if (v.server == server.id) here.push_back(&v);
  std::stable_sort(here.begin(), here.end(),
                   [&](const InstanceView* a, const InstanceView* b) { return cost(*a) < cost(*b); });
  Victims victims;
  int64_t free = server.free_gpus;
  for (const InstanceView* v : here) {
    if (free >= request.gpus) break;
    victims.instances.push_back(v->instance);
    victims.views.push_back(v);
    victims.total_cost += cost(*v);
    free += v->gpus;
  }
  if (free < request.gpus) return std::nullopt;
  return victims;
}

}  // namespace slsim
