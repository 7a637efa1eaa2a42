#include "sim/policy/switching/switching.h"

namespace slsim {

const Registry<SwitchPolicy>& switching_policies() {
  static const Registry<SwitchPolicy> registry = [] {
    Registry<SwitchPolicy> r;
    r.add<AegaeonSwitching>("aegaeon",
                            "prefill first, then round robin with a quantum sized from the TPOT SLO and the switch "
                            "cost (Aegaeon, SOSP'25)");
    r.add<RoundRobinSwitching>("round-robin", "seats take the card in turn for a fixed quantum");
    return r;
  }();
  return registry;
}

}  // namespace slsim
