#include <algorithm>

#include "sim/policy/rebalance/rebalance.h"

namespace slsim {

double LlumnixRebalance::load(const InstanceLoad& instance) const {
  if (params_.metric == RebalanceMetric::requests) return static_cast<double>(instance.requests);
  return static_cast<double>(instance.used_blocks) / static_cast<double>(instance.capacity_blocks);
}

void LlumnixRebalance::plan(std::span<const InstanceLoad> instances, std::vector<RebalanceMove>& moves) const {
  std::vector<const InstanceLoad*> sorted;
  for (const InstanceLoad& i : instances) sorted.push_back(&i);
  // Most loaded first; ties in the order given, so that a run is reproducible.
  std::stable_sort(sorted.begin(), sorted.end(),
                   [this](const InstanceLoad* a, const InstanceLoad* b) { return load(*a) > load(*b); });
  for (size_t hi = 0, lo = sorted.size(); hi + 1 < lo; ++hi) {
    const InstanceLoad& source = *sorted[hi];
    const InstanceLoad& destination = *sorted[--lo];
    if (load(source) - load(destination) <= params_.threshold) break;
    // In whole requests or blocks, the shares compared cross-multiplied: equal shares compare
    // equal, which sums of fractions would not promise.
    const bool kv = params_.metric == RebalanceMetric::kv;
    int64_t from = kv ? source.used_blocks : source.requests;
    int64_t to = kv ? destination.used_blocks : destination.requests;
    const int64_t from_scale = kv ? destination.capacity_blocks : 1;
    const int64_t to_scale = kv ? source.capacity_blocks : 1;
    std::vector<MovableRequest> candidates = source.movable;
    if (params_.pick == RebalancePick::shortest)
      std::stable_sort(candidates.begin(), candidates.end(),
                       [](const MovableRequest& a, const MovableRequest& b) { return a.tokens < b.tokens; });
    else
      std::reverse(candidates.begin(), candidates.end());
    RebalanceMove move{source.instance, destination.instance, {}};
    for (const MovableRequest& r : candidates) {
      const int64_t size = kv ? r.blocks : 1;
      if ((from - size) * from_scale < (to + size) * to_scale) continue;
      from -= size;
      to += size;
      move.requests.push_back(r.request);
    }
    if (!move.requests.empty()) moves.push_back(std::move(move));
  }
}

}  // namespace slsim
