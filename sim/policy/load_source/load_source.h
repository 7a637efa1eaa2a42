#pragma once

#include "sim/core/registry.h"
#include "sim/loading/load_source.h"

namespace slsim {

const Registry<LoadSourcePolicy>& load_source_policies();

}  // namespace slsim
