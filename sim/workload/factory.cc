#include "sim/workload/factory.h"

#include <fmt/format.h>

#include <system_error>

#include "sim/core/errors.h"
#include "sim/workload/generators.h"
#include "sim/workload/model_assigner.h"
#include "sim/workload/servegen.h"
#include "sim/workload/sessions.h"
#include "sim/workload/trace_reader.h"
#include "sim/workload/trace_source.h"

namespace slsim {
namespace fs = std::filesystem;
namespace {

bool is_trace(const SourceSpec& s) {
  return (s.kind == "trace" || s.kind == "azure-llm-2023") && s.preset != "servegen";
}
bool is_servegen(const SourceSpec& s) { return s.kind == "servegen" || s.preset == "servegen"; }

}  // namespace

TraceMapping effective_mapping(const SourceSpec& spec) {
  const std::string preset = spec.kind == "azure-llm-2023" ? "azure-llm-2023" : spec.preset;
  if (preset.empty()) return spec.mapping;
  // A preset fixes the format and the time and length fields; the optional fields stay the user's.
  TraceMapping m = preset_mapping(preset);
  m.model_field = spec.mapping.model_field;
  m.samples_field = spec.mapping.samples_field;
  m.beam_field = spec.mapping.beam_field;
  m.prefix_field = spec.mapping.prefix_field;
  m.prefix_block_tokens = spec.mapping.prefix_block_tokens;
  m.prefix_block_tokens_field = spec.mapping.prefix_block_tokens_field;
  m.relative = spec.mapping.relative;
  return m;
}

std::vector<std::string> validate_source(SourceSpec& spec, const ModelCatalogue& catalogue, const fs::path& base_dir,
                                         const std::string& json_path) {
  std::vector<std::string> warnings;
  if (spec.kind == "azure-llm-2023" && !spec.preset.empty() && spec.preset != "azure-llm-2023")
    throw ConfigError(json_path + ".preset",
                      "kind azure-llm-2023 is the azure-llm-2023 preset; use kind trace for others");
  if (!spec.preset.empty() && !(spec.kind == "trace" || spec.kind == "azure-llm-2023" ||
                                (spec.kind == "servegen" && spec.preset == "servegen")))
    throw ConfigError(json_path + ".preset", "a preset names a trace format; kind " + spec.kind + " reads no file");
  [[maybe_unused]] const ModelAssigner models_known(spec, catalogue, RandomStream(0), json_path);  // throws if not
  if (is_trace(spec) || is_servegen(spec)) {
    if (spec.path.empty()) throw ConfigError(json_path + ".path", "missing; expected the trace file");
    const fs::path file = fs::absolute(base_dir / spec.path).lexically_normal();
    // The error_code forms: a name the file system refuses (too long) is a missing file, not a crash.
    std::error_code error;
    if (is_trace(spec) ? !fs::is_regular_file(file, error) : !fs::exists(file, error))
      throw ConfigError(json_path + ".path", "no such file: " + file.string());
    spec.path = file.string();
    if (is_trace(spec)) {
      const TraceMapping m = effective_mapping(spec);
      if (m.time_field.empty() || m.input_field.empty() || m.output_field.empty())
        throw ConfigError(json_path + ".mapping", "time_field, input_field and output_field must name fields");
      if (m.prefix_block_tokens > 0 && m.prefix_field.empty())
        throw ConfigError(json_path + ".mapping.prefix_block_tokens",
                          "sizes the trace's prefix blocks, but mapping.prefix_field names no field holding them");
      if (!m.prefix_block_tokens_field.empty() && m.prefix_field.empty())
        throw ConfigError(json_path + ".mapping.prefix_block_tokens_field",
                          "sizes the trace's prefix blocks, but mapping.prefix_field names no field holding them");
      if (!m.time_format.empty() && m.time_format.find('%') == std::string::npos)
        throw ConfigError(json_path + ".mapping.time_format",
                          "expected a format with % fields, e.g. %Y-%m-%d %H:%M:%S.%f");
      // The header and the first record, so that `slsim validate` catches a mapping that does
      // not fit the file before a run starts.
      TraceReader(spec.path, m, spec.skip_bad).next();
    } else if (const ServeGenDatasetCount count = check_servegen_datasets(file); count.without_lengths > 0) {
      const std::string fallback = spec.lengths.kind == "table"
                                       ? "lengths.table " + spec.lengths.table
                                       : fmt::format("lengths.kind {}, input_tokens {}, output_tokens {}",
                                                     spec.lengths.kind, spec.input_tokens, spec.output_tokens);
      warnings.push_back(fmt::format(
          "{}: {} of {} ServeGen clients in {} have no chunk-N-dataset.json with lengths; their requests "
          "take the source's lengths ({})",
          json_path.empty() ? "source" : json_path, count.without_lengths, count.clients, file.string(), fallback));
    }
  } else if (spec.requests == 0 && !spec.duration_s) {
    throw ConfigError(json_path + ".requests",
                      "expected a positive count for a " + spec.kind + " source (or a duration_s)");
  }
  if (spec.sessions.turns > 0 && (is_trace(spec) || is_servegen(spec)))
    throw ConfigError(json_path + ".sessions.turns", "sessions are generated; kind " + spec.kind +
                                                         " replays its own requests (use poisson, gamma or weibull)");
  if (spec.kind == "weibull" && spec.weibull_shape && spec.cv != 1)
    throw ConfigError(json_path + ".weibull_shape", "give the Weibull shape or its cv, not both");
  if (!is_trace(spec) && spec.lengths.kind == "table") {
    if (spec.lengths.table.empty())
      throw ConfigError(json_path + ".lengths.table", "missing; expected a length table file");
    const fs::path file = fs::absolute(base_dir / spec.lengths.table).lexically_normal();
    std::error_code error;
    if (!fs::is_regular_file(file, error))
      throw ConfigError(json_path + ".lengths.table", "no such file: " + file.string());
    spec.lengths.table = file.string();
  }
  return warnings;
}

namespace {

// Gives every request of a source the source's parallel samples and beam width, where its
// records did not set them.
class SequenceShape final : public RequestSource {
 public:
  SequenceShape(std::unique_ptr<RequestSource> source, int64_t samples, int64_t beam_width)
      : source_(std::move(source)), samples_(samples), beam_width_(beam_width) {}
  std::optional<Request> next() override {
    std::optional<Request> r = source_->next();
    if (r && r->samples == 1) r->samples = samples_;
    if (r && r->beam_width == 1) r->beam_width = beam_width_;
    return r;
  }
  int64_t skipped_lines() const override { return source_->skipped_lines(); }

 private:
  std::unique_ptr<RequestSource> source_;
  int64_t samples_;
  int64_t beam_width_;
};

std::unique_ptr<RequestSource> make_plain_source(const SourceSpec& spec, const ModelCatalogue& catalogue,
                                                 const RandomStreams& random, size_t index) {
  const std::string suffix = fmt::format("/{}", index);
  ModelAssigner assigner(spec, catalogue, random.stream("models" + suffix),
                         "workload.sources[" + std::to_string(index) + "]");
  std::unique_ptr<RequestSource> source;
  double rate_scale = 1;  // left for the transformation (traces); generators fold it into their rate
  if (is_trace(spec)) {
    source = std::make_unique<TraceSource>(spec.path, effective_mapping(spec), spec.skip_bad, std::move(assigner),
                                           catalogue.engine_block_tokens);
    rate_scale = spec.rate_scale;
  } else {
    LengthSampler lengths(spec, spec.lengths.table, random.stream("lengths" + suffix));
    if (is_servegen(spec)) {
      source = std::make_unique<ServeGenSource>(read_servegen(spec.path), catalogue, assigner, std::move(lengths),
                                                random, suffix, spec.start_s, spec.rate_scale);
    } else if (spec.sessions.turns > 0) {
      source = std::make_unique<SessionSource>(spec, catalogue, std::move(assigner), std::move(lengths),
                                               random.stream("arrivals" + suffix), index);
    } else {
      source = std::make_unique<GeneratedSource>(spec, catalogue, std::move(assigner), std::move(lengths),
                                                 random.stream("arrivals" + suffix));
    }
  }
  const bool transformed = spec.start_s != 0 || spec.duration_s || spec.time_scale != 1 || rate_scale != 1;
  if (!transformed) return source;
  return std::make_unique<TransformedSource>(std::move(source), spec.start_s, spec.duration_s, spec.time_scale,
                                             rate_scale, random.stream("rate-scale" + suffix));
}

}  // namespace

std::unique_ptr<RequestSource> make_source(const SourceSpec& spec, const ModelCatalogue& catalogue,
                                           const RandomStreams& random, size_t index) {
  auto source = make_plain_source(spec, catalogue, random, index);
  if (spec.samples == 1 && spec.beam_width == 1) return source;
  return std::make_unique<SequenceShape>(std::move(source), spec.samples, spec.beam_width);
}

}  // namespace slsim
