#pragma once
// `slsim trace stats|convert|synth`: inspect a trace through a mapping, rewrite it as the
// canonical CSV, or write a synthetic trace from a generator description.

#include <string>
#include <vector>

namespace slsim {

int trace_command(const std::vector<std::string>& args);

}  // namespace slsim
