#pragma once

#include "sim/loading/startup_policy.h"

namespace slsim {

// Every phase runs online, as in vLLM and the project's testbed engine.
class FullStartup final : public StartupPolicy {
 public:
  struct Params {
    template <class V>
    void visit(V&) {}
  };
  FullStartup(const Params&, Context&) {}
  StartupPhases online(const StartupPhases& full) const override { return full; }
};

}  // namespace slsim
