#pragma once

namespace slsim {

// The version string recorded in every result file: `git describe --always --dirty` of the
// source tree when slsim was built (generated at build time, cmake/write_version.cmake).
const char* slsim_version();

}  // namespace slsim
