#include "sim/cluster/cluster.h"

#include <stdexcept>

namespace slsim {

Cluster::Cluster(std::vector<ServerGroupSpec> groups, double remote_storage_gbps)
    : groups_(std::move(groups)), remote_storage_gbps_(remote_storage_gbps) {
  for (const auto& group : groups_) {
    for (int64_t i = 0; i < group.count; ++i) {
      Server s;
      s.id = static_cast<ServerId>(servers_.size());
      s.profile = &group.server;
      s.gpu = &group.gpu;
      s.site = group.site;
      s.free_gpus = group.server.gpus;
      total_gpus_ += group.server.gpus;
      servers_.push_back(s);
    }
  }
}

void Cluster::take_gpus(ServerId id, int64_t gpus) {
  Server& s = servers_.at(id);
  if (gpus > s.free_gpus) throw std::logic_error("placement took more GPUs than the server has free");
  s.free_gpus -= gpus;
  ++s.instances;
}

void Cluster::give_back_gpus(ServerId id, int64_t gpus) {
  Server& s = servers_.at(id);
  s.free_gpus += gpus;
  --s.instances;
  if (s.free_gpus > s.profile->gpus) throw std::logic_error("a server got back more GPUs than it has");
}

}  // namespace slsim
