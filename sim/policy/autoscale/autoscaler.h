#pragma once
// Autoscaling: how many new instances a model should start now.

#include <cstdint>

#include "sim/core/registry.h"
#include "sim/policy/views.h"

namespace slsim {

class Autoscaler {
 public:
  static constexpr const char* kind = "autoscale";
  struct Context {};
  virtual ~Autoscaler() = default;
  // Asked whenever a model's demand changes: a request queues at the router, an instance
  // becomes ready or is released.
  virtual int64_t instances_to_start(const ModelDemand& demand) = 0;
};

const Registry<Autoscaler>& autoscale_policies();

}  // namespace slsim
