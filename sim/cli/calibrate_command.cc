// `slsim calibrate`: merges the raw measurements of kernels/ (gemm_bench's gemm.json and
// pa_bench's pa_*.json) and of scripts/measure_components.py (components.json) into one
// calibration profile (docs/calibration.md), and optionally sets the calibrated and roofline
// step times beside measured transformer steps. With --update it rewrites sections of an
// existing profile from the testbed's outputs instead: `startup` from startup_phases.json, the
// `graph-captured` engine profile from engine_steps.json.

#include "sim/cli/calibrate_command.h"

#include <fmt/format.h>

#include <algorithm>
#include <boost/program_options.hpp>
#include <cctype>
#include <cmath>
#include <filesystem>
#include <iostream>
#include <map>
#include <optional>
#include <tuple>

#include "sim/config/experiment_config.h"
#include "sim/core/errors.h"
#include "sim/engine/latency_model.h"
#include "sim/metrics/output_file.h"

namespace po = boost::program_options;
namespace fs = std::filesystem;

namespace slsim {
namespace {

const Json& member(const Json& node, const char* key, const fs::path& file) {
  if (!node.is_object() || !node.contains(key)) throw InputError(file.string() + ": missing \"" + key + "\"");
  return node.at(key);
}

template <class T>
T number(const Json& node, const char* key, const fs::path& file) {
  const Json& v = member(node, key, file);
  if (!v.is_number()) throw InputError(file.string() + ": \"" + key + "\" is not a number");
  return v.get<T>();
}

std::vector<GemmTable> read_gemms(const fs::path& file) {
  std::map<std::tuple<int64_t, int64_t>, GemmTable> by_shape;
  std::map<std::tuple<int64_t, int64_t>, std::map<double, double>> points;
  const Json document = load_json_file(file);
  for (const Json& r : member(document, "results", file)) {
    const auto key = std::make_tuple(number<int64_t>(r, "in_features", file), number<int64_t>(r, "out_features", file));
    GemmTable& t = by_shape[key];
    if (t.layer.empty()) {
      t.model = member(r, "model", file).get<std::string>();
      t.layer = member(r, "layer", file).get<std::string>();
      t.in_features = std::get<0>(key);
      t.out_features = std::get<1>(key);
    }
    // Models that share a shape measured it more than once: the first measurement stands.
    points[key].emplace(number<double>(r, "tokens", file), number<double>(r, "us", file));
  }
  std::vector<GemmTable> tables;
  for (auto& [key, t] : by_shape) {
    for (const auto& [tokens, us] : points[key]) {
      t.tokens.push_back(tokens);
      t.us.push_back(us);
    }
    tables.push_back(std::move(t));
  }
  return tables;
}

AttentionTable read_paged_attention(const fs::path& file) {
  const Json document = load_json_file(file);
  const Json& config = member(document, "config", file);
  AttentionTable t;
  t.q_heads = number<int64_t>(config, "q_heads", file);
  t.kv_heads = number<int64_t>(config, "kv_heads", file);
  t.head_dim = number<int64_t>(config, "head_dim", file);
  t.block_size = number<int64_t>(config, "block_size", file);
  t.dtype = member(config, "dtype", file).get<std::string>();
  std::map<std::pair<double, double>, double> us;
  for (const Json& r : member(document, "results", file)) {
    const double batch = number<double>(r, "batch", file);
    const double context = number<double>(r, "context", file);
    us[{batch, context}] = number<double>(r, "us", file);
    if (std::find(t.batch.begin(), t.batch.end(), batch) == t.batch.end()) t.batch.push_back(batch);
    if (std::find(t.context.begin(), t.context.end(), context) == t.context.end()) t.context.push_back(context);
  }
  std::sort(t.batch.begin(), t.batch.end());
  std::sort(t.context.begin(), t.context.end());
  for (const double b : t.batch) {
    for (const double c : t.context) {
      const auto it = us.find({b, c});
      if (it == us.end())
        throw InputError(
            fmt::format("{}: no measurement at batch {}, context {}: the grid must be complete", file.string(), b, c));
      t.us.push_back(it->second);
    }
  }
  return t;
}

std::vector<double> numbers(const Json& node, const char* key, const fs::path& file) {
  const Json& v = member(node, key, file);
  if (!v.is_array()) throw InputError(file.string() + ": \"" + key + "\" is not a list");
  std::vector<double> out;
  for (const Json& x : v) {
    if (!x.is_number()) throw InputError(file.string() + ": \"" + key + "\" holds a value that is not a number");
    out.push_back(x.get<double>());
  }
  return out;
}

// The step overhead is what a model with no layers costs beyond its output head: the median
// over the measured models of the zero-layer decode step (CUDA graph, batch 1) less the
// output head's GEMM at one token.
double fitted_step_overhead_us(const Json& zero_layer, const std::vector<GemmTable>& gemms, const fs::path& file) {
  std::vector<double> overheads;
  for (const Json& z : zero_layer) {
    const auto hidden = number<int64_t>(z, "hidden_size", file);
    const auto vocab = number<int64_t>(z, "vocab_size", file);
    const auto head = std::find_if(gemms.begin(), gemms.end(), [&](const GemmTable& t) {
      return t.in_features == hidden && t.out_features == vocab;
    });
    if (head == gemms.end()) continue;
    overheads.push_back(number<double>(z, "graph_decode_batch1_us", file) -
                        interpolate_loglog(head->tokens, head->us, 1));
  }
  if (overheads.empty()) return 0;
  std::sort(overheads.begin(), overheads.end());
  const size_t n = overheads.size();
  return std::max(0.0, n % 2 ? overheads[n / 2] : (overheads[n / 2 - 1] + overheads[n / 2]) / 2);
}

void read_components(const fs::path& file, CalibrationProfile& profile, bool fit_overhead) {
  const Json document = load_json_file(file);
  for (const Json& r : member(document, "prefill_attention", file)) {
    AttentionTable t;
    t.q_heads = number<int64_t>(r, "q_heads", file);
    t.kv_heads = number<int64_t>(r, "kv_heads", file);
    t.head_dim = number<int64_t>(r, "head_dim", file);
    t.dtype = member(r, "dtype", file).get<std::string>();
    t.batch = numbers(r, "batch", file);
    t.context = numbers(r, "context", file);
    t.us = numbers(r, "us", file);
    profile.prefill_attention.push_back(std::move(t));
  }
  // The CUDA-graph replay is the kernels' GPU time; eager launches overlap the GEMMs.
  for (const Json& r : member(document, "elementwise", file)) {
    if (member(r, "mode", file).get<std::string>() != "graph") continue;
    ElementwiseTable t;
    t.model = member(r, "model", file).get<std::string>();
    t.hidden_size = number<int64_t>(r, "hidden_size", file);
    t.ffn_size = number<int64_t>(r, "ffn_size", file);
    t.ffn_kind = member(r, "ffn_kind", file).get<std::string>();
    t.tokens = numbers(r, "tokens", file);
    t.us = numbers(r, "us", file);
    profile.elementwise.push_back(std::move(t));
  }
  if (fit_overhead)
    profile.step_overhead_us = fitted_step_overhead_us(member(document, "zero_layer", file), profile.gemm, file);
}

// Points of one measured curve, ascending in x; a repeated x (two token counts that routed the
// same number of rows) keeps its first measurement.
void append_point(std::vector<double>& xs, std::vector<double>& ys, double x, double y, const fs::path& file) {
  if (!(x > 0) || !(y > 0)) throw InputError(file.string() + ": a point with a non-positive count or time");
  if (!xs.empty() && x <= xs.back()) return;
  xs.push_back(x);
  ys.push_back(y);
}

// kernels/gemm/moe_gemm_bench.py's moe_gemm.json -> grouped_gemm (two tables per expert set:
// gate+up and down) and fp8_gemm.
void read_moe_gemm(const fs::path& file, CalibrationProfile& profile) {
  const Json document = load_json_file(file);
  profile.grouped_gemm.clear();
  profile.fp8_gemm.clear();
  for (const Json& g : member(document, "grouped", file)) {
    const auto hidden = number<int64_t>(g, "hidden_size", file);
    const auto ffn = number<int64_t>(g, "expert_ffn_size", file);
    GroupedGemmTable gate_up, down;
    for (GroupedGemmTable* t : {&gate_up, &down}) {
      t->model = member(g, "model", file).get<std::string>();
      t->dtype = member(g, "dtype", file).get<std::string>();
      t->experts = number<int64_t>(g, "experts", file);
    }
    gate_up.layer = "experts.gate_up_proj";
    gate_up.in_features = hidden;
    gate_up.out_features = 2 * ffn;
    down.layer = "experts.down_proj";
    down.in_features = ffn;
    down.out_features = hidden;
    for (const Json& p : member(g, "points", file)) {
      const auto rows = number<double>(p, "assignments", file);
      append_point(gate_up.assignments, gate_up.us, rows, number<double>(p, "gate_up_us", file), file);
      append_point(down.assignments, down.us, rows, number<double>(p, "down_us", file), file);
    }
    profile.grouped_gemm.push_back(std::move(gate_up));
    profile.grouped_gemm.push_back(std::move(down));
  }
  for (const Json& f : member(document, "fp8", file)) {
    GemmTable t;
    t.model = member(f, "model", file).get<std::string>();
    t.layer = member(f, "layer", file).get<std::string>();
    t.in_features = number<int64_t>(f, "in_features", file);
    t.out_features = number<int64_t>(f, "out_features", file);
    for (const Json& p : member(f, "points", file))
      append_point(t.tokens, t.us, number<double>(p, "tokens", file), number<double>(p, "us", file), file);
    profile.fp8_gemm.push_back(std::move(t));
  }
}

CalibrationProfile merge(const fs::path& dir, const std::string& gpu, std::optional<double> step_overhead_us) {
  if (!fs::is_directory(dir)) throw InputError(dir.string() + ": not a folder of measurements");
  CalibrationProfile profile;
  profile.gpu = gpu;
  profile.step_overhead_us = step_overhead_us.value_or(0);
  std::vector<fs::path> files;
  for (const auto& entry : fs::directory_iterator(dir)) files.push_back(entry.path());
  std::sort(files.begin(), files.end());
  for (const fs::path& f : files) {
    const std::string name = f.filename().string();
    if (name == "gemm.json") profile.gemm = read_gemms(f);
    if (name == "moe_gemm.json") read_moe_gemm(f, profile);
    if (name.starts_with("pa_") && name.ends_with(".json")) {
      AttentionTable t = read_paged_attention(f);
      // One table per shape: f16 over bf16 (the catalogue's models are fp16).
      const auto same =
          std::find_if(profile.paged_attention.begin(), profile.paged_attention.end(), [&](const AttentionTable& o) {
            return o.q_heads == t.q_heads && o.kv_heads == t.kv_heads && o.head_dim == t.head_dim &&
                   o.block_size == t.block_size;
          });
      if (same == profile.paged_attention.end())
        profile.paged_attention.push_back(std::move(t));
      else if (t.dtype == "f16")
        *same = std::move(t);
    }
  }
  if (profile.gemm.empty()) throw InputError(dir.string() + ": no gemm.json");
  const fs::path components = dir / "components.json";
  const bool measured_components = fs::exists(components);
  const bool measured_moe = !profile.grouped_gemm.empty() || !profile.fp8_gemm.empty();
  if (measured_components) read_components(components, profile, !step_overhead_us);
  profile.source =
      "slsim calibrate from " + dir.filename().string() + ": gemm.json (cuBLASLt, bf16), pa_*.json (kernels/pa_bench)" +
      (measured_components ? ", components.json (scripts/measure_components.py: prefill attention, elementwise "
                             "kernels, step overhead from the zero-layer decode step)"
                           : "; no prefill attention or elementwise kernels measured") +
      (measured_moe ? ", moe_gemm.json (kernels/gemm/moe_gemm_bench.py: grouped expert GEMMs, fp8 GEMMs)" : "");
  return profile;
}

StepShape prefill_shape(int64_t batch, int64_t prompt_tokens) {
  StepShape shape;
  shape.prefill_tokens = batch * prompt_tokens;
  shape.prefill_sequences = batch;
  shape.prefill_attention_pairs = static_cast<double>(batch) * static_cast<double>(prompt_tokens * prompt_tokens) / 2;
  return shape;
}

StepShape decode_shape(int64_t batch, int64_t context_tokens) {
  StepShape shape;
  shape.decode_sequences = batch;
  shape.decode_context_tokens = batch * context_tokens;
  return shape;
}

// A model's and phase's relative step-time errors (predicted - measured) / measured.
struct StepErrors {
  std::string model;
  std::string phase;
  std::vector<double> errors;

  double mape() const {
    double sum = 0;
    for (const double e : errors) sum += std::abs(e);
    return sum / static_cast<double>(errors.size());
  }
  // The error of largest magnitude, with its sign.
  double worst() const {
    return *std::max_element(errors.begin(), errors.end(),
                             [](double a, double b) { return std::abs(a) < std::abs(b); });
  }
};

// Appends `error` to the last group if it is the same model and phase, else to a new group, so
// that groups follow the measurements' order.
void add_error(std::vector<StepErrors>& groups, const std::string& model, const std::string& phase, double error) {
  if (groups.empty() || groups.back().model != model || groups.back().phase != phase)
    groups.push_back(StepErrors{model, phase, {}});
  groups.back().errors.push_back(error);
}

// Measured transformer steps (results/calibration/transformer_measured_<gpu>.json) beside the
// calibrated and the roofline predictions, as a Markdown table.
void check(const CalibrationProfile& profile, const fs::path& measured_file, const fs::path& gpu_file) {
  GpuProfile gpu;
  JsonReader::read_struct(load_json_file(gpu_file), "", gpu);
  const Json measured = load_json_file(measured_file);
  std::cout << "| model | step | batch | tokens | measured ms | calibrated ms | error | roofline ms "
               "|\n|---|---|---|---|---|---|---|---|\n";
  std::vector<StepErrors> errors;  // of the calibrated model, per model and step kind, in file order
  for (const Json& m : member(measured, "models", measured_file)) {
    ModelSpec spec;
    spec.name = member(m, "model", measured_file).get<std::string>();
    JsonReader::read_struct(member(m, "architecture", measured_file), spec.name + ".architecture", spec.architecture);
    const CalibratedLatency calibrated(spec, gpu, 1, 16, RooflineParams{}, profile);
    const RooflineLatency roofline(spec, gpu, 1, RooflineParams{});
    auto row = [&](const char* step, int64_t batch, int64_t tokens, double ms, const StepShape& shape) {
      const double predicted_ms = calibrated.step_time(shape).seconds() * 1e3;
      const double error = (predicted_ms - ms) / ms;
      add_error(errors, spec.name, step, error);
      std::cout << fmt::format("| {} | {} | {} | {} | {:.2f} | {:.2f} | {:+.1f}% | {:.2f} |\n", spec.name, step, batch,
                               tokens, ms, predicted_ms, 100 * error, roofline.step_time(shape).seconds() * 1e3);
    };
    for (const Json& p : member(m, "prefill", measured_file)) {
      const auto batch = number<int64_t>(p, "batch", measured_file);
      const auto prompt = number<int64_t>(p, "prompt_tokens", measured_file);
      row("prefill", batch, prompt, number<double>(p, "ms", measured_file), prefill_shape(batch, prompt));
    }
    for (const Json& d : member(m, "decode", measured_file)) {
      const auto batch = number<int64_t>(d, "batch", measured_file);
      const auto context = number<int64_t>(d, "context_tokens", measured_file);
      row("decode", batch, context, number<double>(d, "ms", measured_file), decode_shape(batch, context));
    }
    for (const std::string& e : calibrated.estimates())
      std::cout << "|   " << spec.name << " estimated: " << e << " ||||||||\n";
  }
  std::cout << "\n| model | step | shapes | MAPE | worst |\n|---|---|---|---|---|\n";
  for (const StepErrors& e : errors)
    std::cout << fmt::format("| {} | {} | {} | {:.1f}% | {:.1f}% |\n", e.model, e.phase, e.errors.size(),
                             100 * e.mape(), 100 * std::abs(e.worst()));
}

// The `startup` section from kernels/testbed/startup_phases.py's output: per model, the medians
// of its phases, grouped as the loader pays them.
StartupProfile read_startup(const fs::path& file, const std::string& profile_gpu) {
  const Json document = load_json_file(file);
  const Json& env = member(document, "environment", file);
  StartupProfile startup;
  startup.gpu_name = member(env, "gpu", file).get<std::string>();
  startup.driver = member(env, "driver", file).get<std::string>();
  startup.date_utc = member(env, "date_utc", file).get<std::string>();
  startup.command = member(env, "command", file).get<std::string>();
  for (const Json& m : member(document, "models", file)) {
    const Json& summary = member(m, "summary", file);
    const auto median = [&](const char* phase) {
      return number<double>(member(summary, phase, file), "median_s", file);
    };
    StartupMeasurement s;
    s.model = member(m, "model", file).get<std::string>();
    s.checkpoint_bytes = number<int64_t>(m, "weight_bytes", file);
    s.process_start_s = median("interpreter") + median("import_torch");
    s.gpu_context_s = median("cuda_context");
    s.engine_setup_s = median("allocate_weights") + median("allocate_kv");
    s.compile_s = median("compile_ops");
    s.graph_capture_s = median("graph_capture");
    s.warm_up_s = median("warm_up");
    startup.models.push_back(std::move(s));
  }
  std::sort(startup.models.begin(), startup.models.end(), [](const StartupMeasurement& a, const StartupMeasurement& b) {
    return a.checkpoint_bytes < b.checkpoint_bytes;
  });
  // "h100-sxm" is measured on a GPU whose name says "H100": another GPU's figures say so.
  std::string family = profile_gpu.substr(0, profile_gpu.find('-'));
  std::string measured = startup.gpu_name;
  std::transform(measured.begin(), measured.end(), measured.begin(), [](unsigned char c) { return std::tolower(c); });
  const bool borrowed = measured.find(family) == std::string::npos;
  startup.source = fmt::format(
      "{}slsim calibrate --startup {}: medians of {}; process_start = interpreter + import_torch, engine_setup = "
      "allocate_weights + allocate_kv",
      borrowed ? fmt::format("BORROWED from {} until {} is measured: ", startup.gpu_name, profile_gpu) : "",
      file.filename().string(), document.value("program", "kernels/testbed/startup_phases.py"));
  return startup;
}

struct EngineStep {
  std::string model;
  ModelSpec spec;
  std::string phase;
  int64_t batch = 0;
  int64_t tokens = 0;  // prompt tokens (prefill) or context tokens (decode)
  double step_us = 0;  // wall time of the step
  double gpu_us = 0;   // the forward's or graph replay's GPU time
};

// Every measured step of kernels/testbed/engine.py's output (skipped shapes left out). Files
// of the engine before its batched prefill (prefill rows with `padded_tokens`) ran a step of
// several prompts as one graph per prompt, back to back: such a step counts as that many
// one-prompt steps, each a share of its time, which is what was measured.
std::vector<EngineStep> read_engine_steps(const fs::path& file) {
  const Json document = load_json_file(file);
  std::vector<EngineStep> steps;
  int64_t split = 0;
  for (const Json& m : member(document, "models", file)) {
    ModelSpec spec;
    spec.name = member(m, "model", file).get<std::string>();
    JsonReader::read_struct(member(m, "architecture", file), spec.name + ".architecture", spec.architecture);
    for (const char* phase : {"prefill", "decode"}) {
      const bool decode = std::string(phase) == "decode";
      for (const Json& r : member(m, phase, file)) {
        if (r.contains("skipped")) continue;
        EngineStep step{spec.name,
                        spec,
                        phase,
                        number<int64_t>(r, "batch", file),
                        number<int64_t>(r, decode ? "context_tokens" : "prompt_tokens", file),
                        1e3 * number<double>(r, "step_ms", file),
                        1e3 * number<double>(r, decode ? "graph_ms" : "forward_ms", file)};
        if (!decode && r.contains("padded_tokens") && step.batch > 1) {
          const auto prompts = static_cast<double>(step.batch);
          step.step_us /= prompts;
          step.gpu_us /= prompts;
          step.batch = 1;
          ++split;
        }
        steps.push_back(std::move(step));
      }
    }
  }
  if (split > 0)
    std::cerr << fmt::format(
        "slsim calibrate: {}: {} prefill steps of several prompts ran one graph per prompt (the engine before its "
        "batched prefill); each is taken as one-prompt steps of an equal share of its time\n",
        file.string(), split);
  return steps;
}

// The file's name and, where it records them, the GPU, driver and date it was measured on: a
// profile's source then says which machine its tables describe.
std::string measured_on(const fs::path& file) {
  const Json document = load_json_file(file);
  const auto env = document.find("environment");
  if (env == document.end() || !env->is_object()) return file.filename().string();
  return fmt::format("{} ({}, driver {}, {})", file.filename().string(), env->value("gpu", "GPU not recorded"),
                     env->value("driver", "not recorded"), env->value("date_utc", "date not recorded"));
}

StepShape shape_of(const EngineStep& step) {
  return step.phase == "decode" ? decode_shape(step.batch, step.tokens) : prefill_shape(step.batch, step.tokens);
}

// The token counts the engine captured prefill graphs at, and where they came from.
struct PrefillTokenBuckets {
  std::vector<int64_t> counts;
  std::string origin;

  std::string describe() const {
    return fmt::format("prefill token buckets: {} counts, {} to {}, from {}", counts.size(), counts.front(),
                       counts.back(), origin);
  }
};

// config.prefill_token_buckets of an engine steps file, read without its other keys.
struct RecordedBuckets {
  std::vector<int64_t> prefill_token_buckets;

  template <class V>
  void visit(V& v) {
    v.field("prefill_token_buckets", prefill_token_buckets, "token counts the engine captured prefill graphs at");
  }
};

// --prefill-token-buckets (comma separated), else the steps file's config.prefill_token_buckets
// (kernels/testbed/engine.py records them), else none; checked as the profile's loader checks them.
std::optional<PrefillTokenBuckets> read_prefill_token_buckets(const po::variables_map& values,
                                                              const std::optional<fs::path>& steps_file) {
  if (values.count("prefill-token-buckets")) {
    const std::string list = values["prefill-token-buckets"].as<std::string>();
    std::vector<int64_t> buckets;
    for (size_t begin = 0; begin <= list.size();) {
      const size_t end = std::min(list.find(',', begin), list.size());
      const std::string item = list.substr(begin, end - begin);
      size_t used = 0;
      try {
        buckets.push_back(std::stoll(item, &used));
      } catch (const std::exception&) {
        used = 0;
      }
      if (used == 0 || used != item.size())
        throw po::error("--prefill-token-buckets: expected token counts separated by commas, got \"" + item +
                        "\" in \"" + list + "\"");
      begin = end + 1;
    }
    check_prefill_token_buckets(buckets, "--prefill-token-buckets");
    return PrefillTokenBuckets{std::move(buckets), "--prefill-token-buckets"};
  }
  if (!steps_file) return std::nullopt;
  const Json document = load_json_file(*steps_file);
  const auto config = document.find("config");
  if (config == document.end() || !config->is_object() || !config->contains("prefill_token_buckets"))
    return std::nullopt;
  const std::string path = steps_file->string() + ": config";
  RecordedBuckets recorded;
  JsonReader::read_struct(Json{{"prefill_token_buckets", (*config)["prefill_token_buckets"]}}, path, recorded);
  check_prefill_token_buckets(recorded.prefill_token_buckets, path + ".prefill_token_buckets");
  if (recorded.prefill_token_buckets.empty()) return std::nullopt;
  return PrefillTokenBuckets{std::move(recorded.prefill_token_buckets), steps_file->filename().string()};
}

// The graphs' fused elementwise kernels per model and step tokens (decode: the batch; prefill:
// the prompts' tokens together, padded to `padding`'s buckets as the engine ran them): the GPU
// time of the `phase` steps less the base tables' GEMMs and attention (at those tokens) and the
// base step overhead, per layer (mean over the shapes of equal tokens).
std::vector<ElementwiseTable> graph_elementwise_tables(const CalibrationProfile& base, const GpuProfile& gpu,
                                                       const std::vector<EngineStep>& steps, const std::string& phase,
                                                       const EngineProfile& padding) {
  CalibrationProfile kernels_only = base;
  kernels_only.step_overhead_us = 0;
  kernels_only.elementwise.clear();
  kernels_only.engine_profiles.clear();
  kernels_only.default_engine_profile = kEagerProfile;
  std::vector<ElementwiseTable> tables;
  std::map<std::string, std::map<int64_t, std::vector<double>>> per_layer_us;
  std::map<std::string, const ModelSpec*> specs;
  for (const EngineStep& s : steps) {
    if (s.phase != phase) continue;
    const CalibratedLatency kernels(s.spec, gpu, 1, 16, RooflineParams{}, kernels_only);
    const StepShape shape = shape_of(s);
    const auto run_tokens = phase == "decode"
                                ? static_cast<double>(s.batch)
                                : padding.padded_prefill_tokens(static_cast<double>(shape.prefill_tokens));
    const double rest_us =
        s.gpu_us - kernels.step_time_running(shape, run_tokens).seconds() * 1e6 - base.step_overhead_us;
    const auto tokens = static_cast<int64_t>(run_tokens);
    per_layer_us[s.model][tokens].push_back(rest_us / static_cast<double>(s.spec.architecture.layers));
    specs[s.model] = &s.spec;
  }
  for (const auto& [model, by_tokens] : per_layer_us) {
    ElementwiseTable t;
    const Architecture& a = specs[model]->architecture;
    t.model = model;
    t.hidden_size = a.hidden_size;
    t.ffn_size = a.ffn_size;
    t.ffn_kind = a.ffn_kind;
    for (const auto& [tokens, values] : by_tokens) {
      double sum = 0;
      for (const double v : values) sum += v;
      t.tokens.push_back(static_cast<double>(tokens));
      // A rest at or below zero means the kernel tables overestimate this shape; the table's
      // times must be positive, so it keeps a nanosecond.
      t.us.push_back(std::max(1e-3, sum / static_cast<double>(values.size())));
    }
    tables.push_back(std::move(t));
  }
  return tables;
}

// The graph-captured profile from the engine's steps. A step's wall time is the graphs' GPU
// time plus host work (inputs, block tables, tokens back), fitted over every decode step as
// a + c x sequences. The graphs' GPU time is the base tables' GEMMs and attention, the base step
// overhead (a graph launch, from the zero-layer graph step), and the fused elementwise kernels:
// per model and step tokens, the rest divided over the layers, for decode and prefill apart.
EngineProfile derive_graph_captured(const CalibrationProfile& base, const GpuProfile& gpu,
                                    const std::vector<EngineStep>& steps, const fs::path& file, int64_t max_batch,
                                    const std::optional<PrefillTokenBuckets>& buckets) {
  double n = 0, sx = 0, sy = 0, sxx = 0, sxy = 0;
  for (const EngineStep& s : steps) {
    if (s.phase != "decode") continue;
    const auto x = static_cast<double>(s.batch);
    const double y = s.step_us - s.gpu_us;
    n += 1, sx += x, sy += y, sxx += x * x, sxy += x * y;
  }
  if (n < 2) throw InputError(file.string() + ": fewer than two decode steps measured");
  const double slope = std::max(0.0, (n * sxy - sx * sy) / (n * sxx - sx * sx));
  const double intercept = std::max(0.0, (sy - slope * sx) / n);
  EngineProfile profile;
  profile.name = "graph-captured";
  profile.max_batch = max_batch;
  profile.step_overhead_us = base.step_overhead_us + intercept;
  profile.per_sequence_us = slope;
  if (buckets) profile.prefill_token_buckets = buckets->counts;
  profile.elementwise = graph_elementwise_tables(base, gpu, steps, "decode", profile);
  profile.prefill_elementwise = graph_elementwise_tables(base, gpu, steps, "prefill", profile);
  profile.source = fmt::format(
      "slsim calibrate --engine-steps {}: host time (step_ms - graph_ms) = {:.1f} + {:.2f} x sequences us over {} "
      "decode steps; graph GPU time = the base tables' GEMMs and attention + the base step overhead + these per-model "
      "fused elementwise tables, decode (by batch, mean over contexts) and prefill (by the prompts' tokens)",
      measured_on(file), intercept, slope, static_cast<int64_t>(n));
  profile.source +=
      "; " + (buckets ? buckets->describe() : std::string("no prefill token buckets: prompt steps unpadded"));
  return profile;
}

// Step-time errors of `profile`'s `engine_profile` against the engine's wall step times, per
// model and phase, as Markdown; returns them.
std::vector<StepErrors> report_mape(const CalibrationProfile& profile, const std::string& engine_profile,
                                    const GpuProfile& gpu, const std::vector<EngineStep>& steps,
                                    const std::string& title, bool per_step) {
  std::vector<StepErrors> table;
  std::string rows;
  for (const EngineStep& s : steps) {
    const CalibratedLatency model(s.spec, gpu, 1, 16, RooflineParams{}, profile, engine_profile);
    const double predicted_us = model.step_time(shape_of(s)).seconds() * 1e6;
    const double error = (predicted_us - s.step_us) / s.step_us;
    add_error(table, s.model, s.phase, error);
    rows += fmt::format("| {} | {} | {} | {} | {:.3f} | {:.3f} | {:+.1f}% |\n", s.model, s.phase, s.batch, s.tokens,
                        s.step_us / 1e3, predicted_us / 1e3, 100 * error);
  }
  std::cout << "\n" << title << "\n\n| model | phase | shapes | MAPE | worst |\n|---|---|---|---|---|\n";
  for (const StepErrors& m : table)
    std::cout << fmt::format("| {} | {} | {} | {:.1f}% | {:+.1f}% |\n", m.model, m.phase, m.errors.size(),
                             100 * m.mape(), 100 * m.worst());
  if (per_step)
    std::cout << "\n| model | phase | batch | tokens | measured ms | predicted ms | error |\n"
              << "|---|---|---|---|---|---|---|\n"
              << rows;
  return table;
}

// The eager and the graph-captured profiles against `steps` (and --check-steps' file); returns
// the graph-captured profile's errors against `steps`.
std::vector<StepErrors> report_engine_steps(const CalibrationProfile& profile, const GpuProfile& gpu,
                                            const std::vector<EngineStep>& steps, const fs::path& steps_file,
                                            const po::variables_map& values) {
  const bool per_step = values.count("per-step") > 0;
  report_mape(profile, kEagerProfile, gpu, steps, "eager profile against " + steps_file.string() + " (wall step)",
              per_step);
  std::vector<StepErrors> graph =
      report_mape(profile, "graph-captured", gpu, steps,
                  "graph-captured profile against " + steps_file.string() + " (wall step)", per_step);
  if (values.count("check-steps"))
    report_mape(profile, "graph-captured", gpu, read_engine_steps(values["check-steps"].as<std::string>()),
                "graph-captured profile against " + values["check-steps"].as<std::string>() + " (wall step)", per_step);
  return graph;
}

void write_profile(const fs::path& file, CalibrationProfile& profile) {
  write_file_atomically(file.string(), JsonWriter::to_json(profile).dump(1) + "\n");
  load_calibration(file.string());
  std::cerr << "slsim calibrate: updated " << file.string() << "\n";
}

// The profile's graph-captured engine profile, which `what` (an --update step) needs.
EngineProfile* graph_captured(CalibrationProfile& profile, const std::string& file, const std::string& what) {
  const auto graph = std::find_if(profile.engine_profiles.begin(), profile.engine_profiles.end(),
                                  [](const EngineProfile& e) { return e.name == "graph-captured"; });
  if (graph == profile.engine_profiles.end()) throw InputError(file + ": no graph-captured engine profile to " + what);
  return &*graph;
}

// Adds the models of `steps` to the existing graph-captured profile: their fused elementwise
// tables, keeping the host-time fit and every other model's table (a model measured later,
// e.g. an MoE, then leaves the dense models' step times as they were).
void add_models(CalibrationProfile& profile, const GpuProfile& gpu, const std::vector<EngineStep>& steps,
                const fs::path& steps_file, const po::variables_map& values) {
  EngineProfile* graph = graph_captured(profile, values["update"].as<std::string>(),
                                        "add models to (derive one with --engine-steps first)");
  const std::string measured = measured_on(steps_file);
  const auto replace = [&](std::vector<ElementwiseTable>& tables, const std::string& phase) {
    for (ElementwiseTable& t : graph_elementwise_tables(profile, gpu, steps, phase, *graph)) {
      std::erase_if(tables, [&](const ElementwiseTable& o) { return o.model == t.model; });
      graph->source += fmt::format("; {}'s {} table from {}", t.model, phase, measured);
      tables.push_back(std::move(t));
    }
  };
  const std::optional<PrefillTokenBuckets> measured_buckets = read_prefill_token_buckets(values, steps_file);
  if (measured_buckets && measured_buckets->counts != graph->prefill_token_buckets)
    std::cerr << "slsim calibrate: " << steps_file.string()
              << "'s engine captured other prefill token buckets than the profile's; the added models' tables are "
                 "fitted with the profile's\n";
  replace(graph->elementwise, "decode");
  replace(graph->prefill_elementwise, "prefill");
  report_engine_steps(profile, gpu, steps, steps_file, values);
}

// Rewrites sections of an existing profile from the testbed's measurements.
void update(const fs::path& file, const po::variables_map& values) {
  CalibrationProfile profile = load_calibration(file.string());
  if (values.count("startup")) profile.startup = read_startup(values["startup"].as<std::string>(), profile.gpu);
  if (values.count("moe-gemm")) read_moe_gemm(values["moe-gemm"].as<std::string>(), profile);
  if (values.count("engine-steps")) {
    if (!values.count("gpu-profile")) throw po::error("--engine-steps needs --gpu-profile");
    GpuProfile gpu;
    JsonReader::read_struct(load_json_file(values["gpu-profile"].as<std::string>()), "", gpu);
    const fs::path steps_file = values["engine-steps"].as<std::string>();
    const std::vector<EngineStep> steps = read_engine_steps(steps_file);
    if (values.count("add-models")) {
      if (values.count("prefill-token-buckets"))
        throw po::error("--prefill-token-buckets does not apply with --add-models: added models take the profile's");
      add_models(profile, gpu, steps, steps_file, values);
      write_profile(file, profile);
      return;
    }
    const std::optional<PrefillTokenBuckets> buckets = read_prefill_token_buckets(values, steps_file);
    if (!buckets)
      std::cerr << "slsim calibrate: " << steps_file.string()
                << " records no config.prefill_token_buckets and --prefill-token-buckets is not given: the profile "
                   "runs prompt steps unpadded\n";
    EngineProfile derived =
        derive_graph_captured(profile, gpu, steps, steps_file, values["max-captured-batch"].as<int64_t>(), buckets);
    std::erase_if(profile.engine_profiles, [&](const EngineProfile& e) { return e.name == derived.name; });
    profile.engine_profiles.push_back(std::move(derived));
    const std::vector<StepErrors> graph = report_engine_steps(profile, gpu, steps, steps_file, values);
    // The default only where every model's decode is within the 5 %.
    bool good = true;
    for (const StepErrors& m : graph)
      if (m.phase == "decode") good = good && m.mape() <= 0.05;
    profile.default_engine_profile = good ? "graph-captured" : kEagerProfile;
    std::cout << "\ndefault_engine_profile: " << profile.default_engine_profile
              << (good ? " (every model's decode MAPE <= 5%)\n" : " (some model's decode MAPE > 5%)\n");
  } else if (values.count("prefill-token-buckets")) {
    // Tables measured at whole buckets stay valid; only steps between buckets change.
    EngineProfile* graph = graph_captured(profile, file.string(), "set prefill_token_buckets on");
    const PrefillTokenBuckets buckets = *read_prefill_token_buckets(values, std::nullopt);
    graph->prefill_token_buckets = buckets.counts;
    graph->source += "; " + buckets.describe() + " (slsim calibrate --update)";
  }
  write_profile(file, profile);
}

}  // namespace

int calibrate_command(const std::vector<std::string>& args) {
  po::options_description options("slsim calibrate options");
  options.add_options()("measurements", po::value<std::string>(), "folder of kernels/ outputs (gemm.json, pa_*.json)")(
      "gpu", po::value<std::string>(), "GPU profile name the measurements were taken on (h200)")(
      "output,o", po::value<std::string>(), "calibration profile to write (models/calibration/<gpu>.json)")(
      "update", po::value<std::string>(),
      "an existing calibration profile to rewrite sections of (with --startup, --moe-gemm, --engine-steps or "
      "--prefill-token-buckets)")("startup", po::value<std::string>(),
                                  "with --update: kernels/testbed startup_phases.json -> `startup`")(
      "engine-steps", po::value<std::string>(),
      "with --update and --gpu-profile: kernels/testbed engine_steps.json -> the graph-captured engine profile")(
      "max-captured-batch", po::value<int64_t>()->default_value(256),
      "the engine's largest CUDA-graph batch (vLLM and the testbed: 256)")(
      "check-steps", po::value<std::string>(), "with --engine-steps: another run's engine_steps.json to report on")(
      "per-step", "with --engine-steps: every step's measured and predicted time besides the errors")(
      "add-models",
      "with --engine-steps: add the file's models to the existing graph-captured profile, keeping its "
      "host-time fit, prefill token buckets and the other models' tables")(
      "prefill-token-buckets", po::value<std::string>(),
      "with --update: the token counts the engine captures prefill graphs at, comma separated (default with "
      "--engine-steps: the file's config.prefill_token_buckets; not with --add-models); alone, sets them on the "
      "graph-captured profile")(
      "moe-gemm", po::value<std::string>(),
      "with --update: kernels/gemm/moe_gemm_bench.py moe_gemm.json -> grouped_gemm and fp8_gemm")(
      "step-overhead-us", po::value<double>(),
      "fixed cost per step beyond the kernels, µs (default: fitted from components.json, else 0)")(
      "check", po::value<std::string>(),
      "measured transformer steps to compare against (results/calibration/transformer_measured_<gpu>.json)")(
      "gpu-profile", po::value<std::string>(),
      "the GPU's hardware profile, for --check (models/hardware/gpus/<gpu>.json)")("help,h", "describe this command");
  po::positional_options_description positional;
  positional.add("measurements", 1);
  po::variables_map values;
  po::store(po::command_line_parser(args).options(options).positional(positional).run(), values);
  if (values.count("help")) {
    std::cout << "usage: slsim calibrate MEASUREMENTS_DIR --gpu NAME -o FILE [--check FILE --gpu-profile FILE]\n"
              << "       slsim calibrate --update PROFILE [--startup FILE] [--moe-gemm FILE]\n"
              << "                       [--engine-steps FILE --gpu-profile FILE [--add-models] [--check-steps FILE]]\n"
              << "                       [--prefill-token-buckets LIST]\n"
              << options << "\n";
    return 0;
  }
  po::notify(values);
  if (values.count("update")) {
    if (!values.count("startup") && !values.count("engine-steps") && !values.count("moe-gemm") &&
        !values.count("prefill-token-buckets"))
      throw po::error("--update needs --startup, --moe-gemm, --engine-steps or --prefill-token-buckets");
    update(values["update"].as<std::string>(), values);
    return 0;
  }
  for (const char* required : {"measurements", "gpu", "output"})
    if (!values.count(required)) throw po::error(std::string("missing --") + required + " (or use --update)");
  if (values.count("check") != values.count("gpu-profile")) throw po::error("--check and --gpu-profile go together");
  std::optional<double> step_overhead_us;
  if (values.count("step-overhead-us")) step_overhead_us = values["step-overhead-us"].as<double>();
  CalibrationProfile profile =
      merge(values["measurements"].as<std::string>(), values["gpu"].as<std::string>(), step_overhead_us);
  write_file_atomically(values["output"].as<std::string>(), JsonWriter::to_json(profile).dump(1) + "\n");
  // Read back through the engine's loader, so that a profile this writes is one a run accepts.
  load_calibration(values["output"].as<std::string>());
  std::cerr << fmt::format(
      "slsim calibrate: {} GEMM shapes, {} paged-attention, {} prefill-attention, {} elementwise tables, "
      "step overhead {:.1f} us -> {}\n",
      profile.gemm.size(), profile.paged_attention.size(), profile.prefill_attention.size(), profile.elementwise.size(),
      profile.step_overhead_us, values["output"].as<std::string>());
  if (values.count("check")) check(profile, values["check"].as<std::string>(), values["gpu-profile"].as<std::string>());
  return 0;
}

}  // namespace slsim
