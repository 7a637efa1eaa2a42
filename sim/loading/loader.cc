#include "sim/loading/loader.h"

#include <algorithm>

namespace slsim {

const char* tier_name(Tier tier) {
  switch (tier) {
    case Tier::dram: return "dram";
    case Tier::ssd: return "ssd";
    case Tier::remote: return "remote";
  }
  return "?";
}

Loader::Loader(const Cluster& cluster, const LoaderParams& params) : cluster_(cluster), params_(params) {
  for (const Server& s : cluster.servers()) {
    dram_.emplace_back(s.profile->dram_cache_bytes);
    ssd_.emplace_back(s.profile->ssd_cache_bytes);
  }
}

LoadPlan Loader::plan(ServerId server, ModelId model, int64_t checkpoint_bytes, int64_t tensor_parallel) const {
  const Server& s = cluster_.server(server);
  const double host_to_gpus_gbps = s.gpu->effective_host_link_gbps() * static_cast<double>(tensor_parallel);
  LoadPlan plan;
  double gbps = host_to_gpus_gbps;
  if (dram_[server].contains(model)) {
    plan.tier = Tier::dram;
  } else if (ssd_[server].contains(model)) {
    plan.tier = Tier::ssd;
    gbps = std::min(gbps, s.profile->ssd_read_gbps);
  } else {
    plan.tier = Tier::remote;
    gbps = std::min({gbps, s.profile->nic_gbps, cluster_.remote_storage_gbps()});
  }
  plan.duration = transfer_time(static_cast<double>(checkpoint_bytes), gbps);
  return plan;
}

void Loader::on_loaded(ServerId server, ModelId model, int64_t checkpoint_bytes, Tier from) {
  if (from == Tier::dram) dram_[server].touch(model);
  else if (params_.keep_in_dram) dram_[server].insert(model, checkpoint_bytes);
  if (from == Tier::ssd) ssd_[server].touch(model);
  else if (from == Tier::remote && params_.keep_on_ssd) ssd_[server].insert(model, checkpoint_bytes);
}

}  // namespace slsim
