// libFuzzer target: any bytes, parsed as an experiment config and resolved against the bundled
// catalogue, must resolve or give an InputError naming the JSON path, never a crash or a hang;
// and a resolved config must be a fixed point: resolving its own resolved form gives it again.

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string_view>

#include "sim/config/experiment_config.h"
#include "sim/core/errors.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  try {
    const slsim::Json document = slsim::parse_json(text, "input");
    const slsim::Json resolved = slsim::resolve_experiment(document, SLSIM_FUZZ_BASE_DIR).to_json(SLSIM_FUZZ_BASE_DIR);
    const slsim::Json again = slsim::resolve_experiment(resolved, SLSIM_FUZZ_BASE_DIR).to_json(SLSIM_FUZZ_BASE_DIR);
    if (again != resolved) {
      std::fprintf(stderr, "resolving the resolved config changed it:\n%s\n%s\n", resolved.dump(1).c_str(),
                   again.dump(1).c_str());
      std::abort();
    }
  } catch (const slsim::InputError&) {
  }
  return 0;
}
