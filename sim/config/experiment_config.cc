#include "sim/config/experiment_config.h"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <map>
#include <regex>
#include <set>
#include <sstream>
#include <system_error>
#include <tuple>

#include "sim/config/version.h"
#include "sim/control/kv_pool.h"
#include "sim/policy/autoscale/autoscaler.h"
#include "sim/policy/cache/cache_policies.h"
#include "sim/policy/keepalive/keepalive.h"
#include "sim/policy/load_source/load_source.h"
#include "sim/policy/migration/migration.h"
#include "sim/policy/preload/preload.h"
#include "sim/policy/rebalance/rebalance.h"
#include "sim/policy/scheduler/placement.h"
#include "sim/policy/scheduler/routing.h"
#include "sim/policy/startup/startup.h"
#include "sim/policy/switching/switching.h"
#include "sim/workload/factory.h"

namespace slsim {
namespace fs = std::filesystem;

void OutputConfig::check(const std::string& path) const {
  if (timeseries_interval_s > 0 && Time::from_seconds(timeseries_interval_s) <= Time::zero())
    throw ConfigError(join_path(path, "timeseries_interval_s"),
                      "expected 0 (none) or at least 1 ns, got " + Json(timeseries_interval_s).dump() + " s");
}

void ExperimentConfig::check(const std::string& path) const {
  if (name.empty() || name == "." || name == ".." || name.find_first_of("/\\") != std::string::npos ||
      name.find('\0') != std::string::npos)
    throw ConfigError(join_path(path, "name"),
                      "expected a name usable as one folder name (no / or \\, not . or ..), got \"" + name + "\"");
}

void apply_override(Json& root, const std::string& assignment) {
  const size_t eq = assignment.find('=');
  if (eq == std::string::npos || eq == 0) throw ConfigError("--set " + assignment, "expected key.path=value");
  const std::string key = assignment.substr(0, eq);
  const std::string text = assignment.substr(eq + 1);
  Json value;
  try {
    value = parse_json(text, "--set " + key);
  } catch (const JsonSyntaxError&) {
    // A number a double cannot hold (1e400) is no bare word: read as a string, it would be
    // refused further on as the wrong type, or pass where a string is expected.
    if (std::regex_match(text, std::regex(R"(-?\d+(\.\d+)?([eE][-+]?\d+)?)")) &&
        std::isinf(std::strtod(text.c_str(), nullptr)))
      throw ConfigError("--set " + key, "the number " + text + " is beyond what a double holds (about 1.8e308)");
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
      // Parsed without a library call that would fail on a 30-digit index with its own message.
      size_t index = 0;
      const auto [end, error] = std::from_chars(seg.data(), seg.data() + seg.size(), index);
      if (error != std::errc() || end != seg.data() + seg.size() || index >= node->size())
        throw ConfigError(walked, "--set " + key + ": expected an index below " + std::to_string(node->size()));
      walked += "[" + seg + "]";
      node = &(*node)[index];
    } else {
      if (node->is_null()) *node = Json::object();
      if (!node->is_object()) throw ConfigError(walked, "--set " + key + ": is not an object");
      walked = join_path(walked, seg);
      node = &(*node)[seg];
    }
    if (last) *node = value;
  }
}

const std::vector<PolicySlot>& policy_slots() {
  static const std::vector<PolicySlot> slots{
      {"placement", &PoliciesConfig::placement, &placement_policies()},
      {"keepalive", &PoliciesConfig::keepalive, &keepalive_policies()},
      {"autoscale", &PoliciesConfig::autoscale, &autoscale_policies()},
      {"dram_cache", &PoliciesConfig::dram_cache, &cache_policies()},
      {"ssd_cache", &PoliciesConfig::ssd_cache, &cache_policies()},
      {"preload", &PoliciesConfig::preload, &preload_policies()},
      {"routing", &PoliciesConfig::routing, &routing_policies()},
      {"migration", &PoliciesConfig::migration, &migration_policies()},
      {"rebalance", &PoliciesConfig::rebalance, &rebalance_policies()},
      {"startup", &PoliciesConfig::startup, &startup_policies()},
      {"load_source", &PoliciesConfig::load_source, &load_source_policies()},
      {"switching", &PoliciesConfig::switching, &switching_policies()},
  };
  return slots;
}

namespace {

// The catalogue when a config sets no catalog_dir: $SLSIM_CATALOG_DIR; else the one installed
// beside the running binary (<prefix>/bin/slsim finds <prefix>/share/slsim/models); else the
// source tree the binary was built from, for a build tree or a copy of its binary.
fs::path default_catalog_dir() {
  if (const char* dir = std::getenv("SLSIM_CATALOG_DIR"); dir && *dir) return dir;
  std::error_code error;
  const fs::path binary = fs::read_symlink("/proc/self/exe", error);
  if (!error) {
    fs::path installed = (binary.parent_path() / SLSIM_INSTALLED_CATALOG_FROM_BIN).lexically_normal();
    if (fs::is_directory(installed, error)) return installed;
  }
  return SLSIM_DEFAULT_CATALOG_DIR;
}

// A catalogue entry by name, with the config's overrides merged over it. A name with no
// catalogue file is a custom entry: the overrides must then say everything.
Json catalogue_entry(const fs::path& dir, const std::string& name, const Json& overrides, const std::string& path) {
  if (!overrides.is_object())
    throw ConfigError(path, "expected an object of overrides, got " + json_type_name(overrides));
  const fs::path file = dir / (name + ".json");
  std::error_code error;  // a name the file system refuses (too long) is an unknown name, not a crash
  if (!name.empty() && fs::exists(file, error)) {
    Json merged = load_json_file(file);
    merged.merge_patch(overrides);
    return merged;
  }
  if (!overrides.empty()) return overrides;
  if (!fs::is_directory(dir, error))
    throw ConfigError(path, "unknown name \"" + name + "\": the catalogue folder " + dir.string() +
                                " is missing (set catalog_dir, or give the entry's fields in full)");
  std::vector<std::string> names;
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

// The fewest GPUs, or none when no server group can hold the model with a full-context sequence.
std::optional<int64_t> choose_tensor_parallel(const ModelSpec& spec, const std::vector<ServerGroupSpec>& groups,
                                              const EngineParams& engine) {
  for (int64_t tp = 1; tp <= 8; tp *= 2) {
    for (const auto& g : groups) {
      if (g.server.gpus >= tp && kv_capacity_tokens(spec, g.gpu, tp, engine) >= spec.architecture.max_context)
        return tp;
    }
  }
  return std::nullopt;
}

// The servers an entry of cluster.instances_at_start or cluster.checkpoints_at_start names, in
// its order; `scope` is set to what they are, for messages.
std::vector<ServerId> named_servers(const std::optional<int64_t>& group, const std::vector<int64_t>& servers,
                                    const std::vector<ServerGroupSpec>& groups, const std::string& path,
                                    std::string* scope) {
  int64_t first = 0;
  int64_t count = 0;
  for (const ServerGroupSpec& g : groups) count += g.count;
  *scope = "server of the cluster";
  if (group) {
    if (*group >= static_cast<int64_t>(groups.size()))
      throw ConfigError(path + ".server_group", fmt::format("expected an index in cluster.server_groups (below {}), "
                                                            "got {}",
                                                            groups.size(), *group));
    for (int64_t i = 0; i < *group; ++i) first += groups[static_cast<size_t>(i)].count;
    count = groups[static_cast<size_t>(*group)].count;
    *scope = fmt::format("server of cluster.server_groups[{}]", *group);
  }
  std::vector<ServerId> ids;
  if (servers.empty())
    for (int64_t k = 0; k < count; ++k) ids.emplace_back(static_cast<uint32_t>(first + k));
  for (size_t i = 0; i < servers.size(); ++i) {
    if (servers[i] >= count)
      throw ConfigError(fmt::format("{}.servers[{}]", path, i),
                        fmt::format("expected the index of a {} (below {}), got {}", *scope, count, servers[i]));
    ids.emplace_back(static_cast<uint32_t>(first + servers[i]));
  }
  if (!servers.empty()) *scope = "listed " + *scope;
  return ids;
}

ModelId model_named(const std::vector<ServedModel>& models, const std::string& name, const std::string& path) {
  for (size_t m = 0; m < models.size(); ++m)
    if (models[m].spec.name == name) return ModelId(static_cast<uint32_t>(m));
  std::string known;
  for (const ServedModel& m : models) known += (known.empty() ? "" : ", ") + m.spec.name;
  throw ConfigError(path, "\"" + name + "\" is not one of the models (" + known + ")");
}

// Each checkpoint of cluster.checkpoints_at_start on its servers' caches, where they fit
// together and the cache policy keeps anything.
void place_checkpoints_at_start(ResolvedExperiment& r, const Cluster& cluster) {
  const ClusterConfig& c = r.config.cluster;
  // By (tier, server): the bytes listed so far, and the parts already counted.
  std::map<std::pair<Tier, ServerId>, int64_t> used_bytes;
  std::set<std::tuple<Tier, ServerId, CheckpointId>> counted;
  for (size_t i = 0; i < c.checkpoints_at_start.size(); ++i) {
    const CheckpointsAtStartConfig& entry = c.checkpoints_at_start[i];
    const std::string path = fmt::format("cluster.checkpoints_at_start[{}]", i);
    const ServedModel& model = r.models[model_named(r.models, entry.model, path + ".model").index()];
    const Tier tier = entry.tier == "dram" ? Tier::dram : Tier::ssd;
    const PolicyChoice& policy = tier == Tier::dram ? r.config.policies.dram_cache : r.config.policies.ssd_cache;
    EvictionPolicy::Context context;
    const auto eviction = cache_policies().make(policy, context);
    std::string scope;
    for (const ServerId server : named_servers(entry.server_group, entry.servers, r.server_groups, path, &scope)) {
      const ServerProfile& profile = *cluster.server(server).profile;
      const int64_t capacity = tier == Tier::dram ? profile.dram_cache_bytes : profile.ssd_cache_bytes;
      for (const CheckpointPart& part : model.checkpoint) {
        if (!eviction->admits(part.id, part.bytes))
          throw ConfigError(path + ".tier",
                            fmt::format("policies.{}_cache `{}` keeps nothing in the cache", entry.tier, policy.name));
        r.checkpoints_at_start.push_back(CheckpointAtStart{server, tier, part});
        if (!counted.emplace(tier, server, part.id).second) continue;
        int64_t& used = used_bytes[{tier, server}];
        used += part.bytes;
        if (used > capacity)
          throw ConfigError(path, fmt::format("the {} cache of server {} ({}) holds {} bytes, but the checkpoints "
                                              "listed for it at start take {} with \"{}\"",
                                              entry.tier, server.value(), profile.name, capacity, used, entry.model));
      }
    }
  }
}

// Each instance of cluster.instances_at_start on the next of its servers, round-robin, where
// its model fits (memory at its tensor-parallel degree) and enough GPUs are still free.
void place_instances_at_start(ResolvedExperiment& r, Cluster& cluster) {
  const ExperimentConfig& c = r.config;
  ElasticKvPool pool(cluster, c.engine);
  for (size_t i = 0; i < c.cluster.instances_at_start.size(); ++i) {
    const InstancesAtStartConfig& entry = c.cluster.instances_at_start[i];
    const std::string path = fmt::format("cluster.instances_at_start[{}]", i);
    const ModelId model = model_named(r.models, entry.model, path + ".model");
    const ServedModel& served = r.models[model.index()];
    const ModelFit fit = model_fit(served, cluster, c.engine);
    std::string scope;
    std::vector<ServerId> candidates;
    for (const ServerId server : named_servers(entry.server_group, entry.servers, r.server_groups, path, &scope))
      if (fit.holds_by_server[server.index()] != 0) candidates.push_back(server);
    if (candidates.empty())
      throw ConfigError(path + (!entry.servers.empty() ? ".servers"
                                : entry.server_group   ? ".server_group"
                                                       : ".model"),
                        fmt::format("no {} holds \"{}\" at tensor_parallel {} (its weights and a full-context "
                                    "sequence in its GPUs' memory)",
                                    scope, entry.model, served.tensor_parallel));
    const std::string gpus = fmt::format("{} GPU{}", served.tensor_parallel, served.tensor_parallel == 1 ? "" : "s");
    const int64_t weights_bytes = served.spec.checkpoint_bytes();
    // A card shared elastically holds it where a seat has room for its weights (kv_pool.h).
    const auto room = [&](ServerId server) {
      return pool.elastic(server) ? pool.seat(server, weights_bytes).has_value()
                                  : cluster.server(server).free_gpus >= served.tensor_parallel;
    };
    size_t next = 0;
    for (int64_t k = 0; k < entry.count; ++k) {
      size_t tried = 0;
      while (tried < candidates.size() && !room(candidates[(next + tried) % candidates.size()])) ++tried;
      if (tried == candidates.size())
        throw ConfigError(path + ".count",
                          fmt::format("{} instances of \"{}\" ({} each) do not fit: after {}, no {} that holds the "
                                      "model has {} free (earlier entries of cluster.instances_at_start included)",
                                      entry.count, entry.model, gpus, k, scope, gpus));
      const ServerId server = candidates[(next + tried) % candidates.size()];
      if (pool.elastic(server)) {
        const int64_t seat = *pool.seat(server, weights_bytes);
        cluster.take_gpu(server, seat);
        pool.join(InstanceId(static_cast<uint32_t>(r.instances_at_start.size())), server, seat, weights_bytes,
                  served.spec.kv_bytes_per_token() * c.engine.block_size);
      } else {
        cluster.take_gpus(server, served.tensor_parallel);
      }
      r.instances_at_start.push_back(InstanceAtStart{model, server, entry.pinned});
      next = (next + tried + 1) % candidates.size();
    }
  }
}

}  // namespace

ResolvedExperiment resolve_experiment(const Json& document, const fs::path& base_dir) {
  ResolvedExperiment r;
  ExperimentConfig& c = r.config;
  JsonReader::read_struct(document, "", c);
  const fs::path catalog = c.catalog_dir.empty() ? default_catalog_dir() : base_dir / c.catalog_dir;
  const fs::path calibration_dir =
      c.engine.calibration_dir.empty() ? catalog / "calibration" : base_dir / c.engine.calibration_dir;
  if (c.engine.latency_model == LatencyModelKind::calibrated) c.engine.calibration_dir = calibration_dir.string();
  // The resolved config names what the mode chose, so that it reads the same under any default.
  c.engine.enable_chunked_prefill = c.engine.chunked_prefill();
  c.engine.prefix_retention = c.engine.retention();

  if (c.cluster.server_groups.empty()) throw ConfigError("cluster.server_groups", "expected at least one server group");
  for (size_t i = 0; i < c.cluster.server_groups.size(); ++i) {
    ServerGroupConfig& g = c.cluster.server_groups[i];
    const std::string path = "cluster.server_groups[" + std::to_string(i) + "]";
    ServerGroupSpec spec;
    spec.count = g.count;
    spec.site = g.site;
    const auto& sites = c.cluster.topology.sites;
    if (!g.site.empty() &&
        std::none_of(sites.begin(), sites.end(), [&](const SiteParams& site) { return site.name == g.site; }))
      throw ConfigError(path + ".site", "no site \"" + g.site + "\" in cluster.topology.sites");
    spec.server = parse_entry<ServerProfile>(
        catalogue_entry(catalog / "hardware/servers", g.profile, g.server, path + ".profile"), path + ".server");
    if (spec.server.gpus % spec.server.gpus_sharing_compute != 0)
      throw ConfigError(path + ".server.gpus_sharing_compute",
                        fmt::format("{} does not divide the server's {} GPUs: expected a divisor, as each physical "
                                    "GPU holds that many",
                                    spec.server.gpus_sharing_compute, spec.server.gpus));
    if (spec.server.gpu_memory_sharing == GpuMemorySharing::elastic_kv && spec.server.gpus_sharing_compute < 2)
      throw ConfigError(path + ".server.gpu_memory_sharing",
                        "elastic-kv needs gpus_sharing_compute of at least 2 (the instances one card may hold)");
    if (spec.server.gpu_memory_sharing == GpuMemorySharing::switching && spec.server.gpus_sharing_compute < 2)
      throw ConfigError(path + ".server.gpu_memory_sharing",
                        "switching needs gpus_sharing_compute of at least 2 (the seats one card switches between)");
    if (spec.server.gpu_memory_sharing == GpuMemorySharing::elastic_kv && c.engine.kv_cache_memory_bytes)
      throw ConfigError("engine.kv_cache_memory_bytes",
                        "set, but " + path +
                            " shares its cards' memory as elastic-kv, whose KV caches grow and "
                            "shrink from one pool: expected null");
    spec.gpu = parse_entry<GpuProfile>(
        catalogue_entry(catalog / "hardware/gpus", spec.server.gpu, g.gpu, path + ".server.gpu"), path + ".gpu");
    g.server = JsonWriter::to_json(spec.server);
    g.gpu = JsonWriter::to_json(spec.gpu);
    // Start-up is measured per GPU type: a GPU without a calibration profile, or whose profile
    // has no `startup`, starts as the loader's keys (or their assumed defaults) say.
    const fs::path calibration_file = calibration_dir / (spec.gpu.name + ".json");
    std::error_code error;
    if (!r.measured_startup.contains(spec.gpu.name) && fs::is_regular_file(calibration_file, error))
      r.measured_startup.emplace(spec.gpu.name, load_calibration(calibration_file.string()).startup);
    r.server_groups.push_back(std::move(spec));
  }

  if (c.models.empty()) throw ConfigError("models", "expected at least one model");
  // Checkpoints are numbered by what they hold, so that a base shared by several variants, or
  // a base that is also served itself, is one cache entry.
  std::map<std::string, CheckpointId> checkpoint_ids;
  auto part = [&](const std::string& key, int64_t bytes, int64_t tensors) {
    const auto [it, added] = checkpoint_ids.emplace(key, static_cast<CheckpointId>(checkpoint_ids.size()));
    return CheckpointPart{it->second, bytes, tensors};
  };
  for (size_t i = 0; i < c.models.size(); ++i) {
    ModelConfig& m = c.models[i];
    const std::string path = "models[" + std::to_string(i) + "]";
    for (size_t j = 0; j < i; ++j)
      if (c.models[j].name == m.name) throw ConfigError(path + ".name", "model \"" + m.name + "\" is listed twice");
    const bool variant = !m.base_model.empty();
    Json entry = variant ? catalogue_entry(catalog / "llm", m.base_model, Json::object(), path + ".base_model")
                         : catalogue_entry(catalog / "llm", m.name, m.spec, path + ".name");
    if (variant) entry.merge_patch(m.spec);
    entry["name"] = m.name;
    ModelSpec spec = parse_entry<ModelSpec>(entry, path + ".spec");
    // vLLM splits heads evenly across GPUs; a degree that divides neither head count cannot.
    if (m.tensor_parallel > 0 && spec.architecture.attention_heads % m.tensor_parallel != 0 &&
        spec.architecture.kv_heads % m.tensor_parallel != 0)
      throw ConfigError(
          path + ".tensor_parallel",
          fmt::format("expected a degree dividing the {} attention heads or the {} key/value heads, got {}",
                      spec.architecture.attention_heads, spec.architecture.kv_heads, m.tensor_parallel));
    if (m.tensor_parallel == 0) {
      const auto tp = choose_tensor_parallel(spec, r.server_groups, c.engine);
      // A model no server can hold is still served: the control plane rejects each of its
      // requests with a reason and the run goes on (a limit, not a failed run).
      if (!tp)
        r.warnings.push_back(path + ": the model (" + std::to_string(spec.checkpoint_bytes()) +
                             " bytes of weights) does not fit with a full-context sequence on up to 8 GPUs of any "
                             "server group; its requests will be rejected");
      m.tensor_parallel = tp.value_or(8);
    }
    std::vector<CheckpointPart> checkpoint;
    if (variant && (m.lora_rank > 0 || m.delta_bytes > 0)) {
      const ModelSpec base = parse_entry<ModelSpec>(
          catalogue_entry(catalog / "llm", m.base_model, Json::object(), path + ".base_model"), path + ".base_model");
      checkpoint.push_back(part("model:" + base.name, base.checkpoint_bytes(), base.tensor_count()));
      const int64_t own = m.delta_bytes + spec.lora_adapter_bytes(m.lora_rank);
      checkpoint.push_back(part("delta:" + m.name, own, m.lora_rank > 0 ? 8 * spec.architecture.layers : 1));
    } else {
      checkpoint.push_back(part("model:" + m.name, spec.checkpoint_bytes(), spec.tensor_count()));
    }
    m.spec = JsonWriter::to_json(spec);
    r.models.push_back(ServedModel{std::move(spec), m.tensor_parallel, std::move(checkpoint)});
  }
  // A missing or malformed calibration profile is an input error before the run, not during it.
  if (c.engine.latency_model == LatencyModelKind::calibrated)
    for (const ServedModel& m : r.models)
      for (const ServerGroupSpec& g : r.server_groups)
        if (g.server.gpus >= m.tensor_parallel) make_latency_model(m.spec, g.gpu, m.tensor_parallel, c.engine);

  {
    const fs::path formats_file = catalog / "calibration/loader_formats.json";
    const Json formats = load_json_file(formats_file);
    if (!formats.contains(c.loader.format))
      throw ConfigError("loader.format", "no profile \"" + c.loader.format + "\" in " + formats_file.string());
    JsonReader::read_struct(formats.at(c.loader.format), formats_file.string() + ": " + c.loader.format, r.format);
  }

  for (const auto& m : r.models) {
    r.catalogue.names.push_back(m.spec.name);
    r.catalogue.max_context.push_back(m.spec.architecture.max_context);
  }
  r.catalogue.engine_block_tokens = c.engine.block_size;
  if (c.workload.sources.empty()) throw ConfigError("workload.sources", "expected at least one source");
  for (size_t i = 0; i < c.workload.sources.size(); ++i)
    for (std::string& warning :
         validate_source(c.workload.sources[i], r.catalogue, base_dir, "workload.sources[" + std::to_string(i) + "]"))
      r.warnings.push_back(std::move(warning));

  for (const PolicySlot& slot : policy_slots())
    c.policies.*slot.choice = slot.registry->resolve(c.policies.*slot.choice, "policies." + slot.key);

  Cluster cluster(r.server_groups, c.cluster.remote_storage_gbytes_per_s);
  place_checkpoints_at_start(r, cluster);
  place_instances_at_start(r, cluster);
  return r;
}

Json ResolvedExperiment::to_json(const fs::path& relative_to) const {
  ExperimentConfig copy = config;
  copy.slsim_version = slsim_version();
  for (SourceSpec& s : copy.workload.sources) {
    for (std::string* path : {&s.path, &s.lengths.table})
      if (!path->empty()) *path = fs::relative(*path, fs::absolute(relative_to)).generic_string();
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
