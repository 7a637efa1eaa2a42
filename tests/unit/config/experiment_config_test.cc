#include "sim/config/experiment_config.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace slsim {
using ::testing::HasSubstr;

namespace {
Json minimal() {
  return Json::parse(R"({
    "cluster": {"server_groups": [{"profile": "serverlessllm-testbed-a40", "count": 2}]},
    "models": [{"name": "opt-13b"}],
    "workload": {"sources": [{"kind": "poisson", "model": "opt-13b", "requests": 10}]}})");
}
std::string error_of(const Json& doc) {
  try {
    resolve_experiment(doc, ".");
  } catch (const InputError& e) {
    return e.what();
  }
  return "";
}
}  // namespace

TEST(ExperimentConfig, ResolvesCatalogueEntriesAndDefaults) {
  const auto r = resolve_experiment(minimal(), ".");
  ASSERT_EQ(r.server_groups.size(), 1u);
  EXPECT_EQ(r.server_groups[0].server.gpus, 4);
  EXPECT_EQ(r.server_groups[0].gpu.name, "a40");
  ASSERT_EQ(r.models.size(), 1u);
  EXPECT_EQ(r.models[0].spec.name, "opt-13b");
  EXPECT_EQ(r.models[0].tensor_parallel, 1);  // 26 GB of weights fit one 48 GB A40
  EXPECT_EQ(r.config.policies.keepalive.params["ttl_s"], 60.0);
}

TEST(ExperimentConfig, PicksTensorParallelismForAModelLargerThanOneGpu) {
  Json doc = minimal();
  doc["models"][0]["name"] = "opt-66b";
  doc["workload"]["sources"][0]["model"] = "opt-66b";
  EXPECT_EQ(resolve_experiment(doc, ".").models[0].tensor_parallel, 4);
}

TEST(ExperimentConfig, ModelThatFitsNowhereResolvesWithAWarningAndEightGpus) {
  Json doc = minimal();
  doc["models"][0]["name"] = "llama-3.1-70b";
  doc["workload"]["sources"][0]["model"] = "llama-3.1-70b";
  doc["cluster"]["server_groups"][0]["server"] = {{"gpus", 1}};
  const auto r = resolve_experiment(doc, ".");
  EXPECT_EQ(r.models[0].tensor_parallel, 8);
  ASSERT_EQ(r.warnings.size(), 1u);
  EXPECT_THAT(r.warnings[0], HasSubstr("models[0]: the model"));
  EXPECT_THAT(r.warnings[0], HasSubstr("its requests will be rejected"));
}

TEST(ExperimentConfig, ErrorsNameTheirJsonPath) {
  Json unknown = minimal();
  unknown["cluster"]["server_groups"][0]["cuont"] = 1;
  EXPECT_THAT(error_of(unknown), HasSubstr("cluster.server_groups[0].cuont: unknown key"));
  Json type = minimal();
  type["seed"] = "one";
  EXPECT_THAT(error_of(type), HasSubstr("seed: expected an integer"));
  Json source_model = minimal();
  source_model["workload"]["sources"][0]["model"] = "opt-1.3b";
  EXPECT_THAT(error_of(source_model), HasSubstr("workload.sources[0].model: \"opt-1.3b\" is not one of the models"));
  Json policy_param = minimal();
  policy_param["policies"]["keepalive"] = {{"name", "fixed"}, {"params", {{"ttl_s", -1}}}};
  EXPECT_THAT(error_of(policy_param),
              HasSubstr("policies.keepalive.params.ttl_s: expected a number in [0, 1000000000], got -1"));
  Json gpu_override = minimal();
  gpu_override["cluster"]["server_groups"][0]["gpu"] = {{"memory_bytes", "lots"}};
  EXPECT_THAT(error_of(gpu_override), HasSubstr("cluster.server_groups[0].gpu.memory_bytes: expected an integer"));
}

TEST(ExperimentConfig, AnUnknownRebalancePolicyOrParameterIsRefusedWithItsPath) {
  Json doc = minimal();
  doc["policies"]["rebalance"] = {{"name", "nope"}};
  EXPECT_THAT(error_of(doc), HasSubstr("policies.rebalance.name: unknown rebalance policy \"nope\"; expected one of: "
                                       "llumnix, none"));
  doc["policies"]["rebalance"] = {{"name", "llumnix"}, {"params", {{"interval", 1}}}};
  EXPECT_THAT(error_of(doc), HasSubstr("policies.rebalance.params.interval: unknown key"));
  doc["policies"]["rebalance"] = {{"name", "llumnix"}, {"params", {{"metric", "foo"}}}};
  EXPECT_THAT(error_of(doc), HasSubstr("policies.rebalance.params.metric: unknown value \"foo\""));
}

TEST(ExperimentConfig, AnUnknownEngineModeIsRefusedWithTheChoices) {
  Json doc = minimal();
  doc["engine"]["mode"] = "vllm_v2";
  EXPECT_THAT(error_of(doc), HasSubstr("engine.mode: unknown value \"vllm_v2\"; expected one of vllm_v1, vllm_v0"));
}

TEST(ExperimentConfig, TheResolvedEngineNamesWhatItsModeChoseAndKeepsWhatWasSet) {
  const Json v1 = resolve_experiment(minimal(), ".").to_json(".")["engine"];
  EXPECT_EQ(v1["mode"], "vllm_v1");
  EXPECT_EQ(v1["enable_chunked_prefill"], true);
  EXPECT_EQ(v1["prefix_retention"], "lru");
  Json doc = minimal();
  doc["engine"] = {{"mode", "vllm_v0"}, {"prefix_retention", "lru"}};
  const Json v0 = resolve_experiment(doc, ".").to_json(".")["engine"];
  EXPECT_EQ(v0["mode"], "vllm_v0");
  EXPECT_EQ(v0["enable_chunked_prefill"], false);
  EXPECT_EQ(v0["prefix_retention"], "lru");
}

TEST(ExperimentConfig, BandwidthKeysOfTheOldGbpsNamesAreRefusedWithTheirNewNames) {
  Json server_override = minimal();
  server_override["cluster"]["server_groups"][0]["server"] = {{"nic_gbps", 50}};
  EXPECT_THAT(error_of(server_override), HasSubstr("cluster.server_groups[0].server.nic_gbps: `nic_gbps` was renamed "
                                                   "`nic_gbytes_per_s` (gigabytes per second)"));
  Json cluster_key = minimal();
  cluster_key["cluster"]["remote_storage_gbps"] = 1.25;
  EXPECT_THAT(error_of(cluster_key), HasSubstr("cluster.remote_storage_gbps: `remote_storage_gbps` was renamed "
                                               "`remote_storage_gbytes_per_s` (gigabytes per second)"));
}

TEST(ExperimentConfig, TopologyIsReadAndServerSitesMustBeListed) {
  Json doc = minimal();
  doc["cluster"]["topology"] =
      Json::parse(R"({"servers_per_rack": 1, "sites": [{"name": "edge", "wan_gbytes_per_s": 0.5}]})");
  doc["cluster"]["server_groups"][0]["site"] = "edge";
  const auto r = resolve_experiment(doc, ".");
  EXPECT_EQ(r.server_groups[0].site, "edge");
  EXPECT_EQ(r.config.cluster.topology.servers_per_rack, 1);
  EXPECT_EQ(r.config.cluster.topology.sites[0].wan_gbytes_per_s, 0.5);
  EXPECT_EQ(r.config.cluster.topology.sites[0].wan_latency_ms, 20);
  Json unlisted = doc;
  unlisted["cluster"]["server_groups"][0]["site"] = "moon";
  EXPECT_THAT(error_of(unlisted), HasSubstr("cluster.server_groups[0].site: no site \"moon\""));
  Json typo = doc;
  typo["cluster"]["topology"]["oversubscribed"] = 2;
  EXPECT_THAT(error_of(typo), HasSubstr("cluster.topology.oversubscribed: unknown key"));
  Json kind = doc;
  kind["cluster"]["topology"]["custom"]["nodes"] = Json::parse(R"([{"name": "x", "kind": "router"}])");
  EXPECT_THAT(error_of(kind), HasSubstr("cluster.topology.custom.nodes[0].kind: unknown value \"router\""));
}

TEST(ApplyOverride, SetsNestedValuesWithJsonOrStringValues) {
  Json doc = minimal();
  apply_override(doc, "policies.keepalive.params.ttl_s=5");
  apply_override(doc, "models.0.name=opt-6.7b");
  apply_override(doc, "name=my run");
  EXPECT_EQ(doc["policies"]["keepalive"]["params"]["ttl_s"], 5);
  EXPECT_EQ(doc["models"][0]["name"], "opt-6.7b");
  EXPECT_EQ(doc["name"], "my run");
}

TEST(ApplyOverride, RefusesMalformedAssignmentsAndBadIndices) {
  Json doc = minimal();
  EXPECT_THROW(apply_override(doc, "seed"), ConfigError);
  EXPECT_THROW(apply_override(doc, "models.3.name=x"), ConfigError);
  EXPECT_THROW(apply_override(doc, "models.0.name.inner=1"), ConfigError);
}

}  // namespace slsim

namespace slsim {

TEST(ModelVariants, LoraVariantSharesItsBaseCheckpointAndAddsItsAdapter) {
  Json doc = minimal();
  doc["models"].push_back({{"name", "opt-13b-lora"}, {"base_model", "opt-13b"}, {"lora_rank", 16}});
  const auto r = resolve_experiment(doc, ".");
  ASSERT_EQ(r.models[0].checkpoint.size(), 1u);
  ASSERT_EQ(r.models[1].checkpoint.size(), 2u);
  EXPECT_EQ(r.models[1].checkpoint[0].id, r.models[0].checkpoint[0].id);
  EXPECT_EQ(r.models[1].checkpoint[0].bytes, r.models[0].spec.checkpoint_bytes());
  // OPT-13B: 40 layers, width 5120; rank 16 on q, k, v, o: 16 x (5120 + 5120) per matrix, fp16.
  EXPECT_EQ(r.models[1].checkpoint[1].bytes, int64_t{40} * 4 * 16 * (5120 + 5120) * 2);
  EXPECT_NE(r.models[1].checkpoint[1].id, r.models[0].checkpoint[0].id);
}

TEST(ModelVariants, QuantizedVariantHasItsOwnSmallerCheckpoint) {
  Json doc = minimal();
  doc["models"].push_back({{"name", "opt-13b-int8"}, {"base_model", "opt-13b"}, {"spec", {{"dtype", "int8"}}}});
  const auto r = resolve_experiment(doc, ".");
  ASSERT_EQ(r.models[1].checkpoint.size(), 1u);
  EXPECT_NE(r.models[1].checkpoint[0].id, r.models[0].checkpoint[0].id);
  EXPECT_EQ(r.models[1].checkpoint[0].bytes * 2, r.models[0].checkpoint[0].bytes);
  EXPECT_EQ(r.models[1].spec.architecture.layers, 40);
}

}  // namespace slsim

namespace slsim {

// Times are int64 nanoseconds: 10^10 s would be 10^19 ns, beyond 9.2 × 10^18.
TEST(ExperimentConfigLimits, ASecondsFieldBeyondInt64NanosecondsIsRefusedWithItsPath) {
  Json doc = minimal();
  doc["duration_s"] = 1e10;
  EXPECT_THAT(error_of(doc), HasSubstr("duration_s: expected a number in (0, "));
  doc["duration_s"] = 100;
  doc["policies"] = Json::parse(R"({"keepalive": {"name": "fixed", "params": {"ttl_s": 5e9}}})");
  EXPECT_THAT(error_of(doc), HasSubstr("policies.keepalive.params.ttl_s: expected"));
}

TEST(ExperimentConfigLimits, ANegativeOrHugeDispatchLatencyIsRefusedWithItsPath) {
  Json doc = minimal();
  doc["router"] = Json::parse(R"({"dispatch_latency_s": -0.001})");
  EXPECT_THAT(error_of(doc), HasSubstr("router.dispatch_latency_s: expected a number in [0, "));
  doc["router"]["dispatch_latency_s"] = 1e10;
  EXPECT_THAT(error_of(doc), HasSubstr("router.dispatch_latency_s: expected a number in [0, "));
  doc["router"]["dispatch_latency_s"] = 0.0004;
  EXPECT_EQ(error_of(doc), "");
}

TEST(ExperimentConfigLimits, AWindowOrIntervalThatRoundsToNoNanosecondIsRefused) {
  Json doc = minimal();
  doc["output"] = {{"timeseries_interval_s", 1e-10}};
  EXPECT_THAT(error_of(doc), HasSubstr("output.timeseries_interval_s: expected 0 (none) or at least 1 ns"));
  doc = minimal();
  doc["policies"] = Json::parse(R"({"autoscale": {"name": "kpa", "params": {"stable_window_s": 1e-10}}})");
  EXPECT_THAT(error_of(doc),
              HasSubstr("policies.autoscale.params.stable_window_s: expected a window of at least 1 ns"));
  // 60 s × 1e-12 % = 6e-13 s: the panic window rounds to 0 ns although both fields are positive.
  doc["policies"]["autoscale"]["params"] = {{"panic_window_percentage", 1e-12}};
  EXPECT_THAT(error_of(doc), HasSubstr("panic_window_percentage: expected a window of at least 1 ns"));
}

TEST(ExperimentConfigLimits, MinScaleAboveMaxScaleIsRefused) {
  Json doc = minimal();
  doc["policies"] = Json::parse(R"({"autoscale": {"name": "rps", "params": {"min_scale": 3, "max_scale": 2}}})");
  EXPECT_THAT(error_of(doc), HasSubstr("policies.autoscale.params.min_scale: expected at most max_scale (2), got 3"));
}

// opt-13b has 40 attention heads and 40 key/value heads: 3 divides neither.
TEST(ExperimentConfigLimits, ATensorParallelDegreeDividingNoHeadCountIsRefused) {
  Json doc = minimal();
  doc["models"][0]["tensor_parallel"] = 3;
  EXPECT_THAT(error_of(doc), HasSubstr("models[0].tensor_parallel: expected a degree dividing the 40 attention heads"));
}

TEST(ExperimentConfigLimits, ANameThatWouldLeaveTheResultsFolderIsRefused) {
  for (const char* name : {"../../x", "a/b", "..", ""}) {
    Json doc = minimal();
    doc["name"] = name;
    EXPECT_THAT(error_of(doc), HasSubstr("name: expected a name usable as one folder name")) << name;
  }
}

TEST(ExperimentConfigLimits, AHugeListIndexInSetIsAnInputErrorNotALibraryOne) {
  Json doc = minimal();
  EXPECT_THAT([&] { apply_override(doc, "models.99999999999999999999999.name=x"); },
              ::testing::ThrowsMessage<ConfigError>(HasSubstr("expected an index below 1")));
}

TEST(ExperimentConfigLimits, AMissingCatalogueFolderIsNamedRatherThanAnEmptyList) {
  Json doc = minimal();
  doc["catalog_dir"] = "no-such-catalogue";
  EXPECT_THAT(error_of(doc), HasSubstr("the catalogue folder"));
  EXPECT_THAT(error_of(doc), HasSubstr("is missing"));
}

TEST(ExperimentConfigLimits, AFileNameTooLongForTheFileSystemIsAMissingFileNotACrash) {
  // 300 characters: past the 255 a file name may have, so the file system refuses to look it up.
  const std::string long_name(300, 'L');
  Json doc = minimal();
  doc["workload"]["sources"][0] = {{"kind", "trace"}, {"model", "opt-13b"}, {"path", long_name + ".csv"}};
  EXPECT_THAT(error_of(doc), HasSubstr("workload.sources[0].path: no such file"));
  doc = minimal();
  doc["workload"]["sources"][0]["lengths"] = {{"kind", "table"}, {"table", long_name + ".csv"}};
  EXPECT_THAT(error_of(doc), HasSubstr("workload.sources[0].lengths.table: no such file"));
  doc = minimal();
  doc["models"][0]["name"] = long_name;
  EXPECT_THAT(error_of(doc), HasSubstr("unknown name"));
}

TEST(StartState, InstancesAtStartGoRoundRobinOverTheirServersWithTheirFlag) {
  Json doc = minimal();
  doc["cluster"]["instances_at_start"] =
      Json::parse(R"([{"model": "opt-13b", "count": 3}, {"model": "opt-13b", "servers": [1], "pinned": true}])");
  const auto r = resolve_experiment(doc, ".");
  ASSERT_EQ(r.instances_at_start.size(), 4u);
  const std::vector<uint32_t> servers{0, 1, 0, 1};
  for (size_t i = 0; i < servers.size(); ++i) {
    EXPECT_EQ(r.instances_at_start[i].server, ServerId(servers[i])) << i;
    EXPECT_EQ(r.instances_at_start[i].model, ModelId(0));
    EXPECT_EQ(r.instances_at_start[i].pinned, i == 3) << i;
  }
  // Written back in full, defaults included, so config.json reproduces them.
  const Json written = r.to_json(".")["cluster"]["instances_at_start"][0];
  EXPECT_EQ(written["pinned"], false);
  EXPECT_TRUE(written["server_group"].is_null());
}

TEST(StartState, ServersAreIndicesWithinTheirGroupWhenOneIsNamed) {
  Json doc = minimal();
  doc["cluster"]["server_groups"].push_back({{"profile", "serverlessllm-testbed-a40"}, {"count", 2}});
  doc["cluster"]["instances_at_start"] = Json::parse(R"([{"model": "opt-13b", "server_group": 1, "servers": [1]}])");
  doc["cluster"]["checkpoints_at_start"] = Json::parse(R"([{"model": "opt-13b", "tier": "ssd", "server_group": 1}])");
  const auto r = resolve_experiment(doc, ".");
  ASSERT_EQ(r.instances_at_start.size(), 1u);
  EXPECT_EQ(r.instances_at_start[0].server, ServerId(3));
  ASSERT_EQ(r.checkpoints_at_start.size(), 2u);
  EXPECT_EQ(r.checkpoints_at_start[0].server, ServerId(2));
  EXPECT_EQ(r.checkpoints_at_start[1].server, ServerId(3));
  EXPECT_EQ(r.checkpoints_at_start[1].tier, Tier::ssd);
  EXPECT_EQ(r.checkpoints_at_start[1].part.bytes, r.models[0].spec.checkpoint_bytes());
}

TEST(StartState, AStartStateThatCannotBeMetIsRefusedWithItsJsonPath) {
  const auto refused = [](const char* key, const char* value) {
    Json doc = minimal();
    doc["cluster"][key] = Json::parse(value);
    return error_of(doc);
  };
  // Two servers of four A40s, opt-13b on one GPU each: eight fit, a ninth does not.
  EXPECT_THAT(refused("instances_at_start", R"([{"model": "opt-13b", "count": 9}])"),
              HasSubstr("cluster.instances_at_start[0].count: 9 instances of \"opt-13b\" (1 GPU each) do not fit: "
                        "after 8, no server of the cluster that holds the model has 1 GPU free"));
  EXPECT_THAT(refused("instances_at_start", R"([{"model": "opt-13b", "count": 4}, {"model": "opt-13b", "count": 5}])"),
              HasSubstr("cluster.instances_at_start[1].count: 5 instances"));
  EXPECT_THAT(refused("instances_at_start", R"([{"model": "opt-13b", "servers": [0, 2]}])"),
              HasSubstr("cluster.instances_at_start[0].servers[1]: expected the index of a server of the cluster "
                        "(below 2), got 2"));
  EXPECT_THAT(refused("instances_at_start", R"([{"model": "opt-13b", "server_group": 1}])"),
              HasSubstr("cluster.instances_at_start[0].server_group: expected an index in cluster.server_groups "
                        "(below 1), got 1"));
  EXPECT_THAT(refused("instances_at_start", R"([{"model": "opt-1.3b"}])"),
              HasSubstr("cluster.instances_at_start[0].model: \"opt-1.3b\" is not one of the models (opt-13b)"));
  EXPECT_THAT(refused("instances_at_start", R"([{"count": 1}])"),
              HasSubstr("cluster.instances_at_start[0].model: missing"));
  EXPECT_THAT(refused("checkpoints_at_start", R"([{"model": "opt-13b", "tier": "hbm"}])"),
              HasSubstr("cluster.checkpoints_at_start[0].tier: unknown value \"hbm\""));
}

TEST(StartState, AServerWhoseGpusCannotHoldTheModelIsNoPlaceForAnInstanceAtStart) {
  Json doc = minimal();
  doc["cluster"]["server_groups"].push_back(
      {{"profile", "serverlessllm-testbed-a40"}, {"gpu", {{"memory_bytes", 1'000'000'000}}}});
  doc["cluster"]["instances_at_start"] = Json::parse(R"([{"model": "opt-13b", "server_group": 1}])");
  EXPECT_THAT(error_of(doc), HasSubstr("cluster.instances_at_start[0].server_group: no server of "
                                       "cluster.server_groups[1] holds \"opt-13b\" at tensor_parallel 1"));
}

TEST(StartState, CheckpointsAtStartMustFitTheirCaches) {
  Json small = minimal();
  small["cluster"]["server_groups"][0]["server"] = {{"dram_cache_bytes", 1'000'000'000}};
  small["cluster"]["checkpoints_at_start"] = Json::parse(R"([{"model": "opt-13b", "servers": [1]}])");
  EXPECT_THAT(error_of(small), HasSubstr("cluster.checkpoints_at_start[0]: the dram cache of server 1 "
                                         "(serverlessllm-testbed-a40) holds 1000000000 bytes, but the checkpoints "
                                         "listed for it at start take"));
  // Listed twice, a checkpoint takes its room once: opt-13b's 26 GB fit a 30 GB cache.
  Json twice = minimal();
  twice["cluster"]["server_groups"][0]["server"] = {{"dram_cache_bytes", 30'000'000'000}};
  twice["cluster"]["checkpoints_at_start"] =
      Json::parse(R"([{"model": "opt-13b", "servers": [0]}, {"model": "opt-13b", "tier": "dram"}])");
  EXPECT_EQ(resolve_experiment(twice, ".").checkpoints_at_start.size(), 3u);
  Json none = minimal();
  none["policies"] = Json::parse(R"({"ssd_cache": {"name": "none"}})");
  none["cluster"]["checkpoints_at_start"] = Json::parse(R"([{"model": "opt-13b", "tier": "ssd"}])");
  EXPECT_THAT(error_of(none),
              HasSubstr("cluster.checkpoints_at_start[0].tier: policies.ssd_cache `none` keeps nothing in the cache"));
}

}  // namespace slsim
