#pragma once
// Keep-alive: how long an idle instance keeps its GPUs before it is released.

#include "sim/core/registry.h"
#include "sim/core/time.h"
#include "sim/policy/views.h"

namespace slsim {

class KeepAlivePolicy {
 public:
  static constexpr const char* kind = "keepalive";
  struct Context {};
  virtual ~KeepAlivePolicy() = default;
  // Called whenever a request for the model arrives, so history-based policies can learn.
  virtual void on_request(ModelId /*model*/, Time /*now*/) {}
  // How long an instance of `model` that just went idle stays before release.
  virtual Time idle_timeout(ModelId model, Time now) = 0;
};

const Registry<KeepAlivePolicy>& keepalive_policies();

}  // namespace slsim
