#pragma once

#include <cstdint>
#include <vector>

#include "sim/cluster/cluster.h"
#include "sim/control/instance_registry.h"
#include "sim/core/ids.h"

namespace slsim {

// A server whose profile sets gpus_sharing_compute = k > 1 holds GPUs that are memory slices of
// one physical GPU, k slices each (several serving processes on one card): their steps share
// its compute. Sharing is processor sharing with a time-slicing loss: while n steps occupy a
// physical GPU each advances at efficiency / n of its speed alone, which the driver's time
// slicing of the processes' kernels approaches for the small, many-kernel steps of LLM serving.
// A CUDA-graph capture in progress weighs on the card as a fraction of a step but is not slowed
// itself (it keeps its measured in-service length). Both figures are the server profile's,
// measured on the testbed (kernels/testbed/step_contention.py, docs/decisions.md). A step
// spanning several physical GPUs (tensor parallel) advances at the pace of the most shared one.
class ComputeSharing {
 public:
  explicit ComputeSharing(const Cluster& cluster);

  bool shared(const Instance& inst) const { return slices(inst.server) > 1; }
  // The instances stepping on a physical GPU that `inst` uses, `self` excluded; sorted.
  std::vector<InstanceId> stepping_beside(InstanceId self, const Instance& inst) const;
  void join(InstanceId id, const Instance& inst);
  // A no-op for an instance not stepping here.
  void leave(InstanceId id, const Instance& inst);
  // A graph capture of `inst` begins or ends on its physical GPUs.
  void occupy(const Instance& inst);
  void vacate(const Instance& inst);
  // How many times longer than alone a step of `inst` takes now, on its most shared physical
  // GPU: 1 alone, else (steps + capture_share x captures) / efficiency.
  double slowdown(const Instance& inst) const;

 private:
  int64_t slices(ServerId server) const { return cluster_.server(server).profile->gpus_sharing_compute; }
  template <class F>
  void for_each_physical_gpu(const Instance& inst, F&& f) const;

  const Cluster& cluster_;
  // By server, then physical GPU: the instances whose step is in progress there.
  IdVector<ServerId, std::vector<std::vector<InstanceId>>> stepping_;
  // By server, then physical GPU: the graph captures in progress there.
  IdVector<ServerId, std::vector<int64_t>> capturing_;
};

}  // namespace slsim
