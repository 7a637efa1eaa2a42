// libFuzzer target: any bytes, parsed as an experiment config and resolved against the bundled
// catalogue, must resolve or give an InputError naming the JSON path, never a crash or a hang.

#include <cstdint>
#include <string_view>

#include "sim/config/experiment_config.h"
#include "sim/core/errors.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  const slsim::Json document = slsim::Json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (document.is_discarded()) return 0;
  try {
    slsim::resolve_experiment(document, SLSIM_FUZZ_BASE_DIR);
  } catch (const slsim::InputError&) {
  }
  return 0;
}
