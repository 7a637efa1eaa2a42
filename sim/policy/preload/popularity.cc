#include "sim/policy/preload/popularity.h"

#include <algorithm>
#include <cmath>

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
  std::vector<ModelId> ranked;
  for (const ModelId model : score_.ids()) ranked.push_back(model);
  std::stable_sort(ranked.begin(), ranked.end(),
                   [&](ModelId a, ModelId b) { return decayed(a, now) > decayed(b, now); });
  const bool to_dram = params_.tier == "dram";
  const auto servers = cluster_.servers().size();
  IdVector<ServerId, int64_t> room;
  for (const Server& s : cluster_.servers())
    room.push_back(to_dram ? s.profile->dram_cache_bytes : s.profile->ssd_cache_bytes);
  size_t next_server = 0;
  for (const ModelId model : ranked) {
    if (decayed(model, now) <= 0) break;
    for (int64_t r = 0; r < std::min<int64_t>(params_.replicas, static_cast<int64_t>(servers)); ++r) {
      // The first server, from the round-robin cursor on, whose cache still has room.
      for (size_t tried = 0; tried < servers; ++tried) {
        const ServerId s(static_cast<uint32_t>((next_server + tried) % servers));
        if (room[s] < checkpoint_bytes_[model]) continue;
        room[s] -= checkpoint_bytes_[model];
        actions.push_back(PreloadAction{to_dram ? PreloadAction::Target::dram : PreloadAction::Target::ssd, model, s,
                                        now, Time::zero()});
        next_server = s.index() + 1;
        break;
      }
    }
  }
}

}  // namespace slsim
