#pragma once
// `slsim calibrate`: kernel measurements → a calibration profile (docs/calibration.md).

#include <string>
#include <vector>

namespace slsim {

// Arguments after the command name; returns the exit code. Throws boost::program_options
// errors for bad usage and InputError for unreadable measurements.
int calibrate_command(const std::vector<std::string>& args);

}  // namespace slsim
