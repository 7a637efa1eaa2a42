#pragma once
// Keep-alive: how long an idle instance keeps its GPUs, and whether to release it now and
// start a fresh one just before the next request is expected (pre-warming).

#include "sim/core/registry.h"
#include "sim/core/time.h"
#include "sim/policy/views.h"

namespace slsim {

struct KeepAliveDecision {
  // With no pre-warm: how long the idle instance stays. With one: how long the pre-warmed
  // instance stays once ready.
  Time keep_alive;
  // Zero: keep the instance. Otherwise release it now and start a new one this much later.
  Time prewarm_after;
  // Keep the released checkpoint in the server's DRAM cache.
  bool keep_checkpoint_in_dram = true;
};

class KeepAlivePolicy {
 public:
  static constexpr const char* kind = "keepalive";
  struct Context {};
  virtual ~KeepAlivePolicy() = default;
  // A request for the model arrived; history-based policies learn from these.
  virtual void on_request(ModelId /*model*/, Time /*now*/) {}
  // The model has no request in flight any more.
  virtual void on_idle(ModelId /*model*/, Time /*now*/) {}
  // An instance of `model` just went idle.
  virtual KeepAliveDecision decide(ModelId model, Time now) = 0;
};

const Registry<KeepAlivePolicy>& keepalive_policies();

}  // namespace slsim
