// `slsim calibrate`: merges the raw measurements of kernels/ (gemm_bench's gemm.json and
// pa_bench's pa_*.json) and of scripts/measure_components.py (components.json) into one
// calibration profile (docs/calibration.md), and optionally sets the calibrated and roofline
// step times beside measured transformer steps.

#include "sim/cli/calibrate_command.h"

#include <fmt/format.h>

#include <algorithm>
#include <boost/program_options.hpp>
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
  if (measured_components) read_components(components, profile, !step_overhead_us);
  profile.source =
      "slsim calibrate from " + dir.filename().string() + ": gemm.json (cuBLASLt, bf16), pa_*.json (kernels/pa_bench)" +
      (measured_components ? ", components.json (scripts/measure_components.py: prefill attention, elementwise "
                             "kernels, step overhead from the zero-layer decode step)"
                           : "; no prefill attention or elementwise kernels measured");
  return profile;
}

// Measured transformer steps (results/calibration/transformer_measured_<gpu>.json) beside the
// calibrated and the roofline predictions, as a Markdown table.
void check(const CalibrationProfile& profile, const fs::path& measured_file, const fs::path& gpu_file) {
  GpuProfile gpu;
  JsonReader::read_struct(load_json_file(gpu_file), "", gpu);
  const Json measured = load_json_file(measured_file);
  std::cout << "| model | step | batch | tokens | measured ms | calibrated ms | error | roofline ms "
               "|\n|---|---|---|---|---|---|---|---|\n";
  // Absolute percentage errors of the calibrated model, per model and step kind, in file order.
  std::vector<std::tuple<std::string, std::string, std::vector<double>>> errors;
  for (const Json& m : member(measured, "models", measured_file)) {
    ModelSpec spec;
    spec.name = member(m, "model", measured_file).get<std::string>();
    JsonReader::read_struct(member(m, "architecture", measured_file), spec.name + ".architecture", spec.architecture);
    const CalibratedLatency calibrated(spec, gpu, 1, 16, RooflineParams{}, profile);
    const RooflineLatency roofline(spec, gpu, 1, RooflineParams{});
    auto row = [&](const char* step, int64_t batch, int64_t tokens, double ms, const StepShape& shape) {
      const double predicted_ms = calibrated.step_time(shape).seconds() * 1e3;
      const double error = (predicted_ms - ms) / ms;
      if (errors.empty() || std::get<0>(errors.back()) != spec.name || std::get<1>(errors.back()) != step)
        errors.emplace_back(spec.name, step, std::vector<double>{});
      std::get<2>(errors.back()).push_back(std::abs(error));
      std::cout << fmt::format("| {} | {} | {} | {} | {:.2f} | {:.2f} | {:+.1f}% | {:.2f} |\n", spec.name, step, batch,
                               tokens, ms, predicted_ms, 100 * error, roofline.step_time(shape).seconds() * 1e3);
    };
    for (const Json& p : member(m, "prefill", measured_file)) {
      const auto batch = number<int64_t>(p, "batch", measured_file);
      const auto prompt = number<int64_t>(p, "prompt_tokens", measured_file);
      StepShape shape;
      shape.prefill_tokens = batch * prompt;
      shape.prefill_sequences = batch;
      shape.prefill_attention_pairs = static_cast<double>(batch) * static_cast<double>(prompt * prompt) / 2;
      row("prefill", batch, prompt, number<double>(p, "ms", measured_file), shape);
    }
    for (const Json& d : member(m, "decode", measured_file)) {
      const auto batch = number<int64_t>(d, "batch", measured_file);
      const auto context = number<int64_t>(d, "context_tokens", measured_file);
      StepShape shape;
      shape.decode_sequences = batch;
      shape.decode_context_tokens = batch * context;
      row("decode", batch, context, number<double>(d, "ms", measured_file), shape);
    }
    for (const std::string& e : calibrated.estimates())
      std::cout << "|   " << spec.name << " estimated: " << e << " ||||||||\n";
  }
  std::cout << "\n| model | step | shapes | MAPE | worst |\n|---|---|---|---|---|\n";
  for (const auto& [model, step, e] : errors) {
    double sum = 0;
    for (const double x : e) sum += x;
    std::cout << fmt::format("| {} | {} | {} | {:.1f}% | {:.1f}% |\n", model, step, e.size(),
                             100 * sum / static_cast<double>(e.size()), 100 * *std::max_element(e.begin(), e.end()));
  }
}

}  // namespace

int calibrate_command(const std::vector<std::string>& args) {
  po::options_description options("slsim calibrate options");
  options.add_options()("measurements", po::value<std::string>()->required(),
                        "folder of kernels/ outputs (gemm.json, pa_*.json)")(
      "gpu", po::value<std::string>()->required(), "GPU profile name the measurements were taken on (h200)")(
      "output,o", po::value<std::string>()->required(), "calibration profile to write (models/calibration/<gpu>.json)")(
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
              << options << "\n";
    return 0;
  }
  po::notify(values);
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
