// Load balance by partial live migration: two servers of one GPU each run a pinned instance of
// hand_computed.json's tiny model from t = 0 (A on server 0, B on server 1). Eight requests
// arrive at 0 and least-outstanding routing alternates them: A gets the four long ones (inputs
// 100, 200, 300, 400; 1,000 tokens out), B four of 2 tokens, done by 3 ms. The GPUs' memory
// bandwidth is made unlimited, so every step takes the 1 ms step overhead whatever its batch:
// compute is not shared and the source's pace does not change when requests leave it. The
// tiny model stores 4,096 bytes of keys and values per token, 65,536 per block of 16; the path
// between the two servers' GPUs is limited by the NICs, 10 GB/s, with no latency.

#include <gtest/gtest.h>

#include <fstream>
#include <map>
#include <sstream>

#include "sim/config/experiment_config.h"
#include "sim/config/experiment_runner.h"
#include "test_support.h"

namespace slsim {
using namespace testing_support;
namespace {

constexpr double kBlockBytes = 16 * 4096;
constexpr double kNicBytesPerS = 10e9;

struct Row {
  double e2e_s = 0;
  std::string server;
  std::string migrated;
};

struct ScenarioRun {
  Json summary;
  std::map<std::string, Row> rows;  // by request id
  std::string requests_csv;
};

ScenarioRun run_scenario(const std::string& name, const Json& rebalance) {
  const auto dir = fresh_dir("rebalance_" + name);
  {
    std::ofstream trace(dir / "trace.csv");
    trace << "arrival_s,input_tokens,output_tokens\n";
    for (int i = 1; i <= 4; ++i) trace << "0," << 100 * i << ",1000\n0,10,2\n";
  }
  Json doc = load_json_file(testdata("hand_computed.json"));
  doc["cluster"]["server_groups"][0]["count"] = 2;
  doc["cluster"]["server_groups"][0]["gpu"]["hbm_bandwidth_gbytes_per_s"] = 1e9;
  doc["cluster"]["instances_at_start"] = Json::array({{{"model", "tiny"}, {"count", 2}, {"pinned", true}}});
  doc["workload"]["sources"] =
      Json::array({{{"kind", "trace"}, {"path", (dir / "trace.csv").string()}, {"model", "tiny"}}});
  doc["policies"]["rebalance"] = rebalance;
  ScenarioRun run;
  run.summary = run_experiment(resolve_experiment(doc, testdata("")), dir / "out");
  run.requests_csv = read_file(dir / "out" / "requests.csv");
  std::stringstream csv(run.requests_csv);
  std::string line;
  std::getline(csv, line);
  std::vector<std::string> header;
  std::stringstream h(line);
  for (std::string f; std::getline(h, f, ',');) header.push_back(f);
  while (std::getline(csv, line)) {
    std::map<std::string, std::string> fields;
    std::stringstream in(line);
    for (size_t i = 0; i < header.size() && std::getline(in, line, ','); ++i) fields[header[i]] = line;
    run.rows[fields["id"]] = Row{std::stod(fields["e2e_s"]), fields["server"], fields["migrated"]};
  }
  return run;
}

Json llumnix(Json params) { return {{"name", "llumnix"}, {"params", std::move(params)}}; }

}  // namespace

TEST(Rebalance, MovesHalfTheGapInOneStopAndCopyOverTheLinkBandwidth) {
  // At the first tick (0.05 s) A holds 4 requests and B none: 4 - 0 > 2, so the two shortest
  // move (4 - 2 = 0 + 2). Request 0 was prefilled alone by 1 ms and request 2 with the others by
  // 2 ms; one token a ms since: 149 and 249 tokens, of which all but the last are cached:
  // ceil(148 / 16) + ceil(248 / 16) = 10 + 16 blocks, copied with them stopped.
  const ScenarioRun run = run_scenario(
      "one_stage", llumnix({{"metric", "requests"}, {"threshold", 2}, {"last_stage_max_blocks", 1000000}}));
  const Json& m = run.summary["migrations"];
  EXPECT_EQ(m["count"], 1);
  EXPECT_EQ(m["by_method"]["rebalance"], 1);
  EXPECT_EQ(m["requests_moved"], 2);
  EXPECT_EQ(m["rounds"], 1);
  EXPECT_EQ(m["bytes_copied"], 26 * kBlockBytes);
  EXPECT_NEAR(m["pause_s"]["max"].get<double>(), 26 * kBlockBytes / kNicBytesPerS, 1e-9);
  EXPECT_EQ(run.summary["completed"], 8);
  EXPECT_EQ(run.rows.at("0").migrated, "1");
  EXPECT_EQ(run.rows.at("2").migrated, "1");
  EXPECT_EQ(run.rows.at("0").server, "test-server/1");
  EXPECT_EQ(run.rows.at("4").migrated, "0");
  EXPECT_EQ(run.rows.at("6").server, "test-server/0");
}

TEST(Rebalance, TheSourceServesTheRestAsIfNothingMovedAndTheMovedOnesLoseOnlyTheirPause) {
  const ScenarioRun none = run_scenario("baseline", {{"name", "none"}});
  const ScenarioRun moved =
      run_scenario("moved", llumnix({{"metric", "requests"}, {"threshold", 2}, {"last_stage_max_blocks", 1000000}}));
  EXPECT_EQ(none.summary["migrations"]["count"], 0);
  // Compute is not shared and a step's length does not depend on its batch: requests 4 and 6
  // finish when they would have (1 ms prefill, 1,000 ms of decoding, within the CSV's µs).
  for (const char* id : {"4", "6"}) EXPECT_NEAR(moved.rows.at(id).e2e_s, none.rows.at(id).e2e_s, 1e-6) << id;
  // The moved ones wait out the copy; the destination's first step computes their last token.
  const double pause_s = 26 * kBlockBytes / kNicBytesPerS;
  for (const char* id : {"0", "2"}) EXPECT_NEAR(moved.rows.at(id).e2e_s, none.rows.at(id).e2e_s + pause_s, 2e-6) << id;
}

TEST(Rebalance, StagesShrinkThePauseToTheBlocksWrittenDuringTheCopy) {
  // Llumnix's defaults: stage 1 copies the 26 blocks (170 µs) while A decodes; the step ending
  // in between adds a token to each moving request, whose partial last block is sent again:
  // 2 blocks, at most 16, so stage 2 is the stop-and-copy.
  const ScenarioRun run = run_scenario("staged", llumnix({{"metric", "requests"}, {"threshold", 2}}));
  const Json& m = run.summary["migrations"];
  EXPECT_EQ(m["rounds"], 2);
  EXPECT_EQ(m["bytes_copied"], 28 * kBlockBytes);
  EXPECT_NEAR(m["pause_s"]["max"].get<double>(), 2 * kBlockBytes / kNicBytesPerS, 1e-9);
  EXPECT_EQ(run.summary["completed"], 8);
}

TEST(Rebalance, NothingMovesWhileTheGapIsWithinTheThreshold) {
  // 4 - 0 does not exceed 4; later the gap only shrinks as requests finish.
  const ScenarioRun run = run_scenario("threshold", llumnix({{"metric", "requests"}, {"threshold", 4}}));
  EXPECT_EQ(run.summary["migrations"]["count"], 0);
  EXPECT_EQ(run.summary["completed"], 8);
  for (const auto& [id, row] : run.rows) EXPECT_EQ(row.migrated, "0") << id;
}

TEST(Rebalance, SameSeedSameOutputs) {
  const Json policy = llumnix({{"metric", "requests"}, {"threshold", 1}});
  const ScenarioRun a = run_scenario("determinism_a", policy);
  const ScenarioRun b = run_scenario("determinism_b", policy);
  EXPECT_GT(a.summary["migrations"]["count"].get<int64_t>(), 0);
  EXPECT_EQ(a.requests_csv, b.requests_csv);
  EXPECT_EQ(a.summary["migrations"].dump(), b.summary["migrations"].dump());
}

TEST(Rebalance, InvariantsHoldUnderScaleOutKeepAliveAndMovesOnAReplay) {
  // Knative at 2 requests per instance starts and releases instances (keep-alive 1 s) while
  // requests move between them every 50 ms: the audit after every event checks that each moving
  // request is in exactly one engine or in transit, and the routing index and counts follow.
  const auto dir = fresh_dir("rebalance_invariants");
  const auto r =
      run_slsim("run " + testdata("small_replay.json").string() + " --check-invariants --no-progress -o " +
                (dir / "out").string() +
                " --set policies.autoscale.name=kpa --set policies.autoscale.params.target_concurrency=2"
                " --set policies.keepalive.params.ttl_s=1 --set policies.rebalance.name=llumnix"
                " --set policies.rebalance.params.metric=requests --set policies.rebalance.params.threshold=1");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const Json summary = load_json_file(dir / "out" / "summary.json");
  EXPECT_GT(summary["migrations"]["by_method"]["rebalance"].get<int64_t>(), 100);
}

}  // namespace slsim
