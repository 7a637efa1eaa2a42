// libFuzzer target: any bytes, read as a trace through one of four mappings (the first byte
// picks it), must give records or an InputError naming the line, never a crash or a hang; and
// every record read must come back the same through `slsim trace convert`'s canonical row.

#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
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

// Unique files per fuzzing process (several may run at once), removed at exit.
struct ScratchFolder {
  std::string path;
  ScratchFolder() : path((std::filesystem::temp_directory_path() / "slsim_fuzz_XXXXXX").string()) {
    if (!::mkdtemp(path.data())) std::abort();
  }
  ~ScratchFolder() { std::filesystem::remove_all(path); }
};
std::string scratch_file(const char* name) {
  static const ScratchFolder folder;
  return folder.path + "/" + name;
}

// The canonical row of `record`, read back with the canonical mapping (absolute times).
void expect_round_trip(const slsim::TraceRecord& record) {
  const std::string path = scratch_file("row.csv");
  FILE* f = std::fopen(path.c_str(), "wb");
  if (!f) std::abort();
  const std::string text = slsim::canonical_trace_header(false) + slsim::canonical_trace_row(record, false);
  std::fwrite(text.data(), 1, text.size(), f);
  std::fclose(f);
  slsim::TraceMapping canonical;
  canonical.format = "csv";
  canonical.model_field = "model";
  canonical.samples_field = "samples";
  canonical.beam_field = "beam_width";
  canonical.prefix_field = "prefix_blocks";
  canonical.relative = false;
  slsim::TraceReader reader(path, canonical);
  const slsim::TraceRecord* back = reader.next();
  const bool same = back && back->time_ns == record.time_ns && back->input_tokens == record.input_tokens &&
                    back->output_tokens == record.output_tokens && back->samples == record.samples &&
                    back->beam_width == record.beam_width && back->model_id == record.model_id &&
                    back->prefix_blocks == record.prefix_blocks && !reader.next();
  if (!same) {
    std::fprintf(stderr, "round trip changed the record; canonical text:\n%s", text.c_str());
    std::abort();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  static const std::string path = scratch_file("trace");
  FILE* f = std::fopen(path.c_str(), "wb");
  if (!f) return 0;
  std::fwrite(data + 1, 1, size - 1, f);
  std::fclose(f);
  try {
    slsim::TraceReader reader(path, mapping_for(data[0]), static_cast<int64_t>(data[0] >> 2));
    while (const slsim::TraceRecord* record = reader.next()) {
      // A copy: the reader's model id view lasts only until its next call.
      slsim::TraceRecord copy = *record;
      const std::string model(record->model_id);
      copy.model_id = model;
      expect_round_trip(copy);
    }
  } catch (const slsim::InputError&) {
  }
  return 0;
}
