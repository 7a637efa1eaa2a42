#pragma once
// What of an instance's start-up runs online. The phases are measured for a full start-up
// (kernels/testbed/startup_phases.py: imports, CUDA context, engine set-up, load, compilation,
// CUDA-graph capture, warm-up); systems that materialize state offline (Medusa, Foundry) restore
// some phases instead of running them. The interface lives here, beside the loader that pays the
// phases; the strategies live in sim/policy/startup/ and are created by name.

#include "sim/engine/startup_profile.h"

namespace slsim {

class StartupPolicy {
 public:
  static constexpr const char* kind = "startup";
  struct Context {};
  virtual ~StartupPolicy() = default;
  // The phases paid online, from those of a full start-up (measured, or set in the config).
  virtual StartupPhases online(const StartupPhases& full) const = 0;
};

}  // namespace slsim
