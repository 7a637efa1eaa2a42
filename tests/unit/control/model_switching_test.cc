// Two models taking turns at one card by model switching (gpu_memory_sharing switching,
// sim/control/model_switching.h), computed by hand from the server and model "tiny" of
// tests/testdata/hand_computed.json (its header derives the figures; elastic_kv_test.cc the
// loads): copies "tiny" and "tiny-b" (separate checkpoints of W = 29,274,112 B, KV 4,096 B per
// token, 16-token blocks) on one card of two seats, keep-alive 0, a switch overhead of 0.1 s.
//   Both loads at once share the 1 GB/s store: each ends at L2 = 58,548,224 ns; alone L1 = 29,274,112 ns.
//   A request of 100 tokens in takes prefill P = 1,029,684 ns, then decode steps of 1,029,692 ns
//   + 4 ns per step after the first (D = 2,059,388 ns for 3 tokens out).
//   The card's host link is 100 GB/s: the weights come back in W / 100 GB/s = 292,741.12 ns.

#include <gtest/gtest.h>

#include <fstream>
#include <string>

#include "sim/config/experiment_config.h"
#include "sim/config/experiment_runner.h"
#include "sim/core/errors.h"
#include "tests/integration/test_support.h"

namespace slsim {
namespace {

using namespace testing_support;

constexpr double kLoadS = 58'548'224e-9;
constexpr double kLoadAloneS = 29'274'112e-9;
constexpr double kPrefillS = 1'029'684e-9;
constexpr double kDecodesS = (1'029'692 + 1'029'696) * 1e-9;
constexpr double kWeightsS = 29'274'112 / 100e9;
constexpr double kOverheadS = 0.1;
constexpr int64_t kWeightsBytes = 29'274'112;

Json two_models(const std::filesystem::path& dir, const std::string& trace, const std::string& policy = "aegaeon") {
  Json config = Json::parse(read_file(testdata("hand_computed.json")));
  config["catalog_dir"] = testdata("catalog").string();
  Json& group = config["cluster"]["server_groups"][0];
  group["server"]["gpus"] = 2;
  group["server"]["gpus_sharing_compute"] = 2;
  group["server"]["compute_sharing_efficiency"] = 1;
  group["server"]["graph_capture_compute_share"] = 0;
  group["server"]["gpu_memory_sharing"] = "switching";
  config["engine"]["activation_reserve_bytes"] = 0;
  config["policies"]["switching"] = Json{{"name", policy}, {"params", {{"overhead_s", kOverheadS}}}};
  Json second = config["models"][0];
  second["name"] = "tiny-b";
  config["models"].push_back(second);
  std::ofstream(dir / "trace.csv") << "arrival_s,input_tokens,output_tokens,model\n" << trace;
  config["workload"] = Json::parse(R"({"sources": [{"kind": "trace", "path": "trace.csv",
                                       "mapping": {"model_field": "model"}, "assign": "name"}]})");
  return config;
}

Json run(const std::filesystem::path& dir, const Json& config, const std::string& out) {
  std::ofstream(dir / "config.json") << config.dump(2);
  return run_experiment(load_experiment(dir / "config.json", {}), dir / out);
}

// Both loads end at L2; tiny takes the empty card without a switch (its weights came with its
// load) and serves its request; tiny-b's load, beside an active seat, went to host memory, so it
// waits: once tiny is done (L2 + P + D) the card switches, tiny-b's weights come over the host
// link and the overhead passes, then it prefills: TTFT = L2 + P + D + W / 100 GB/s + 0.1 + P.
TEST(ModelSwitching, TheSecondModelWaitsForTheFirstThenItsWeightsAndTheOverhead) {
  const auto dir = fresh_dir("switching_two");
  const Json s = run(dir, two_models(dir, "0,100,3,tiny\n0,100,3,tiny-b\n"), "out");
  EXPECT_EQ(s["completed"], 2);
  EXPECT_NEAR(s["ttft_s"]["p50"].get<double>(), kLoadS + kPrefillS, 1e-8);
  const double switched = kLoadS + kPrefillS + kDecodesS + kWeightsS + kOverheadS;
  EXPECT_NEAR(s["ttft_s"]["max"].get<double>(), switched + kPrefillS, 1e-8);
  EXPECT_NEAR(s["e2e_s"]["max"].get<double>(), switched + kPrefillS + kDecodesS, 1e-8);
  EXPECT_EQ(s["model_switching"]["switches"], 1);
  // tiny had finished: no KV to offload, tiny-b has none yet; only its weights moved.
  EXPECT_EQ(s["model_switching"]["switched_bytes"], kWeightsBytes);
}

// Round robin with a quantum of 10.5 ms from L2: tiny (1,000 tokens out) prefills (P) and
// decodes; at L2 + 10.5 ms its 10th decode step is in progress, cut short at its end: 10 decode
// steps = 10 x 1,029,692 + 4 x (0 + ... + 9) = 10,297,100 ns. Its KV, 100 + 10 tokens cached in
// 7 blocks of 16 x 4,096 B = 458,752 B, goes to host memory while tiny-b's weights come in (each
// on its seat's own host link, the weights the longer), then the overhead, then tiny-b prefills.
// tiny-b finishes within its quantum and the card switches back: tiny's weights and its KV.
TEST(ModelSwitching, AQuantumEndSwitchesOffloadingTheRunningModelsKv) {
  const auto dir = fresh_dir("switching_quantum");
  Json config = two_models(dir, "0,100,1000,tiny\n0,100,3,tiny-b\n", "round-robin");
  config["policies"]["switching"]["params"]["quantum_s"] = 0.0105;
  const Json s = run(dir, config, "out");
  EXPECT_EQ(s["completed"], 2);
  const double first_out = kLoadS + kPrefillS + 10'297'100e-9;
  EXPECT_NEAR(s["ttft_s"]["max"].get<double>(), first_out + kWeightsS + kOverheadS + kPrefillS, 1e-8);
  EXPECT_EQ(s["model_switching"]["switches"], 2);
  EXPECT_EQ(s["model_switching"]["switched_bytes"], 2 * kWeightsBytes + int64_t{2} * 458'752);
}

// As above, with a second tiny-b request at 0.1 s, while the card is switching to tiny-b (from
// about 69.9 ms to 170.2 ms: the weights, then the overhead): it joins that switch (under the
// suite's --check-invariants, a seat the card is switching to is never queued again) and is
// served in tiny-b's quantum: still two switches, to tiny-b and back to tiny.
TEST(ModelSwitching, ARequestArrivingWhileTheCardSwitchesToItsSeatJoinsThatSwitch) {
  const auto dir = fresh_dir("switching_join");
  Json config = two_models(dir, "0,100,1000,tiny\n0,100,3,tiny-b\n0.1,100,3,tiny-b\n", "round-robin");
  config["policies"]["switching"]["params"]["quantum_s"] = 0.0105;
  config["check_invariants"] = true;
  const Json s = run(dir, config, "out");
  EXPECT_EQ(s["completed"], 3);
  EXPECT_EQ(s["model_switching"]["switches"], 2);
}

// One model on the card: it never switches, and serves as on a card of its own.
TEST(ModelSwitching, ASingleModelNeverSwitches) {
  const auto dir = fresh_dir("switching_one");
  const Json s = run(dir, two_models(dir, "0,100,3,tiny\n"), "out");
  EXPECT_EQ(s["completed"], 1);
  EXPECT_NEAR(s["e2e_s"]["max"].get<double>(), kLoadAloneS + kPrefillS + kDecodesS, 1e-8);
  EXPECT_EQ(s["model_switching"]["switches"], 0);
}

TEST(ModelSwitching, RunsWithoutSwitchingCardsReportNoSwitching) {
  const auto dir = fresh_dir("switching_off");
  Json config = two_models(dir, "0,100,3,tiny\n0,100,3,tiny-b\n");
  config["cluster"]["server_groups"][0]["server"]["gpu_memory_sharing"] = "sliced";
  const Json s = run(dir, config, "out");
  EXPECT_EQ(s["completed"], 2);
  EXPECT_FALSE(s.contains("model_switching"));
}

TEST(ModelSwitching, SameConfigAndSeedGiveIdenticalRequestRows) {
  const auto dir = fresh_dir("switching_determinism");
  const std::string trace = "0,100,30,tiny\n0.01,300,20,tiny-b\n0.02,50,40,tiny\n0.03,2000,5,tiny-b\n0.5,10,300,tiny\n";
  Json config = two_models(dir, trace);
  config["policies"]["keepalive"]["params"]["ttl_s"] = 10;
  run(dir, config, "a");
  run(dir, config, "b");
  EXPECT_EQ(read_file(dir / "a" / "requests.csv"), read_file(dir / "b" / "requests.csv"));
  EXPECT_EQ(read_file(dir / "a" / "summary.json"), read_file(dir / "b" / "summary.json"));
}

void expect_config_error(const Json& config, const std::filesystem::path& dir, const std::string& message) {
  std::ofstream(dir / "config.json") << config.dump(2);
  try {
    load_experiment(dir / "config.json", {});
    FAIL() << "expected an InputError";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find(message), std::string::npos) << e.what();
  }
}

TEST(ModelSwitching, SwitchingWithOneGpuPerCardIsAConfigError) {
  const auto dir = fresh_dir("switching_bad_seats");
  Json config = two_models(dir, "0,100,3,tiny\n");
  config["cluster"]["server_groups"][0]["server"]["gpus_sharing_compute"] = 1;
  expect_config_error(config, dir,
                      "config.json: cluster.server_groups[0].server.gpu_memory_sharing: switching needs "
                      "gpus_sharing_compute of at least 2");
}

TEST(ModelSwitching, ANegativeOverheadIsAConfigErrorNamingItsPath) {
  const auto dir = fresh_dir("switching_bad_overhead");
  Json config = two_models(dir, "0,100,3,tiny\n");
  config["policies"]["switching"]["params"]["overhead_s"] = -1;
  expect_config_error(config, dir, "policies.switching.params.overhead_s");
}

}  // namespace
}  // namespace slsim
