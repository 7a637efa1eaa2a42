#include "sim/policy/keepalive/fixed.h"
#include "sim/policy/keepalive/keepalive.h"

namespace slsim {

const Registry<KeepAlivePolicy>& keepalive_policies() {
  static const Registry<KeepAlivePolicy> registry = [] {
    Registry<KeepAlivePolicy> r;
    r.add<FixedKeepAlive>("fixed", "a fixed idle time-to-live (AWS Lambda, Knative)");
    return r;
  }();
  return registry;
}

}  // namespace slsim
