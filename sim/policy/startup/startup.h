#pragma once

#include "sim/core/registry.h"
#include "sim/loading/startup_policy.h"

namespace slsim {

const Registry<StartupPolicy>& startup_policies();

}  // namespace slsim
