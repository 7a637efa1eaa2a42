#pragma once
// How a checkpoint format and its loader use each stage of a load. Figures come from
// models/calibration/loader_formats.json (measured by kernels/loader on the GPU machine, or
// from ../shared/reference/FACTS.md where not measured), each with its source.

#include <optional>
#include <string>

#include "sim/core/fields.h"

namespace slsim {

struct CheckpointFormat {
  // Share of a link's bandwidth the loader reaches on each kind of stage.
  double ssd_efficiency = 1.0;
  double network_efficiency = 1.0;
  double host_to_gpu_efficiency = 1.0;
  // A loader bound by its own CPU work (torch.load's single-threaded unpickling) reaches the same
  // rate whatever the link: a ceiling on every flow into a GPU, apart from the links' shares.
  std::optional<double> host_to_gpu_max_gbytes_per_s;
  // Pipelined loaders overlap storage reads with host-to-GPU copies (time = the slowest stage
  // plus the pipeline fill); the others read everything first, then copy.
  bool pipelined = true;
  double per_tensor_overhead_s = 0;
  Json sources = Json::object();

  template <class V>
  void visit(V& v) {
    v.field("ssd_efficiency", ssd_efficiency, "share of SSD read bandwidth reached", between(0.001, 1));
    v.field("network_efficiency", network_efficiency, "share of network bandwidth reached", between(0.001, 1));
    v.field("host_to_gpu_efficiency", host_to_gpu_efficiency, "share of the GPU host link reached", between(0.001, 1));
    v.field("host_to_gpu_max_gbytes_per_s", host_to_gpu_max_gbytes_per_s,
            "ceiling on the host-to-GPU stage's rate whatever the link, GB/s (a CPU-bound loader); null: none",
            positive());
    v.field("pipelined", pipelined, "storage reads overlap host-to-GPU copies");
    v.field("per_tensor_overhead_s", per_tensor_overhead_s, "fixed cost per tensor, s", at_least(0));
    v.raw("sources", sources, "where each figure comes from");
  }
};

}  // namespace slsim
