// libFuzzer target: any bytes, read as a trace through one of four mappings (the first byte
// picks it), must give records or an InputError naming the line, never a crash or a hang.

#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <string>

#include "sim/core/errors.h"
#include "sim/workload/trace_reader.h"

namespace {

slsim::TraceMapping mapping_for(uint8_t choice) {
  slsim::TraceMapping m;
  switch (choice % 4) {
    case 0:  // the canonical CSV with every optional field
      m.format = "csv";
      m.model_field = "model";
      m.samples_field = "samples";
      m.beam_field = "beam_width";
      m.prefix_field = "prefix_blocks";
      break;
    case 1:  // JSONL with every optional field, times in ms
      m.format = "jsonl";
      m.time_unit = "ms";
      m.model_field = "model";
      m.samples_field = "n";
      m.beam_field = "beam";
      m.prefix_field = "prefix";
      break;
    case 2:  // the Azure preset: datetimes
      m = slsim::preset_mapping("azure-llm-2023");
      m.format = "csv";
      break;
    default:  // headerless columns, absolute times
      m.format = "csv";
      m.header = false;
      m.time_field = "0";
      m.input_field = "1";
      m.output_field = "2";
      m.model_field = "3";
      m.relative = false;
      break;
  }
  return m;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  static const std::string path = "/tmp/slsim_fuzz_trace." + std::to_string(::getpid());
  FILE* f = std::fopen(path.c_str(), "wb");
  if (!f) return 0;
  std::fwrite(data + 1, 1, size - 1, f);
  std::fclose(f);
  try {
    slsim::TraceReader reader(path, mapping_for(data[0]), static_cast<int64_t>(data[0] >> 2));
    while (reader.next()) {
    }
  } catch (const slsim::InputError&) {
  }
  return 0;
}
