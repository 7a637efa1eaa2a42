// Making room for a cold start on a full cluster: three servers of two GPUs serve the tiny model
// of hand_computed.json under five names. At t = 0, B (two GPUs) starts on server 0, A on
// server 1 and E on server 2 (least-loaded). At 0.5 s D arrives needing two GPUs that no server
// has free. Moving B is impossible (no server has two free GPUs for it); A has fewer tokens in
// flight than E (input 1,000 vs 1,500, equal decoding since), so A moves to server 2's free GPU
// and D starts on server 1.

#include <gtest/gtest.h>

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

ScenarioRun run_scenario(const std::string& name, const std::string& migration) {
  const auto dir = fresh_dir("migration_" + name);
  std::ofstream(dir / "trace.csv") << "arrival_s,input_tokens,output_tokens,model\n"
                                      "0,10,2000,B\n0,1000,1000,A\n0,1500,500,E\n0.5,10,2,D\n";
  Json doc = load_json_file(testdata("hand_computed.json"));
  doc["cluster"]["server_groups"][0]["count"] = 3;
  doc["cluster"]["server_groups"][0]["server"]["gpus"] = 2;
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
  doc["policies"]["migration"] = {{"name", migration}};
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
std::map<std::string, std::string> check_each_request_completes_once(const ScenarioRun& run) {
  EXPECT_EQ(run.summary["requests"], 4);
  EXPECT_EQ(run.summary["completed"], 4);
  EXPECT_EQ(run.summary["unfinished"], 0);
  std::set<std::string> ids;
  std::map<std::string, std::string> migrated;
  for (const auto& row : run.rows) {
    EXPECT_TRUE(ids.insert(field(run, row, "id")).second) << "request " << field(run, row, "id") << " twice";
    migrated[field(run, row, "model")] = field(run, row, "migrated");
  }
  EXPECT_EQ(ids.size(), 4u);
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

}  // namespace slsim
