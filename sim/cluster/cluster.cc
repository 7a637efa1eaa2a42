#include "sim/cluster/cluster.h"

#include <stdexcept>

namespace slsim {

Cluster::Cluster(std::vector<ServerGroupSpec> groups, double remote_storage_gbytes_per_s)
    : groups_(std::move(groups)), remote_storage_gbytes_per_s_(remote_storage_gbytes_per_s) {
  for (const auto& group : groups_) {
    for (int64_t i = 0; i < group.count; ++i) {
      Server s;
      s.id = servers_.next_id();
      s.profile = &group.server;
      s.gpu = &group.gpu;
      s.site = group.site;
      s.free_gpus = group.server.gpus;
      s.gpu_taken.assign(static_cast<size_t>(group.server.gpus), false);
      servers_.push_back(s);
    }
  }
}

std::vector<int64_t> Cluster::take_gpus(ServerId id, int64_t gpus) {
  Server& s = servers_.at(id);
  if (gpus > s.free_gpus) throw std::logic_error("placement took more GPUs than the server has free");
  std::vector<int64_t> taken;
  for (size_t i = 0; i < s.gpu_taken.size() && static_cast<int64_t>(taken.size()) < gpus; ++i) {
    if (s.gpu_taken[i]) continue;
    s.gpu_taken[i] = true;
    taken.push_back(static_cast<int64_t>(i));
  }
  s.free_gpus -= gpus;
  ++s.instances;
  return taken;
}

std::vector<int64_t> Cluster::take_gpu(ServerId id, int64_t gpu) {
  Server& s = servers_.at(id);
  if (s.gpu_taken.at(static_cast<size_t>(gpu))) throw std::logic_error("placement took a GPU that was taken");
  s.gpu_taken[static_cast<size_t>(gpu)] = true;
  --s.free_gpus;
  ++s.instances;
  return {gpu};
}

void Cluster::give_back_gpus(ServerId id, const std::vector<int64_t>& gpus) {
  Server& s = servers_.at(id);
  for (const int64_t g : gpus) {
    if (!s.gpu_taken.at(static_cast<size_t>(g))) throw std::logic_error("a server got back a GPU that was free");
    s.gpu_taken[static_cast<size_t>(g)] = false;
  }
  s.free_gpus += static_cast<int64_t>(gpus.size());
  --s.instances;
}

}  // namespace slsim
