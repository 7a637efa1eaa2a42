#include "sim/policy/preload/popularity.h"

#include <algorithm>
#include <cmath>
#include <numeric>

namespace slsim {

PopularityPreload::PopularityPreload(const Params& params, Context& context)
    : params_(params),
      cluster_(context.cluster),
      checkpoint_bytes_(context.checkpoint_bytes),
      score_(context.checkpoint_bytes.size(), 0.0),
      scored_at_(context.checkpoint_bytes.size()) {}

double PopularityPreload::decayed(ModelId model, Time now) const {
  return score_[model] * std::exp2(-(now - scored_at_[model]).seconds() / params_.half_life_s);
}

void PopularityPreload::on_request(ModelId model, Time now) {
  score_[model] = decayed(model, now) + 1;
  scored_at_[model] = now;
}

void PopularityPreload::plan(Time now, std::vector<PreloadAction>& actions) {
  std::vector<ModelId> ranked(score_.size());
  std::iota(ranked.begin(), ranked.end(), ModelId{0});
  std::stable_sort(ranked.begin(), ranked.end(),
                   [&](ModelId a, ModelId b) { return decayed(a, now) > decayed(b, now); });
  const bool to_dram = params_.tier == "dram";
  const auto servers = cluster_.servers().size();
  std::vector<int64_t> room(servers);
  for (size_t s = 0; s < servers; ++s) {
    const ServerProfile& p = *cluster_.servers()[s].profile;
    room[s] = to_dram ? p.dram_cache_bytes : p.ssd_cache_bytes;
  }
  size_t next_server = 0;
  for (const ModelId model : ranked) {
    if (decayed(model, now) <= 0) break;
    for (int64_t r = 0; r < std::min<int64_t>(params_.replicas, static_cast<int64_t>(servers)); ++r) {
      // The first server, from the round-robin cursor on, whose cache still has room.
      for (size_t tried = 0; tried < servers; ++tried) {
        const size_t s = (next_server + tried) % servers;
        if (room[s] < checkpoint_bytes_[model]) continue;
        room[s] -= checkpoint_bytes_[model];
        actions.push_back(PreloadAction{to_dram ? PreloadAction::Target::dram : PreloadAction::Target::ssd, model,
                                        static_cast<ServerId>(s), now, Time::zero()});
        next_server = s + 1;
        break;
      }
    }
  }
}

}  // namespace slsim
