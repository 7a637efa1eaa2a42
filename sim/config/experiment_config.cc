#include "sim/config/experiment_config.h"

#include <algorithm>
#include <fstream>
#include <sstream>

#include "sim/policy/autoscale/autoscaler.h"
#include "sim/policy/keepalive/keepalive.h"
#include "sim/policy/scheduler/placement.h"

namespace slsim {
namespace fs = std::filesystem;

Json load_json_file(const fs::path& path) {
  std::ifstream in(path);
  if (!in) throw InputError(path.string() + ": cannot open the file");
  std::stringstream text;
  text << in.rdbuf();
  try {
    return Json::parse(text.str());
  } catch (const Json::parse_error& e) {
    throw InputError(path.string() + ": not valid JSON: " + e.what());
  }
}

void apply_override(Json& root, const std::string& assignment) {
  const size_t eq = assignment.find('=');
  if (eq == std::string::npos || eq == 0)
    throw ConfigError("--set " + assignment, "expected key.path=value");
  const std::string key = assignment.substr(0, eq);
  const std::string text = assignment.substr(eq + 1);
  Json value;
  try {
    value = Json::parse(text);
  } catch (const Json::parse_error&) {
    value = text;  // bare words are strings: --set policies.keepalive.name=fixed
  }
  Json* node = &root;
  std::string walked;
  std::stringstream parts(key);
  std::string part;
  std::vector<std::string> segments;
  while (std::getline(parts, part, '.')) segments.push_back(part);
  for (size_t i = 0; i < segments.size(); ++i) {
    const std::string& seg = segments[i];
    if (seg.empty()) throw ConfigError("--set " + key, "empty key segment");
    const bool last = i + 1 == segments.size();
    if (node->is_array()) {
      const bool numeric = std::all_of(seg.begin(), seg.end(), [](char c) { return c >= '0' && c <= '9'; });
      if (!numeric || std::stoull(seg) >= node->size())
        throw ConfigError(walked, "--set " + key + ": expected an index below " + std::to_string(node->size()));
      walked += "[" + seg + "]";
      node = &(*node)[std::stoull(seg)];
    } else {
      if (node->is_null()) *node = Json::object();
      if (!node->is_object()) throw ConfigError(walked, "--set " + key + ": is not an object");
      walked = join_path(walked, seg);
      node = &(*node)[seg];
    }
    if (last) *node = value;
  }
}

namespace {

fs::path default_catalog_dir() { return fs::path(SLSIM_DEFAULT_CATALOG_DIR); }

// A catalogue entry by name, with the config's overrides merged over it. A name with no
// catalogue file is a custom entry: the overrides must then say everything.
Json catalogue_entry(const fs::path& dir, const std::string& name, const Json& overrides, const std::string& path) {
  if (!overrides.is_object()) throw ConfigError(path, "expected an object of overrides, got " + json_type_name(overrides));
  const fs::path file = dir / (name + ".json");
  if (!name.empty() && fs::exists(file)) {
    Json merged = load_json_file(file);
    merged.merge_patch(overrides);
    return merged;
  }
  if (!overrides.empty()) return overrides;
  std::vector<std::string> names;
  if (fs::is_directory(dir))
    for (const auto& e : fs::directory_iterator(dir))
      if (e.path().extension() == ".json") names.push_back(e.path().stem().string());
  std::sort(names.begin(), names.end());
  std::string known;
  for (const auto& n : names) known += (known.empty() ? "" : ", ") + n;
  throw ConfigError(path, "unknown name \"" + name + "\" (no " + file.string() + "); expected one of: " + known);
}

template <class Spec>
Spec parse_entry(const Json& merged, const std::string& path) {
  Spec spec;
  JsonReader::read_struct(merged, path, spec);
  return spec;
}

int64_t choose_tensor_parallel(const ModelSpec& spec, const std::vector<ServerGroupSpec>& groups,
                               const EngineParams& engine, const std::string& path) {
  for (int64_t tp = 1; tp <= 8; tp *= 2) {
    for (const auto& g : groups) {
      if (g.server.gpus >= tp && kv_capacity_tokens(spec, g.gpu, tp, engine) >= spec.architecture.max_context)
        return tp;
    }
  }
  throw ConfigError(path, "the model (" + std::to_string(spec.checkpoint_bytes()) +
                              " bytes of weights) does not fit with a full-context sequence on up to 8 GPUs of any server group");
}

}  // namespace

ResolvedExperiment resolve_experiment(const Json& document, const fs::path& base_dir) {
  ResolvedExperiment r;
  ExperimentConfig& c = r.config;
  JsonReader::read_struct(document, "", c);
  const fs::path catalog = c.catalog_dir.empty() ? default_catalog_dir() : base_dir / c.catalog_dir;
  if (c.engine.latency_model == "calibrated")
    c.engine.calibration_dir =
        (c.engine.calibration_dir.empty() ? catalog / "calibration" : base_dir / c.engine.calibration_dir).string();

  if (c.cluster.server_groups.empty()) throw ConfigError("cluster.server_groups", "expected at least one server group");
  for (size_t i = 0; i < c.cluster.server_groups.size(); ++i) {
    ServerGroupConfig& g = c.cluster.server_groups[i];
    const std::string path = "cluster.server_groups[" + std::to_string(i) + "]";
    ServerGroupSpec spec;
    spec.count = g.count;
    spec.server = parse_entry<ServerProfile>(catalogue_entry(catalog / "hardware/servers", g.profile, g.server, path + ".profile"),
                                             path + ".server");
    spec.gpu = parse_entry<GpuProfile>(catalogue_entry(catalog / "hardware/gpus", spec.server.gpu, g.gpu, path + ".server.gpu"),
                                       path + ".gpu");
    g.server = JsonWriter::to_json(spec.server);
    g.gpu = JsonWriter::to_json(spec.gpu);
    r.server_groups.push_back(std::move(spec));
  }

  if (c.models.empty()) throw ConfigError("models", "expected at least one model");
  for (size_t i = 0; i < c.models.size(); ++i) {
    ModelConfig& m = c.models[i];
    const std::string path = "models[" + std::to_string(i) + "]";
    for (size_t j = 0; j < i; ++j)
      if (c.models[j].name == m.name) throw ConfigError(path + ".name", "model \"" + m.name + "\" is listed twice");
    Json entry = catalogue_entry(catalog / "llm", m.name, m.spec, path + ".name");
    entry["name"] = m.name;
    ModelSpec spec = parse_entry<ModelSpec>(entry, path + ".spec");
    if (m.tensor_parallel == 0) m.tensor_parallel = choose_tensor_parallel(spec, r.server_groups, c.engine, path);
    m.spec = JsonWriter::to_json(spec);
    r.models.push_back(ServedModel{std::move(spec), m.tensor_parallel});
  }
  // A missing or malformed calibration profile is an input error before the run, not during it.
  if (c.engine.latency_model == "calibrated")
    for (const ServedModel& m : r.models)
      for (const ServerGroupSpec& g : r.server_groups)
        if (g.server.gpus >= m.tensor_parallel) make_latency_model(m.spec, g.gpu, m.tensor_parallel, c.engine);

  if (c.workload.sources.empty()) throw ConfigError("workload.sources", "expected at least one source");
  for (size_t i = 0; i < c.workload.sources.size(); ++i) {
    const SourceConfig& s = c.workload.sources[i];
    const std::string path = "workload.sources[" + std::to_string(i) + "]";
    const auto model = std::find_if(c.models.begin(), c.models.end(), [&](const ModelConfig& m) { return m.name == s.model; });
    if (model == c.models.end()) throw ConfigError(path + ".model", "\"" + s.model + "\" is not one of the models listed under models");
    r.source_models.push_back(static_cast<ModelId>(model - c.models.begin()));
    if (s.kind == "azure-llm-2023") {
      if (s.path.empty()) throw ConfigError(path + ".path", "missing; expected the trace file");
      const fs::path file = fs::absolute(base_dir / s.path).lexically_normal();
      if (!fs::is_regular_file(file)) throw ConfigError(path + ".path", "no such file: " + file.string());
      r.source_paths.push_back(file);
    } else {
      if (s.requests == 0) throw ConfigError(path + ".requests", "expected a positive count for a poisson source");
      r.source_paths.emplace_back();
    }
  }

  c.policies.placement = placement_policies().resolve(c.policies.placement, "policies.placement");
  c.policies.keepalive = keepalive_policies().resolve(c.policies.keepalive, "policies.keepalive");
  c.policies.autoscale = autoscale_policies().resolve(c.policies.autoscale, "policies.autoscale");
  return r;
}

Json ResolvedExperiment::to_json(const fs::path& relative_to) const {
  ExperimentConfig copy = config;
  copy.slsim_version = SLSIM_VERSION;
  for (size_t i = 0; i < copy.workload.sources.size(); ++i) {
    if (!source_paths[i].empty())
      copy.workload.sources[i].path = fs::relative(source_paths[i], fs::absolute(relative_to)).generic_string();
  }
  return JsonWriter::to_json(copy);
}

ResolvedExperiment load_experiment(const fs::path& config_path, const std::vector<std::string>& overrides) {
  Json document = load_json_file(config_path);
  for (const auto& o : overrides) apply_override(document, o);
  try {
    return resolve_experiment(document, fs::absolute(config_path).parent_path());
  } catch (const ConfigError& e) {
    throw InputError(config_path.string() + ": " + e.what());
  }
}

}  // namespace slsim
