#include "sim/control/compute_sharing.h"

#include <algorithm>

namespace slsim {

ComputeSharing::ComputeSharing(const Cluster& cluster) : cluster_(cluster) {
  for (const Server& server : cluster.servers()) {
    const int64_t slices = server.profile->gpus_sharing_compute;
    const int64_t cards = slices > 1 ? server.profile->gpus / slices : 0;
    stepping_.push_back(std::vector<std::vector<InstanceId>>(cards));
    capturing_.push_back(std::vector<int64_t>(cards, 0));
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

void ComputeSharing::occupy(const Instance& inst) {
  for_each_physical_gpu(inst, [&](int64_t physical) { ++capturing_[inst.server][physical]; });
}

void ComputeSharing::vacate(const Instance& inst) {
  for_each_physical_gpu(inst, [&](int64_t physical) { --capturing_[inst.server][physical]; });
}

double ComputeSharing::slowdown(const Instance& inst) const {
  const ServerProfile& profile = *cluster_.server(inst.server).profile;
  double most = 1;
  for_each_physical_gpu(inst, [&](int64_t physical) {
    const auto steps = static_cast<double>(stepping_[inst.server][physical].size());
    const auto captures = static_cast<double>(capturing_[inst.server][physical]);
    const double load = steps + profile.graph_capture_compute_share * captures;
    if (load > 1) most = std::max(most, load / profile.compute_sharing_efficiency);
  });
  return most;
}

}  // namespace slsim
