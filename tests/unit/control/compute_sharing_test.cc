// Steps sharing one physical GPU (gpus_sharing_compute), computed by hand from the server and
// model "tiny" of tests/testdata/hand_computed.json (its header derives the figures): two
// copies of "tiny" ("tiny" and "tiny-b", separate checkpoints of 29,274,112 B) each get one
// request (100 tokens in, 3 out) at t = 0 on a server of two GPUs.
//   Both loads share the 1 GB/s store: each ends at 2 * 29,274,112 ns = 58,548,224 ns.
//   Alone on its GPU a step takes prefill 1,029,684 ns, then decodes 1,029,692 and 1,029,696 ns.
//   Two GPUs of one card: both instances step at once, so every step takes twice as long.

#include <gtest/gtest.h>

#include <fstream>
#include <string>
#include <vector>

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

// hand_computed.json with two GPUs, `sharing` of them per card, the card's time-slicing
// efficiency (1: ideal processor sharing) and a graph capture's weight on it, and the trace's
// requests.
ResolvedExperiment two_tiny_models(const std::filesystem::path& dir, int64_t sharing, const std::string& trace,
                                   double efficiency = 1, double capture_share = 0) {
  Json config = Json::parse(read_file(testdata("hand_computed.json")));
  config["catalog_dir"] = testdata("catalog").string();
  Json& server = config["cluster"]["server_groups"][0]["server"];
  server["gpus"] = 2;
  server["gpus_sharing_compute"] = sharing;
  server["compute_sharing_efficiency"] = efficiency;
  server["graph_capture_compute_share"] = capture_share;
  Json second = config["models"][0];
  second["name"] = "tiny-b";
  config["models"].push_back(second);
  std::ofstream(dir / "trace.csv") << "arrival_s,input_tokens,output_tokens,model\n" << trace;
  config["workload"] = Json::parse(R"({"sources": [{"kind": "trace", "path": "trace.csv",
                                       "mapping": {"model_field": "model"}, "assign": "name"}]})");
  std::ofstream(dir / "config.json") << config.dump(2);
  return load_experiment(dir / "config.json", {});
}

TEST(ComputeSharing, TwoStepsOnOneCardEachTakeTwiceTheirTimeAlone) {
  const auto dir = fresh_dir("sharing_two");
  const std::string both = "0,100,3,tiny\n0,100,3,tiny-b\n";
  const Json apart = run_experiment(two_tiny_models(dir, 1, both), dir / "apart");
  EXPECT_NEAR(apart["ttft_s"]["max"].get<double>(), kLoadS + kPrefillS, 1e-8);
  EXPECT_NEAR(apart["e2e_s"]["max"].get<double>(), kLoadS + kPrefillS + kDecodesS, 1e-8);

  const Json shared = run_experiment(two_tiny_models(dir, 2, both), dir / "shared");
  EXPECT_EQ(shared["completed"], 2);
  EXPECT_NEAR(shared["ttft_s"]["p50"].get<double>(), kLoadS + 2 * kPrefillS, 1e-8);
  EXPECT_NEAR(shared["ttft_s"]["max"].get<double>(), kLoadS + 2 * kPrefillS, 1e-8);
  EXPECT_NEAR(shared["e2e_s"]["max"].get<double>(), kLoadS + 2 * (kPrefillS + kDecodesS), 1e-8);
  EXPECT_NEAR(shared["tpot_s"]["max"].get<double>(), kDecodesS, 1e-8);  // two decodes of twice the time, over 2
}

// The second request arrives when the first instance has finished: a card shared with nobody
// busy costs nothing.
TEST(ComputeSharing, AStepAloneOnASharedCardTakesItsTimeAlone) {
  const auto dir = fresh_dir("sharing_alone");
  const Json s = run_experiment(two_tiny_models(dir, 2, "0,100,3,tiny\n1,100,3,tiny-b\n"), dir / "out");
  EXPECT_EQ(s["completed"], 2);
  EXPECT_NEAR(s["e2e_s"]["max"].get<double>(), kLoadAloneS + kPrefillS + kDecodesS, 1e-8);
  EXPECT_NEAR(s["e2e_s"]["p50"].get<double>(), kLoadAloneS + kPrefillS + kDecodesS, 1e-8);
}

// With a time-slicing efficiency of 0.5 two steps on one card each take 2 / 0.5 = 4 times
// their time alone.
TEST(ComputeSharing, TimeSlicingLossStretchesSharedStepsByTheEfficiency) {
  const auto dir = fresh_dir("sharing_efficiency");
  const Json s = run_experiment(two_tiny_models(dir, 2, "0,100,3,tiny\n0,100,3,tiny-b\n", 0.5), dir / "out");
  EXPECT_EQ(s["completed"], 2);
  EXPECT_NEAR(s["ttft_s"]["max"].get<double>(), kLoadS + 4 * kPrefillS, 1e-8);
  EXPECT_NEAR(s["e2e_s"]["max"].get<double>(), kLoadS + 4 * (kPrefillS + kDecodesS), 1e-8);
}

// A measured start-up of nothing but a CUDA-graph capture of 0.1 s after the load. "tiny" arrives
// at 0: loaded at L = 29,274,112 ns, it captures until L + 0.1 s and then serves. "tiny-b"
// arrives at 0.099 s: it loads alone until 0.099 s + L and captures until 0.199 s + L, so all of
// tiny's steps (3.1 ms from L + 0.1 s) run beside tiny-b's capture. At a capture share of 0.5 they
// take 1.5 times as long; tiny-b's capture keeps its length and its steps run alone.
constexpr double kCaptureS = 0.1;

ResolvedExperiment capture_beside_steps(const std::filesystem::path& dir, int64_t sharing) {
  ResolvedExperiment experiment = two_tiny_models(dir, sharing, "0,100,3,tiny\n0.099,100,3,tiny-b\n", 1, 0.5);
  StartupMeasurement capture_only;
  capture_only.model = "tiny";
  capture_only.checkpoint_bytes = 29'274'112;
  capture_only.graph_capture_s = kCaptureS;
  experiment.measured_startup["test-gpu"].models = {capture_only};
  return experiment;
}

TEST(ComputeSharing, AGraphCaptureSlowsTheStepsBesideItByItsShare) {
  const auto dir = fresh_dir("sharing_capture");
  const Json s = run_experiment(capture_beside_steps(dir, 2), dir / "out");
  EXPECT_EQ(s["completed"], 2);
  const double slowed = kLoadAloneS + kCaptureS + 1.5 * (kPrefillS + kDecodesS);
  const double alone = kLoadAloneS + kCaptureS + kPrefillS + kDecodesS;
  EXPECT_NEAR(s["e2e_s"]["max"].get<double>(), slowed, 1e-8);
  EXPECT_NEAR(s["e2e_s"]["mean"].get<double>(), (slowed + alone) / 2, 1e-8);
}

TEST(ComputeSharing, AGraphCaptureOnACardOfItsOwnSlowsNothing) {
  const auto dir = fresh_dir("sharing_capture_apart");
  const Json s = run_experiment(capture_beside_steps(dir, 1), dir / "out");
  EXPECT_EQ(s["completed"], 2);
  EXPECT_NEAR(s["e2e_s"]["max"].get<double>(), kLoadAloneS + kCaptureS + kPrefillS + kDecodesS, 1e-8);
}

TEST(ComputeSharing, ACountThatDoesNotDivideTheServersGpusIsAConfigError) {
  const auto dir = fresh_dir("sharing_bad");
  try {
    two_tiny_models(dir, 3, "0,100,3,tiny\n");
    FAIL() << "expected an InputError";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("config.json: cluster.server_groups[0].server.gpus_sharing_compute: 3 does "
                                         "not divide the server's 2 GPUs"),
              std::string::npos)
        << e.what();
  }
}

}  // namespace
}  // namespace slsim
