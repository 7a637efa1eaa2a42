#pragma once
// The experiment configuration: one JSON document (see docs/config.md). Parsing refuses unknown
// keys and wrong types with the JSON path; resolution fills in catalogue entries, defaults and
// derived choices, so that the resolved document alone reproduces the run.

#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "sim/cluster/cluster.h"
#include "sim/cluster/topology.h"
#include "sim/control/control_plane.h"
#include "sim/control/kv_tiers.h"
#include "sim/core/fields.h"
#include "sim/core/registry.h"
#include "sim/engine/engine.h"
#include "sim/loading/loader.h"
#include "sim/metrics/recorder.h"
#include "sim/workload/source_spec.h"

namespace slsim {

struct ServerGroupConfig {
  std::string profile;
  int64_t count = 1;
  Json server = Json::object();
  Json gpu = Json::object();
  std::string site;

  template <class V>
  void visit(V& v) {
    v.field("profile", profile, "server profile name in models/hardware/servers/ (empty: `server` is complete)");
    v.field("count", count, "servers of this kind", at_least(1));
    v.raw("server", server, "server profile fields that override the catalogue's");
    v.raw("gpu", gpu, "GPU profile fields that override the catalogue's");
    v.field("site", site,
            "the site the servers are in: empty for the main site, else a name in cluster.topology.sites");
  }
};

// An entry of cluster.instances_at_start: instances of a model ready (loaded and past start-up)
// when the run starts.
struct InstancesAtStartConfig {
  std::string model;
  int64_t count = 1;
  std::optional<int64_t> server_group;
  std::vector<int64_t> servers;
  bool pinned = false;

  template <class V>
  void visit(V& v) {
    v.required("model", model, "a name in `models`");
    v.field("count", count, "instances of the model", at_least(1));
    v.field("server_group", server_group,
            "index in cluster.server_groups whose servers they may go on; null: any group", at_least(0));
    v.field("servers", servers,
            "servers they may go on, round-robin in this order: indices within `server_group` when it is set, "
            "else over the cluster (the index in requests.csv's `server`); empty: every server of the group or "
            "cluster",
            at_least(0));
    v.field("pinned", pinned,
            "kept to the end of the run: no keep-alive, autoscaler or placement releases them; false: they are "
            "idle instances like any other, their keep-alive counting from t = 0");
  }
};

// An entry of cluster.checkpoints_at_start: a model's checkpoint in servers' DRAM or SSD
// checkpoint caches when the run starts.
struct CheckpointsAtStartConfig {
  std::string model;
  std::string tier = "dram";
  std::optional<int64_t> server_group;
  std::vector<int64_t> servers;

  template <class V>
  void visit(V& v) {
    v.required("model", model, "a name in `models`");
    v.choice("tier", tier, "the cache that holds it", {"dram", "ssd"});
    v.field("server_group", server_group, "index in cluster.server_groups whose servers hold it; null: any group",
            at_least(0));
    v.field("servers", servers,
            "servers that hold it: indices within `server_group` when it is set, else over the cluster; empty: "
            "every server of the group or cluster",
            at_least(0));
  }
};

struct ClusterConfig {
  std::vector<ServerGroupConfig> server_groups;
  double remote_storage_gbytes_per_s = 1.25;
  int64_t ssd_copies_at_start = 0;
  std::vector<CheckpointsAtStartConfig> checkpoints_at_start;
  std::vector<InstancesAtStartConfig> instances_at_start;
  TopologyParams topology;
  std::optional<KvTierParams> kv_tiers;  // absent: no KV offload tiers

  template <class V>
  void visit(V& v) {
    v.list("server_groups", server_groups, "groups of identical servers");
    v.field("remote_storage_gbytes_per_s", remote_storage_gbytes_per_s,
            "bandwidth of the remote checkpoint store, GB/s (gigabytes per second; 1.25 GB/s = 10 Gb/s, as "
            "ServerlessLLM's MinIO)",
            positive());
    v.field("ssd_copies_at_start", ssd_copies_at_start,
            "servers whose SSD holds each model's checkpoint when the run starts, round-robin in model order "
            "where the SSD cache has room (ServerlessLLM's evaluation starts with checkpoints on the SSDs); "
            "0: every checkpoint starts in remote storage",
            at_least(0));
    v.list("checkpoints_at_start", checkpoints_at_start,
           "checkpoints in servers' DRAM or SSD caches when the run starts (before ssd_copies_at_start's); "
           "they must fit the caches");
    v.list("instances_at_start", instances_at_start,
           "instances ready when the run starts: no load, no cold start, GPU time counted from t = 0");
    v.object("topology", topology, "racks, oversubscription, remote sites, or an explicit node and link list");
    v.optional_object("kv_tiers", kv_tiers,
                      "where prompt KV blocks evicted from GPU prefix caches go: per-server DRAM and SSD, a cluster "
                      "pool; absent: nowhere");
  }
};

struct ModelConfig {
  std::string name;
  int64_t tensor_parallel = 0;
  Json spec = Json::object();
  std::string base_model;
  int64_t lora_rank = 0;
  int64_t delta_bytes = 0;

  template <class V>
  void visit(V& v) {
    v.required("name", name, "model name in models/llm/ (or any name when `spec` is complete)");
    v.field(
        "tensor_parallel", tensor_parallel,
        "GPUs per instance; 0 picks the fewest (1, 2, 4, 8) whose memory holds the weights and a full-context sequence",
        at_least(0));
    v.raw("spec", spec, "model fields that override the catalogue's");
    v.field("base_model", base_model,
            "a variant of this catalogue model: its architecture by default; with lora_rank or delta_bytes it "
            "shares the base checkpoint and loads only its own part where the base is already present");
    v.field("lora_rank", lora_rank, "a LoRA adapter of this rank on q, k, v, o over the base", at_least(0));
    v.field("delta_bytes", delta_bytes, "bytes of a fine-tuned delta stored over the base", at_least(0));
  }
};

struct WorkloadConfig {
  std::vector<SourceSpec> sources;

  template <class V>
  void visit(V& v) {
    v.list("sources", sources, "request sources, merged by arrival time");
  }
};

struct PoliciesConfig {
  PolicyChoice placement{"least-loaded", Json::object()};
  PolicyChoice keepalive{"fixed", Json::object()};
  PolicyChoice autoscale{"on-demand", Json::object()};
  PolicyChoice dram_cache{"lru", Json::object()};
  PolicyChoice ssd_cache{"lru", Json::object()};
  PolicyChoice preload{"none", Json::object()};
  PolicyChoice routing{"least-outstanding", Json::object()};
  PolicyChoice migration{"none", Json::object()};
  PolicyChoice rebalance{"none", Json::object()};
  PolicyChoice startup{"full", Json::object()};
  PolicyChoice load_source{"tiered", Json::object()};
  PolicyChoice switching{"aegaeon", Json::object()};

  template <class V>
  void visit(V& v) {
    v.object("placement", placement, "which server a new instance starts on");
    v.object("keepalive", keepalive, "how long an idle instance keeps its GPUs");
    v.object("autoscale", autoscale, "when instances start");
    v.object("dram_cache", dram_cache, "what each server's DRAM checkpoint cache keeps");
    v.object("ssd_cache", ssd_cache, "what each server's SSD checkpoint cache keeps");
    v.object("preload", preload, "checkpoints or instances prepared ahead of demand");
    v.object("routing", routing, "which ready instance a request goes to");
    v.object("migration", migration, "what happens to running instances a placement needs out of the way");
    v.object("rebalance", rebalance, "requests moved live between running instances of a model for load balance");
    v.object("startup", startup, "which start-up phases run online (the rest materialized offline)");
    v.object("load_source", load_source,
             "where a load reads the weights besides the server's tiers (GPUs of other servers, multicast chains)");
    v.object("switching", switching,
             "which seat of a card shared by model switching (gpu_memory_sharing switching) runs next, and for how "
             "long");
  }
};

// Each policy slot of PoliciesConfig with the registry its choice names, in the config's
// order. Resolution and `slsim policies` both go through it, so a slot missing here is a slot
// that is never checked (a test compares it with PoliciesConfig's fields).
struct PolicySlot {
  std::string key;  // under "policies"
  PolicyChoice PoliciesConfig::*choice;
  const AnyRegistry* registry;
};
const std::vector<PolicySlot>& policy_slots();

struct OutputConfig {
  bool requests_csv = true;
  double timeseries_interval_s = 10;
  int64_t timeline_max_batches = 100000;

  template <class V>
  void visit(V& v) {
    v.field("requests_csv", requests_csv, "write one row per finished request to requests.csv");
    v.field("timeseries_interval_s", timeseries_interval_s,
            "seconds between rows of timeseries.csv; 0: no timeseries.csv", at_least(0));
    v.field("timeline_max_batches", timeline_max_batches,
            "engine-step slices written to a --timeline file before the rest are only counted", at_least(0));
  }
  // An interval that rounds to 0 ns would sample forever at one simulated time.
  void check(const std::string& path) const;
};

struct ExperimentConfig {
  std::string name = "experiment";
  int64_t seed = 1;
  std::optional<double> duration_s;
  std::string catalog_dir;
  ClusterConfig cluster;
  std::vector<ModelConfig> models;
  WorkloadConfig workload;
  EngineParams engine;
  RouterParams router;
  LoaderParams loader;
  PoliciesConfig policies;
  MetricsParams metrics;
  OutputConfig output;
  bool check_invariants = false;
  bool check_memory = true;
  std::string slsim_version;

  template <class V>
  void visit(V& v) {
    v.field("name", name, "a label for the experiment");
    v.field("seed", seed, "seed of every random stream", at_least(0));
    v.field("duration_s", duration_s, "simulated seconds to run; null runs until every request is done", positive());
    v.field("catalog_dir", catalog_dir,
            "folder holding llm/ and hardware/; empty: $SLSIM_CATALOG_DIR, else share/slsim/models beside an "
            "installed slsim, else the source tree's models/");
    v.object("cluster", cluster, "servers and storage");
    v.list("models", models, "the models served");
    v.object("workload", workload, "where requests come from");
    v.object("engine", engine, "the serving engine inside each instance");
    v.object("router", router, "the per-model queues of requests waiting for an instance");
    v.object("loader", loader, "checkpoint loading");
    v.object("policies", policies, "the policies under study");
    v.object("metrics", metrics, "SLO targets and billing");
    v.object("output", output, "what to write");
    v.field("check_invariants", check_invariants,
            "verify the simulator's invariants after every event and stop at the first broken one (slow)");
    v.field("check_memory", check_memory,
            "refuse a run whose estimated memory exceeds the memory available, and stop one whose requests in "
            "flight outgrow it (exit 2, no results)");
    v.field("slsim_version", slsim_version, "the slsim that wrote this resolved config; informational");
  }
  // The name is the default output folder results/<name>: one path segment, never a way out.
  void check(const std::string& path) const;
};

// Everything a run needs, with catalogue entries looked up and paths made absolute.
struct ResolvedExperiment {
  ExperimentConfig config;  // with profiles, specs, policy parameters and tensor_parallel filled in
  std::vector<ServerGroupSpec> server_groups;
  std::vector<ServedModel> models;
  CheckpointFormat format;  // the loader format's profile from the calibration folder
  // By GPU profile name: the start-up measured on it (its calibration profile's `startup`).
  std::map<std::string, StartupProfile> measured_startup;
  // cluster.instances_at_start and cluster.checkpoints_at_start, placed on servers.
  std::vector<InstanceAtStart> instances_at_start;
  std::vector<CheckpointAtStart> checkpoints_at_start;
  ModelCatalogue catalogue;           // the served models' names and context lengths, for the sources
  std::vector<std::string> warnings;  // what the run will do that the user may not expect
  // The config as JSON, with trace paths written relative to `relative_to`.
  Json to_json(const std::filesystem::path& relative_to) const;
};

// Applies `key.path=value` to a JSON document; the value is JSON if it parses, else a string.
void apply_override(Json& root, const std::string& assignment);

// Parses and resolves; relative paths are taken from `base_dir` (the config file's folder).
ResolvedExperiment resolve_experiment(const Json& document, const std::filesystem::path& base_dir);

// Reads the config file, applies the overrides, parses and resolves.
ResolvedExperiment load_experiment(const std::filesystem::path& config_path, const std::vector<std::string>& overrides);

}  // namespace slsim
