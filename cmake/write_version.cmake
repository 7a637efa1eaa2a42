# Run at build time by the slsim_version target (sim/CMakeLists.txt), so that a build records
# the commit it was built from, not the one it was configured at. Writes OUTPUT only when the
# version changed: file(CONFIGURE) leaves an identical file untouched, and nothing recompiles.
#   cmake -DSOURCE_DIR=<repository> -DOUTPUT=<version.cc> -P write_version.cmake
execute_process(
  COMMAND git describe --always --dirty --abbrev=12
  WORKING_DIRECTORY "${SOURCE_DIR}"
  OUTPUT_VARIABLE version OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET RESULT_VARIABLE status)
if(NOT status EQUAL 0 OR NOT version)
  set(version "unknown")
endif()
file(CONFIGURE OUTPUT "${OUTPUT}" CONTENT [[
// Written by cmake/write_version.cmake at build time.
#include "sim/config/version.h"

namespace slsim {

const char* slsim_version() { return "@version@"; }

}  // namespace slsim
]] @ONLY)
