// Live scaling (policies.load_source blitzscale, live_scaling), computed by hand from the server
// and model "tiny" of tests/testdata/hand_computed.json (its header derives the figures): a
// server of two GPUs whose NVLink (and host links) move 0.1 GB/s, so that "tiny"'s 29,274,112 B take
// 292,741,120 ns GPU to GPU. Instance S is on GPU 0 from the start (pinned); the fixed
// autoscaler's first tick, at t = 0, starts N on GPU 1, whose load reads S (no start-up phases:
// its transfers begin at 0). Two requests (100 tokens in, 1 out) arrive at 1 ms: the first goes
// to S (least outstanding, S placed first), the second to N if N serves.
//   A prefill of 100 tokens alone takes 1,029,684 ns.
//   At 1 ms N holds f = 1 ms x 0.1 GB/s / 29,274,112 B = 100,000 / 29,274,112 of its weights.

#include <gtest/gtest.h>

#include <fstream>
#include <string>

#include "sim/config/experiment_config.h"
#include "sim/config/experiment_runner.h"
#include "tests/integration/test_support.h"

namespace slsim {
namespace {

using namespace testing_support;

constexpr double kPrefillNs = 1'029'684;
constexpr double kLoadNs = 292'741'120;
constexpr double kLoadedAtArrival = 100'000.0 / 29'274'112;

// The smaller of the two requests' TTFT: summary.json gives the exact mean and max.
double min_ttft_s(const Json& s) { return 2 * s["ttft_s"]["mean"].get<double>() - s["ttft_s"]["max"].get<double>(); }

ResolvedExperiment source_and_loading(const std::filesystem::path& dir, bool live_scaling) {
  Json config = Json::parse(read_file(testdata("hand_computed.json")));
  config["catalog_dir"] = testdata("catalog").string();
  Json& server = config["cluster"]["server_groups"][0]["server"];
  server["gpus"] = 2;
  // Host link too: GPU peers talk over the widest of their two-hop paths.
  config["cluster"]["server_groups"][0]["gpu"]["interconnect_gbytes_per_s"] = 0.1;
  config["cluster"]["server_groups"][0]["gpu"]["host_link_gbytes_per_s"] = 0.1;
  config["cluster"]["instances_at_start"] = Json::parse(R"([{"model": "tiny", "pinned": true}])");
  config["policies"]["autoscale"] = Json::parse(R"({"name": "fixed", "params": {"instances": 2}})");
  config["policies"]["load_source"] = {{"name", "blitzscale"}, {"params", {{"live_scaling", live_scaling}}}};
  std::ofstream(dir / "trace.csv") << "arrival_s,input_tokens,output_tokens\n0.001,100,1\n0.001,100,1\n";
  config["workload"] = Json::parse(R"({"sources": [{"kind": "trace", "model": "tiny", "path": "trace.csv",
                                       "mapping": {"relative": false}}]})");
  std::ofstream(dir / "config.json") << config.dump(2);
  return load_experiment(dir / "config.json", {});
}

TEST(LiveScaling, ARequestRoutedToALoadingInstanceGetsItsFirstTokenAfterOnePrefill) {
  const auto dir = fresh_dir("live_on");
  const Json s = run_experiment(source_and_loading(dir, true), dir / "out");
  EXPECT_EQ(s["completed"], 2);
  // The second request's prefill runs on N at once, 290 ms before N's load is done.
  EXPECT_NEAR(min_ttft_s(s), kPrefillNs * 1e-9, 1e-12);
  EXPECT_EQ(s["loads_by_tier"]["gpu"], 1);
}

TEST(LiveScaling, TheSourcesStepRunsTheLayersNotYetLoadedAndSlowsByTheirShare) {
  // While N's prefill runs (1,029,684 ns from 1 ms), 1 - f of it runs on S: S's own prefill
  // advances at 1 / (2 - f) of its pace, then alone for what is left.
  const auto dir = fresh_dir("live_source");
  const Json s = run_experiment(source_and_loading(dir, true), dir / "out");
  const double done_while_shared_ns = kPrefillNs / (2 - kLoadedAtArrival);
  const double source_ttft_ns = kPrefillNs + (kPrefillNs - done_while_shared_ns);
  EXPECT_NEAR(s["ttft_s"]["max"].get<double>(), source_ttft_ns * 1e-9, 3e-9);
  EXPECT_GT(source_ttft_ns, 1.49 * kPrefillNs);  // the hand figure: nearly half a prefill more
}

TEST(LiveScaling, WithoutItBothRequestsGoToTheSourceAndTheNewInstanceServesOnceLoaded) {
  const auto dir = fresh_dir("live_off");
  const Json s = run_experiment(source_and_loading(dir, false), dir / "out");
  EXPECT_EQ(s["completed"], 2);
  // N is not routed to before its load ends at 292.7 ms: the second prefill waits behind the first on S.
  EXPECT_NEAR(min_ttft_s(s), kPrefillNs * 1e-9, 1e-12);
  EXPECT_NEAR(s["ttft_s"]["max"].get<double>(), 2 * kPrefillNs * 1e-9, 1e-12);
  EXPECT_NEAR(s["load_s"]["max"].get<double>(), kLoadNs * 1e-9, 1e-12);
}

TEST(LiveScaling, SameConfigAndSeedGiveByteIdenticalOutputs) {
  const auto dir = fresh_dir("live_determinism");
  run_experiment(source_and_loading(dir, true), dir / "a");
  run_experiment(source_and_loading(dir, true), dir / "b");
  for (const char* file : {"summary.json", "requests.csv"})
    EXPECT_EQ(read_file(dir / "a" / file), read_file(dir / "b" / file)) << file;
}

}  // namespace
}  // namespace slsim
