// Making room for a cold start on a full cluster: three servers of two GPUs serve the tiny model
// of hand_computed.json under five names. At t = 0, B (two GPUs) starts on server 0, A on
// server 1 and E on server 2 (least-loaded). At 0.5 s D arrives needing two GPUs that no server
// has free. Moving B is impossible (no server has two free GPUs for it); A has fewer tokens in
// flight than E (input 1,000 vs 1,500, equal decoding since), so A moves to server 2's free GPU
// and D starts on server 1. The tiny model stores 2 × 8 heads × 128 × 2 bytes = 4,096 bytes of
// keys and values per token, 65,536 per block of 16; the path between two servers' GPUs is
// limited by the NICs, 10 GB/s, and has no latency.

#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include "sim/config/experiment_config.h"
#include "sim/config/experiment_runner.h"
#include "test_support.h"

namespace slsim {
using namespace testing_support;
namespace {

struct ScenarioRun {
  Json summary;
  std::vector<std::vector<std::string>> rows;  // requests.csv without its header
  std::vector<std::string> header;
};

std::vector<std::string> split(const std::string& line) {
  std::vector<std::string> fields;
  std::string field;
  std::stringstream in(line);
  while (std::getline(in, field, ',')) fields.push_back(field);
  if (!line.empty() && line.back() == ',') fields.emplace_back();
  return fields;
}

constexpr double kBlockBytes = 16 * 4096;
constexpr double kNicBytesPerS = 10e9;

ScenarioRun run_scenario(const std::string& name, const std::string& migration, const Json& params = Json::object(),
                         const std::string& more_requests = "", double gpu_tflops = 0) {
  const auto dir = fresh_dir("migration_" + name);
  std::ofstream(dir / "trace.csv") << "arrival_s,input_tokens,output_tokens,model\n"
                                      "0,10,2000,B\n0,1000,1000,A\n0,1500,500,E\n0.5,10,2,D\n"
                                   << more_requests;
  Json doc = load_json_file(testdata("hand_computed.json"));
  doc["cluster"]["server_groups"][0]["count"] = 3;
  doc["cluster"]["server_groups"][0]["server"]["gpus"] = 2;
  if (gpu_tflops > 0) doc["cluster"]["server_groups"][0]["gpu"]["dense_fp16_tflops"] = gpu_tflops;
  const Json tiny = doc["models"][0];
  doc["models"] = Json::array();
  for (const char* model : {"A", "B", "D", "E"}) {
    Json m = tiny;
    m["name"] = model;
    m["tensor_parallel"] = (std::string(model) == "B" || std::string(model) == "D") ? 2 : 1;
    doc["models"].push_back(m);
  }
  doc["workload"]["sources"] = Json::array({{{"kind", "trace"},
                                             {"path", (dir / "trace.csv").string()},
                                             {"mapping", {{"model_field", "model"}}},
                                             {"assign", "name"}}});
  doc["policies"]["migration"] = {{"name", migration}, {"params", params}};
  ScenarioRun run;
  run.summary = run_experiment(resolve_experiment(doc, testdata("")), dir / "out");
  std::ifstream csv(dir / "out" / "requests.csv");
  std::string line;
  std::getline(csv, line);
  run.header = split(line);
  while (std::getline(csv, line)) run.rows.push_back(split(line));
  return run;
}

std::string field(const ScenarioRun& run, const std::vector<std::string>& row, const std::string& name) {
  const auto it = std::find(run.header.begin(), run.header.end(), name);
  return row.at(static_cast<size_t>(it - run.header.begin()));
}

// Every request completes exactly once; returns each model's `migrated` count.
std::map<std::string, std::string> check_each_request_completes_once(const ScenarioRun& run, size_t requests = 4) {
  EXPECT_EQ(run.summary["requests"], requests);
  EXPECT_EQ(run.summary["completed"], requests);
  EXPECT_EQ(run.summary["unfinished"], 0);
  std::set<std::string> ids;
  std::map<std::string, std::string> migrated;
  for (const auto& row : run.rows) {
    EXPECT_TRUE(ids.insert(field(run, row, "id")).second) << "request " << field(run, row, "id") << " twice";
    migrated[field(run, row, "model")] = field(run, row, "migrated");
  }
  EXPECT_EQ(ids.size(), requests);
  return migrated;
}

}  // namespace

TEST(Migration, LiveTokenMovesTheCheapestVictimInTwoRoundsAndLosesNoRequest) {
  const ScenarioRun run = run_scenario("live", "live-token");
  const Json& m = run.summary["migrations"];
  EXPECT_EQ(m["count"], 1);
  EXPECT_EQ(m["by_method"]["live-token"], 1);
  EXPECT_EQ(m["requests_moved"], 1);
  // Round 1 recomputes A's 1,000 + ~400 tokens in one ~1 ms prefill, during which about one
  // decode step (~1 ms) brings one token: fewer than the threshold of 20, so round 2 stops the
  // source and sends the last tokens.
  EXPECT_EQ(m["rounds"], 2);
  EXPECT_GT(m["tokens_recomputed"].get<int64_t>(), 1000);
  EXPECT_LT(m["tokens_recomputed"].get<int64_t>(), 2000);
  EXPECT_GT(m["pause_s"]["max"].get<double>(), 0.0);
  EXPECT_GT(run.summary["gpu_seconds"]["migrating"].get<double>(), 0.0);
  const auto migrated = check_each_request_completes_once(run);
  EXPECT_EQ(migrated.at("A"), "1");
  EXPECT_EQ(migrated.at("B"), "0");
  EXPECT_EQ(migrated.at("D"), "0");
  EXPECT_EQ(migrated.at("E"), "0");
}

TEST(Migration, LiveTokenRoundsCompeteWithTheDestinationsOtherWork) {
  const double tflops = 100;
  const ScenarioRun idle = run_scenario("live_idle", "live-token", Json::object(), "", tflops);
  // Four more requests for A queue while A moves and go to the destination as soon as it is
  // loaded, where they share round 1's prefill step (8,192 tokens at most: the ~1,400 sent plus
  // four of 1,500) and then decode beside the parked shadow.
  const ScenarioRun busy = run_scenario("live_busy", "live-token", Json::object(),
                                        "0.5,1500,300,A\n0.5,1500,300,A\n0.5,1500,300,A\n0.5,1500,300,A\n", tflops);
  const double idle_s = idle.summary["migrations"]["duration_s"]["max"].get<double>();
  const double busy_s = busy.summary["migrations"]["duration_s"]["max"].get<double>();
  // Round 1 at least waits for the four prompts' linear layers: 2 × 14,637,056 × 6,000 FLOPs.
  EXPECT_GT(busy_s, idle_s + 2.0 * 14637056 * 6000 / (tflops * 1e12));
  EXPECT_EQ(busy.summary["migrations"]["count"], 1);
  check_each_request_completes_once(busy, 8);
}

TEST(Migration, LiveKvStopAndCopyOfKTokensTakesTheirBlocksOverTheLinkBandwidth) {
  // With no live stage the whole KV cache is copied with the source stopped: the pause is
  // ceil(k / 16) blocks × 65,536 bytes / 10 GB/s for A's k tokens at the stop.
  const ScenarioRun run = run_scenario("kv_one_stage", "live-kv", {{"last_stage_max_blocks", 1000000}});
  const Json& m = run.summary["migrations"];
  EXPECT_EQ(m["count"], 1);
  EXPECT_EQ(m["by_method"]["live-kv"], 1);
  EXPECT_EQ(m["rounds"], 1);
  EXPECT_EQ(m["tokens_recomputed"], 0);
  const double bytes = m["bytes_copied"].get<double>();
  const double blocks = bytes / kBlockBytes;
  EXPECT_EQ(blocks, std::floor(blocks));
  // A's 1,000 input tokens plus the 400-odd it generated by then: 88 to 94 blocks.
  EXPECT_GE(blocks, 88);
  EXPECT_LE(blocks, 94);
  EXPECT_NEAR(m["pause_s"]["max"].get<double>(), bytes / kNicBytesPerS, 1e-9);
  const auto migrated = check_each_request_completes_once(run);
  EXPECT_EQ(migrated.at("A"), "1");
  EXPECT_EQ(migrated.at("E"), "0");
  // The destination prefills only the last token, whose keys and values the source had not
  // computed yet: no prompt is prefilled twice.
  EXPECT_EQ(run.summary["prefilled_tokens"], 10 + 1000 + 1500 + 10 + 1);
}

TEST(Migration, LiveKvStagesShrinkThePauseToTheLastBlocks) {
  const ScenarioRun one = run_scenario("kv_one", "live-kv", {{"last_stage_max_blocks", 1000000}});
  // Llumnix's defaults: stage 1 copies A's ~90 blocks in ~0.6 ms while A decodes about one
  // token per ms: the next stage has 1 block to copy (its last, partial one), at most 16, so it
  // is the stop-and-copy.
  const ScenarioRun staged = run_scenario("kv_staged", "live-kv");
  const Json& m = staged.summary["migrations"];
  EXPECT_EQ(m["rounds"], 2);
  const double one_bytes = one.summary["migrations"]["bytes_copied"].get<double>();
  const double bytes = m["bytes_copied"].get<double>();
  EXPECT_GT(bytes, one_bytes - 2 * kBlockBytes);
  EXPECT_NEAR(m["pause_s"]["max"].get<double>(), kBlockBytes / kNicBytesPerS, 1e-9);
  EXPECT_LT(m["pause_s"]["max"].get<double>(), one.summary["migrations"]["pause_s"]["max"].get<double>() / 50);
  check_each_request_completes_once(staged);
}

TEST(Migration, PreemptRestartsTheCheapestVictimsAndLosesNoRequest) {
  // Preemption needs no destination, so the fewest tokens lose: B (10 + ~460) makes room for D
  // on server 0; B's restart needs two GPUs in turn and preempts A on server 1; A restarts on
  // server 2's free GPU.
  const ScenarioRun run = run_scenario("preempt", "preempt");
  EXPECT_EQ(run.summary["migrations"]["by_method"]["preempt"], 2);
  EXPECT_EQ(run.summary["migrations"]["requests_moved"], 2);
  const auto migrated = check_each_request_completes_once(run);
  EXPECT_EQ(migrated.at("A"), "1");
  EXPECT_EQ(migrated.at("B"), "1");
  EXPECT_EQ(migrated.at("D"), "0");
  // Restarted from scratch: A's and B's prompts are prefilled twice.
  EXPECT_GE(run.summary["prefilled_tokens"].get<int64_t>(), 2 * 10 + 2 * 1000 + 1500 + 10);
}

TEST(Migration, NoneWaitsForGpusAndMovesNothing) {
  const ScenarioRun run = run_scenario("none", "none");
  EXPECT_EQ(run.summary["migrations"]["count"], 0);
  const auto migrated = check_each_request_completes_once(run);
  EXPECT_EQ(migrated.at("A"), "0");
}

TEST(Migration, PreemptNeverRestartsBusyInstancesForAScaleOut) {
  // One server of two GPUs serves one model; a request every 0.5 s decodes 2,000 tokens, so
  // `kpa` at one request per instance wants more instances than the two GPUs hold. The first
  // start (no instance yet) finds a free GPU; a scale-out may not preempt a busy instance, so the
  // starts beyond two wait and nothing is restarted. Before the fix each waiting start preempted
  // the newest busy instance as soon as it was ready: 0 of 200 requests done in 600 s.
  const auto dir = fresh_dir("migration_scale_out");
  {
    std::ofstream trace(dir / "trace.csv");
    trace << "arrival_s,input_tokens,output_tokens\n";
    for (int i = 0; i < 200; ++i) trace << i * 0.5 << ",10,2000\n";
  }
  Json doc = load_json_file(testdata("hand_computed.json"));
  doc["cluster"]["server_groups"][0]["server"]["gpus"] = 2;
  doc["workload"]["sources"] =
      Json::array({{{"kind", "trace"}, {"model", "tiny"}, {"path", (dir / "trace.csv").string()}}});
  doc["duration_s"] = 600;  // bounds the run should the restarts come back
  doc["policies"]["migration"] = {{"name", "preempt"}};
  doc["policies"]["autoscale"] = {
      {"name", "kpa"}, {"params", {{"target_concurrency", 1}, {"target_utilization_percentage", 100}, {"tick_s", 2}}}};
  const Json summary = run_experiment(resolve_experiment(doc, testdata("")), dir / "out");
  EXPECT_EQ(summary["migrations"]["count"], 0);
  EXPECT_EQ(summary["completed"], 200);
  EXPECT_EQ(summary["unfinished"], 0);
}

}  // namespace slsim
