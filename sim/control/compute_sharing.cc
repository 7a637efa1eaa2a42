#include "sim/control/compute_sharing.h"

#include <algorithm>

namespace slsim {

ComputeSharing::ComputeSharing(const Cluster& cluster) : cluster_(cluster) {
  for (const Server& server : cluster.servers()) {
    const int64_t slices = server.profile->gpus_sharing_compute;
    stepping_.push_back(std::vector<std::vector<InstanceId>>(slices > 1 ? server.profile->gpus / slices : 0));
  }
}

// Called at every step on a shared card, so without allocating: an instance's GPUs come from
// Cluster::take_gpus in ascending order, which puts the slices of one card next to each other.
template <class F>
void ComputeSharing::for_each_physical_gpu(const Instance& inst, F&& f) const {
  const int64_t per_card = slices(inst.server);
  int64_t previous = -1;
  for (const int64_t gpu : inst.gpus) {
    const int64_t physical = gpu / per_card;
    if (physical != previous) f(physical);
    previous = physical;
  }
}

std::vector<InstanceId> ComputeSharing::stepping_beside(InstanceId self, const Instance& inst) const {
  std::vector<InstanceId> beside;
  for_each_physical_gpu(inst, [&](int64_t physical) {
    for (const InstanceId other : stepping_[inst.server][physical])
      if (other != self) beside.push_back(other);
  });
  std::sort(beside.begin(), beside.end());
  beside.erase(std::unique(beside.begin(), beside.end()), beside.end());
  return beside;
}

void ComputeSharing::join(InstanceId id, const Instance& inst) {
  for_each_physical_gpu(inst, [&](int64_t physical) { stepping_[inst.server][physical].push_back(id); });
}

void ComputeSharing::leave(InstanceId id, const Instance& inst) {
  for_each_physical_gpu(inst, [&](int64_t physical) { std::erase(stepping_[inst.server][physical], id); });
}

int64_t ComputeSharing::sharers(const Instance& inst) const {
  size_t most = 1;
  for_each_physical_gpu(inst,
                        [&](int64_t physical) { most = std::max(most, stepping_[inst.server][physical].size()); });
  return static_cast<int64_t>(most);
}

}  // namespace slsim
