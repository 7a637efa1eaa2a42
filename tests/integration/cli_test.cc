#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "sim/config/experiment_config.h"
#include "sim/config/memory_estimate.h"
#include "test_support.h"

namespace slsim {
using namespace testing_support;
namespace fs = std::filesystem;
using ::testing::HasSubstr;

namespace {
// A copy of the hand-computed config whose trace source points at `trace`.
fs::path config_with_trace(const fs::path& dir, const std::string& trace_body) {
  std::ofstream(dir / "trace.csv") << trace_body;
  std::ofstream(dir / "config.json") << R"({
    "name": "cli", "cluster": {"server_groups": [{"profile": "serverlessllm-testbed-a40"}]},
    "models": [{"name": "opt-6.7b"}],
    "workload": {"sources": [{"kind": "azure-llm-2023", "model": "opt-6.7b", "path": "trace.csv"}]}})";
  return dir / "config.json";
}

// A config replaying the ServeGen clients of `dir`/servegen for 60 s.
fs::path config_with_servegen(const fs::path& dir) {
  std::ofstream(dir / "config.json") << R"({
    "name": "cli", "duration_s": 60, "cluster": {"server_groups": [{"profile": "serverlessllm-testbed-a40"}]},
    "models": [{"name": "opt-6.7b"}],
    "workload": {"sources": [{"kind": "servegen", "model": "opt-6.7b", "path": "servegen", "duration_s": 60}]}})";
  return dir / "config.json";
}
}  // namespace

TEST(Cli, RunWritesTheThreeResultFiles) {
  const auto dir = fresh_dir("cli_ok");
  const auto config = config_with_trace(dir, "TIMESTAMP,ContextTokens,GeneratedTokens\n2023-11-16 18:17:03.5,100,10\n");
  const auto r = run_slsim("run " + config.string() + " -o " + (dir / "out").string());
  EXPECT_EQ(r.exit_code, 0) << r.output;
  for (const char* f : {"config.json", "summary.json", "requests.csv"}) EXPECT_TRUE(fs::exists(dir / "out" / f)) << f;
}

TEST(Cli, MalformedTraceLineExitsTwoNamingFileAndLineAndLeavesNoResults) {
  const auto dir = fresh_dir("cli_bad_trace");
  const auto config = config_with_trace(dir,
                                        "TIMESTAMP,ContextTokens,GeneratedTokens\n"
                                        "2023-11-16 18:17:03.5,100,10\n2023-11-16 18:17:04.5,100,ten\n");
  const auto r = run_slsim("run " + config.string() + " -o " + (dir / "out").string());
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.output, HasSubstr("trace.csv:3: field GeneratedTokens"));
  EXPECT_FALSE(fs::exists(dir / "out") && !fs::is_empty(dir / "out"));
}

TEST(Cli, MalformedServeGenDatasetExitsTwoNamingFileAndWindowAndLeavesNoResults) {
  const auto dir = fresh_dir("cli_bad_dataset");
  fs::create_directories(dir / "servegen");
  std::ofstream(dir / "servegen/chunk-0-trace.csv") << "0,0.5,1,Gamma,1,2\n";
  std::ofstream(dir / "servegen/chunk-0-dataset.json") << R"({"0": {"input_tokens": "{10: 1}", "output_tokens": 5}})";
  const auto r = run_slsim("run " + config_with_servegen(dir).string() + " -o " + (dir / "out").string());
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.output, HasSubstr("chunk-0-dataset.json: window \"0\", field output_tokens: expected a string"));
  EXPECT_FALSE(fs::exists(dir / "out") && !fs::is_empty(dir / "out"));
}

TEST(Cli, ServeGenClientsWithoutDatasetsGetOneWarningWithTheirCount) {
  const auto dir = fresh_dir("cli_servegen_fallback");
  fs::create_directories(dir / "servegen");
  for (const char* client : {"chunk-0", "chunk-1", "chunk-2"})
    std::ofstream(dir / "servegen" / (std::string(client) + "-trace.csv")) << "0,0.5,1,Gamma,1,2\n";
  std::ofstream(dir / "servegen/chunk-0-dataset.json")
      << R"({"0": {"input_tokens": "{10: 1}", "output_tokens": "{5: 1}"}})";
  const auto r = run_slsim("run " + config_with_servegen(dir).string() + " -o " + (dir / "out").string());
  EXPECT_EQ(r.exit_code, 0) << r.output;
  const std::string warning = "warning: workload.sources[0]: 2 of 3 ServeGen clients in ";
  const size_t first = r.output.find(warning);
  ASSERT_NE(first, std::string::npos) << r.output;
  EXPECT_EQ(r.output.find(warning, first + 1), std::string::npos) << r.output;
}

TEST(Cli, UnknownPolicyExitsTwoNamingThePath) {
  const auto dir = fresh_dir("cli_policy");
  const auto config = config_with_trace(dir, "TIMESTAMP,ContextTokens,GeneratedTokens\n");
  const auto r = run_slsim("validate " + config.string() + " --set policies.keepalive.name=forever");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.output,
              HasSubstr("policies.keepalive.name: unknown keepalive policy \"forever\"; expected one of: fixed"));
}

TEST(Cli, WrongTypeInOverrideExitsTwoNamingThePath) {
  const auto dir = fresh_dir("cli_type");
  const auto config = config_with_trace(dir, "TIMESTAMP,ContextTokens,GeneratedTokens\n");
  const auto r = run_slsim("validate " + config.string() + " --set engine.max_num_seqs=\\\"many\\\"");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.output, HasSubstr("engine.max_num_seqs: expected an integer >= 1, got the string \"many\""));
}

TEST(Cli, OldGbpsKeyExitsTwoNamingItsNewName) {
  const auto dir = fresh_dir("cli_renamed_key");
  const auto config = config_with_trace(dir, "TIMESTAMP,ContextTokens,GeneratedTokens\n");
  const auto r = run_slsim("validate " + config.string() + " --set cluster.server_groups.0.gpu.interconnect_gbps=32");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.output, HasSubstr("cluster.server_groups[0].gpu.interconnect_gbps: `interconnect_gbps` was renamed "
                                  "`interconnect_gbytes_per_s` (gigabytes per second)"));
}

TEST(Cli, UnknownModelAndMissingFileAreUsageErrors) {
  const auto dir = fresh_dir("cli_model");
  const auto config = config_with_trace(dir, "TIMESTAMP,ContextTokens,GeneratedTokens\n");
  const auto model = run_slsim("validate " + config.string() + " --set models.0.name=gpt-5");
  EXPECT_EQ(model.exit_code, 2);
  EXPECT_THAT(model.output, HasSubstr("models[0].name: unknown name \"gpt-5\""));
  const auto missing = run_slsim("run /nonexistent/config.json");
  EXPECT_EQ(missing.exit_code, 2);
  EXPECT_THAT(missing.output, HasSubstr("/nonexistent/config.json: cannot open"));
}

TEST(Cli, PoliciesListsEveryRegisteredPolicyWithParameters) {
  const auto r = run_slsim("policies");
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_THAT(r.output, HasSubstr("least-loaded"));
  EXPECT_THAT(r.output, HasSubstr("ttl_s"));
  EXPECT_THAT(r.output, HasSubstr("on-demand"));
}

// Every slot of PoliciesConfig (read from its visit(), so a slot added later is covered) has a
// registry in policy_slots(), and `slsim policies` lists each of that registry's entries with
// their parameters and the config key that names them, in text and in JSON.
TEST(Cli, PoliciesListsEveryRegistryOfEveryConfigSlot) {
  const auto text = run_slsim("policies");
  const auto json = run_slsim("policies --json");
  ASSERT_EQ(text.exit_code, 0) << text.output;
  ASSERT_EQ(json.exit_code, 0) << json.output;
  const Json listed = Json::parse(json.output);
  const std::string& listing = text.output;
  PoliciesConfig defaults;
  const Json slots = FieldDescriber::describe(defaults);
  ASSERT_GE(slots.size(), 8u);
  for (const Json& field : slots) {
    const std::string key = field["name"].get<std::string>();
    const auto slot =
        std::find_if(policy_slots().begin(), policy_slots().end(), [&](const PolicySlot& s) { return s.key == key; });
    ASSERT_NE(slot, policy_slots().end()) << "policies." << key << " has no registry in policy_slots()";
    EXPECT_THAT(listing, HasSubstr("policies." + key));
    const Json entries = slot->registry->describe();
    ASSERT_FALSE(entries.empty()) << key;
    for (const Json& entry : entries) {
      const auto found = std::find_if(listed.begin(), listed.end(), [&](const Json& l) {
        return l["kind"] == entry["kind"] && l["name"] == entry["name"];
      });
      ASSERT_NE(found, listed.end()) << entry["kind"] << " " << entry["name"];
      EXPECT_EQ((*found)["parameters"], entry["parameters"]);
      const auto& keys = (*found)["config_keys"];
      EXPECT_NE(std::find(keys.begin(), keys.end(), "policies." + key), keys.end()) << key;
      EXPECT_THAT(listing, HasSubstr(entry["name"].get<std::string>()));
      for (const Json& p : entry["parameters"]) EXPECT_THAT(listing, HasSubstr(p["name"].get<std::string>() + " ("));
    }
  }
}

TEST(Cli, VersionHelpAndUnknownCommand) {
  EXPECT_EQ(run_slsim("--version").exit_code, 0);
  EXPECT_EQ(run_slsim("run --help").exit_code, 0);
  EXPECT_EQ(run_slsim("frobnicate").exit_code, 2);
  EXPECT_EQ(run_slsim("run").exit_code, 2);
}

TEST(Cli, ATimelineAtAResultFilesPathIsRefusedWithExitTwo) {
  const auto dir = fresh_dir("cli_timeline_clash");
  const auto config = config_with_trace(dir, "TIMESTAMP,ContextTokens,GeneratedTokens\n2023-11-16 18:17:03.5,100,10\n");
  const std::string out = (dir / "out").string();
  for (const std::string& timeline : {out + "/summary.json", out + "/requests.csv/t.json", out, out + "/sub/t.json"}) {
    const auto r = run_slsim("run " + config.string() + " -o " + out + " --timeline " + timeline);
    EXPECT_EQ(r.exit_code, 2) << timeline << ": " << r.output;
    EXPECT_THAT(r.output, HasSubstr("--timeline " + timeline)) << r.output;
  }
  // Directly in the output folder, the timeline is one more file of the set.
  const auto r = run_slsim("run " + config.string() + " -o " + out + " --timeline " + out + "/timeline.json");
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_TRUE(fs::exists(dir / "out/timeline.json"));
}

TEST(Cli, AFolderGivenAsConfigIsNamedAsAFolder) {
  const auto dir = fresh_dir("cli_folder_config");
  const auto r = run_slsim("run " + dir.string());
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.output, HasSubstr(dir.string() + ": is a folder; expected a JSON file"));
}

TEST(Cli, SkipBadAppliesToSourcesAddedBySet) {
  const auto dir = fresh_dir("cli_skip_bad_set");
  const auto config = config_with_trace(dir, "TIMESTAMP,ContextTokens,GeneratedTokens\n2023-11-16 18:17:03.5,100,10\n");
  std::ofstream(dir / "bad.csv") << "TIMESTAMP,ContextTokens,GeneratedTokens\n2023-11-16 18:17:03.5,100,10\n"
                                    "2023-11-16 18:17:04.5,100,ten\n";
  const std::string sources =
      R"('workload.sources=[{"kind": "azure-llm-2023", "model": "opt-6.7b", "path": "bad.csv"}]')";
  const auto r =
      run_slsim("run " + config.string() + " -o " + (dir / "out").string() + " --set " + sources + " --skip-bad 1");
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_THAT(r.output, HasSubstr("skipped 1 bad trace lines"));
}

TEST(Cli, ADuplicateKeyInAConfigIsRefusedWithItsPath) {
  const auto dir = fresh_dir("cli_duplicate_key");
  std::ofstream(dir / "config.json") << R"({"name": "a", "seed": 1, "seed": 2})";
  const auto r = run_slsim("validate " + (dir / "config.json").string());
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.output, HasSubstr("config.json: seed: the key appears twice"));
}

// A block of 10^15 tokens would be sized in bytes beyond int64 and counted slot by slot; the
// field is bounded (1 to 65,536), so the run stops before writing anything.
TEST(Cli, AHugeBlockSizeExitsTwoNamingTheFieldAndWritesNothing) {
  const auto dir = fresh_dir("cli_block_size");
  const auto config = config_with_trace(dir, "TIMESTAMP,ContextTokens,GeneratedTokens\n2023-11-16 18:17:03.5,100,10\n");
  const auto r =
      run_slsim("run " + config.string() + " -o " + (dir / "out").string() + " --set engine.block_size=1e15");
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_THAT(r.output, HasSubstr("engine.block_size: expected an integer in [1, 65536], got 1000000000000000"));
  EXPECT_FALSE(fs::exists(dir / "out"));
}

// 1e400 is valid JSON syntax but no double holds it: an error naming the key, for a key that
// exists and for one that does not alike, before the config is read further.
TEST(Cli, ANumberBeyondADoubleInAnOverrideExitsTwoAndWritesNothing) {
  const auto dir = fresh_dir("cli_1e400");
  const auto config = config_with_trace(dir, "TIMESTAMP,ContextTokens,GeneratedTokens\n2023-11-16 18:17:03.5,100,10\n");
  for (const std::string key : {"x", "duration_s"}) {
    const auto r = run_slsim("run " + config.string() + " -o " + (dir / "out").string() + " --set " + key + "=1e400");
    EXPECT_EQ(r.exit_code, 2) << r.output;
    EXPECT_THAT(r.output, HasSubstr("--set " + key + ": the number 1e400 is beyond what a double holds"));
    EXPECT_FALSE(fs::exists(dir / "out"));
  }
}

TEST(Cli, InstancesAtStartThatDoNotFitExitTwoNamingThePathAndWriteNothing) {
  // One server of four A40s holds four instances of opt-6.7b on one GPU each, not five.
  const auto dir = fresh_dir("cli_at_start");
  const auto config = config_with_trace(dir, "TIMESTAMP,ContextTokens,GeneratedTokens\n2023-11-16 18:17:03.5,100,10\n");
  const auto r = run_slsim("run " + config.string() + " -o " + (dir / "out").string() +
                           R"( --set 'cluster.instances_at_start=[{"model": "opt-6.7b", "count": 5}]')");
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_THAT(r.output, HasSubstr("cluster.instances_at_start[0].count: 5 instances of \"opt-6.7b\" (1 GPU each) "
                                  "do not fit: after 4"));
  EXPECT_FALSE(fs::exists(dir / "out"));
  const auto ok = run_slsim("validate " + config.string() +
                            R"( --set 'cluster.instances_at_start=[{"model": "opt-6.7b", "count": 4}]')");
  EXPECT_EQ(ok.exit_code, 0) << ok.output;
  const auto example = run_slsim("validate " + std::string(SLSIM_SOURCE_DIR) + "/examples/warm-start.json");
  EXPECT_EQ(example.exit_code, 0) << example.output;
}

// The estimate before the run against an injected amount of available memory: refused with
// exit 2 and nothing written, the estimate and its parts named; --no-memory-check runs it.
TEST(Cli, ARunEstimatedAboveTheAvailableMemoryIsRefusedAndWritesNothing) {
  const auto dir = fresh_dir("cli_memory");
  const auto config = config_with_trace(dir, "TIMESTAMP,ContextTokens,GeneratedTokens\n2023-11-16 18:17:03.5,100,10\n");
  const std::string out = (dir / "out").string();
  const std::string tiny = "SLSIM_AVAILABLE_MEMORY_BYTES=1048576 ";
  const auto refused = run_slsim_with_env(tiny, "run " + config.string() + " -o " + out);
  EXPECT_EQ(refused.exit_code, 2) << refused.output;
  EXPECT_THAT(refused.output, HasSubstr("the run would need about 12."));
  EXPECT_THAT(refused.output, HasSubstr("for 4 GPUs on 1 servers"));
  EXPECT_THAT(refused.output, HasSubstr("more than the 1.0 MiB of memory available"));
  EXPECT_THAT(refused.output, HasSubstr("--no-memory-check"));
  EXPECT_FALSE(fs::exists(out));
  const auto forced = run_slsim_with_env(tiny, "run " + config.string() + " -o " + out + " --no-memory-check");
  EXPECT_EQ(forced.exit_code, 0) << forced.output;
  EXPECT_TRUE(fs::exists(dir / "out/summary.json"));
}

// A backlog the estimate does not count (all requests waiting for the first cold start) stops
// the run once the requests in flight outgrow the memory beside its structure.
TEST(Cli, ABacklogBeyondTheAvailableMemoryStopsTheRunAndWritesNothing) {
  const auto dir = fresh_dir("cli_memory_backlog");
  std::string trace = "TIMESTAMP,ContextTokens,GeneratedTokens\n";
  for (int i = 0; i < 50; ++i) trace += "2023-11-16 18:17:03.5,100,10\n";
  const auto config = config_with_trace(dir, trace);
  const std::vector<std::string> overrides{"engine.max_num_seqs=1"};
  const MemoryEstimate estimate = estimate_run_memory_bytes(load_experiment(config, overrides));
  ASSERT_EQ(estimate.requests_in_flight, 4);  // 4 one-GPU instances, one sequence each
  // Room for 10 requests in flight beside the structure: the estimate passes, the backlog of 50 does not.
  const int64_t available = estimate.structure_bytes + 10 * estimate.bytes_per_request;
  const std::string out = (dir / "out").string();
  const auto r = run_slsim_with_env("SLSIM_AVAILABLE_MEMORY_BYTES=" + std::to_string(available) + " ",
                                    "run " + config.string() + " -o " + out + " --set engine.max_num_seqs=1");
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_THAT(r.output, HasSubstr("11 requests are in flight (the cluster does not keep up"));
  EXPECT_FALSE(fs::exists(out));
}

}  // namespace slsim
