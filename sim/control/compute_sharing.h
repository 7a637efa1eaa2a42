#pragma once

#include <cstdint>
#include <vector>

#include "sim/cluster/cluster.h"
#include "sim/control/instance_registry.h"
#include "sim/core/ids.h"

namespace slsim {

// A server whose profile sets gpus_sharing_compute = k > 1 holds GPUs that are memory slices of
// one physical GPU, k slices each (several serving processes on one card): their steps share
// its compute. Sharing is processor sharing: while n steps occupy a physical GPU each advances
// at 1/n of its speed alone, which the driver's time slicing of the processes' kernels
// approaches for the small, many-kernel steps of LLM serving. A step spanning several physical
// GPUs (tensor parallel) advances at the pace of the most shared one.
class ComputeSharing {
 public:
  explicit ComputeSharing(const Cluster& cluster);

  bool shared(const Instance& inst) const { return slices(inst.server) > 1; }
  // The instances stepping on a physical GPU that `inst` uses, `self` excluded; sorted.
  std::vector<InstanceId> stepping_beside(InstanceId self, const Instance& inst) const;
  void join(InstanceId id, const Instance& inst);
  // A no-op for an instance not stepping here.
  void leave(InstanceId id, const Instance& inst);
  // How many steps share the most shared physical GPU of `inst` (1 when it steps alone).
  int64_t sharers(const Instance& inst) const;

 private:
  int64_t slices(ServerId server) const { return cluster_.server(server).profile->gpus_sharing_compute; }
  template <class F>
  void for_each_physical_gpu(const Instance& inst, F&& f) const;

  const Cluster& cluster_;
  // By server, then physical GPU: the instances whose step is in progress there.
  IdVector<ServerId, std::vector<std::vector<InstanceId>>> stepping_;
};

}  // namespace slsim
