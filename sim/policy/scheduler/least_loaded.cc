#include "sim/policy/scheduler/least_loaded.h"

namespace slsim {
namespace {

bool less_loaded(const Server& a, const Server& b) {
  return a.free_gpus > b.free_gpus || (a.free_gpus == b.free_gpus && a.instances < b.instances);
}

}  // namespace

std::optional<Placement> LeastLoadedPlacement::place(const PlacementRequest& request) {
  const Server* best = nullptr;
  for (const Server& s : cluster_.servers())
    if (s.free_gpus >= request.gpus && request.fits_on(s.id) && (!best || less_loaded(s, *best))) best = &s;
  if (!best) return std::nullopt;
  return Placement{best->id, {}, -1};
}

std::optional<Placement> RandomPlacement::place(const PlacementRequest& request) {
  std::vector<ServerId> fitting;
  for (const Server& s : cluster_.servers())
    if (s.free_gpus >= request.gpus && request.fits_on(s.id)) fitting.push_back(s.id);
  if (fitting.empty()) return std::nullopt;
  return Placement{fitting[random_.below(fitting.size())], {}, -1};
}

std::optional<Placement> LocalityPlacement::place(const PlacementRequest& request) {
  const Server* best = nullptr;
  Tier best_tier = Tier::remote;
  for (const Server& s : cluster_.servers()) {
    if (s.free_gpus < request.gpus || !request.fits_on(s.id)) continue;
    const Tier tier = slowest_tier_holding(loader_, s.id, request.checkpoint);
    if (!best || tier < best_tier || (tier == best_tier && less_loaded(s, *best))) {
      best = &s;
      best_tier = tier;
    }
  }
  if (!best) return std::nullopt;
  return Placement{best->id, {}, -1};
}

}  // namespace slsim
