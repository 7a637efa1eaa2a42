#pragma once
// Placement: which server a new instance starts on.

#include <optional>

#include "sim/cluster/cluster.h"
#include "sim/core/random.h"
#include "sim/core/registry.h"
#include "sim/loading/loader.h"
#include "sim/policy/views.h"

namespace slsim {

class PlacementPolicy {
 public:
  static constexpr const char* kind = "placement";
  struct Context {
    const Cluster& cluster;
    const Loader& loader;
    RandomStream random;
  };
  virtual ~PlacementPolicy() = default;
  // A server with request.gpus free GPUs, or nullopt if the instance must wait.
  virtual std::optional<ServerId> place(const PlacementRequest& request) = 0;
};

const Registry<PlacementPolicy>& placement_policies();

}  // namespace slsim
