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

// The config, its trace written to `dir`.
Json source_and_loading_config(const std::filesystem::path& dir, bool live_scaling) {
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
  return config;
}

ResolvedExperiment write_and_load(const std::filesystem::path& dir, const Json& config) {
  std::ofstream(dir / "config.json") << config.dump(2);
  return load_experiment(dir / "config.json", {});
}

ResolvedExperiment source_and_loading(const std::filesystem::path& dir, bool live_scaling) {
  return write_and_load(dir, source_and_loading_config(dir, live_scaling));
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

// The source goes mid-load: a third GPU and a second model, "tiny-b" (its own checkpoint of the
// same size), whose fixed two instances get one GPU at t = 0 and wait for another; a tiny-b
// request at 1 ms waits at the router for the first (loading from the store over its 0.1 GB/s
// host link until 292,741,120 ns). The second tiny request now decodes 3 tokens. When S's slowed
// prefill ends, S is idle and yields its GPU to tiny-b's waiting start: released, so N goes back
// to loading. N's first decode, begun before (at 2,029,684 ns), finishes; its second waits for
// N's load: 292,741,120 + 1,029,696 (the decode at context 102) = 293,770,816 ns, 1 ms after the
// arrival less.
TEST(LiveScaling, WhenTheSourceGoesMidLoadTheNewInstancesRequestsWaitForTheLoad) {
  const auto dir = fresh_dir("live_source_gone");
  Json config = source_and_loading_config(dir, true);
  config["cluster"]["server_groups"][0]["server"]["gpus"] = 3;
  config["cluster"]["instances_at_start"][0]["pinned"] = false;  // kept by the fixed autoscaler until it yields
  Json second = config["models"][0];
  second["name"] = "tiny-b";
  config["models"].push_back(second);
  std::ofstream(dir / "trace.csv") << "arrival_s,input_tokens,output_tokens,model\n"
                                   << "0.001,100,1,tiny\n0.001,100,3,tiny\n0.001,100,1,tiny-b\n";
  config["workload"] = Json::parse(R"({"sources": [{"kind": "trace", "path": "trace.csv",
                                       "mapping": {"relative": false, "model_field": "model"}, "assign": "name"}]})");
  const Json s = run_experiment(write_and_load(dir, config), dir / "out");
  EXPECT_EQ(s["completed"], 3);
  EXPECT_NEAR(s["models"]["tiny"]["e2e_s"]["max"].get<double>(), (293'770'816 - 1'000'000) * 1e-9, 1e-12);
  // S's prefill: slowed by N's prefill (share 1 - f) to 2,029,684 ns, then by N's first decode
  // (share 1 - f', f' = 202,968.4 / 29,274,112 loaded by then), which outlasts it.
  const double loaded_at_decode = 202'968.4 / 29'274'112;
  const double left_ns = kPrefillNs - kPrefillNs / (2 - kLoadedAtArrival);
  EXPECT_NEAR(s["models"]["tiny"]["ttft_s"]["max"].get<double>(),
              (kPrefillNs + left_ns * (2 - loaded_at_decode)) * 1e-9, 3e-9);
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
