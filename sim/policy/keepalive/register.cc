#include "sim/policy/keepalive/fixed.h"
#include "sim/policy/keepalive/histogram.h"
#include "sim/policy/keepalive/keepalive.h"

namespace slsim {

const Registry<KeepAlivePolicy>& keepalive_policies() {
  static const Registry<KeepAlivePolicy> registry = [] {
    Registry<KeepAlivePolicy> r;
    r.add<FixedKeepAlive>("fixed", "a fixed idle time-to-live (AWS Lambda, Knative)");
    r.add<HistogramKeepAlive>("histogram", "hybrid histogram pre-warm and keep-alive windows (Shahrad et al., ATC'20)");
    return r;
  }();
  return registry;
}

}  // namespace slsim
