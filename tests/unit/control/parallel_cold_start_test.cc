// HydraServe's parallel cold start (policies.load_source hydraserve) through the control plane,
// computed by hand from the server and model "tiny" of tests/testdata/hand_computed.json: four
// one-GPU servers whose storage NICs move 0.1 GB/s (the test catalog's loader formats reach
// links at full rate) from a 100 GB/s store, no start-up phases, a 1-byte pipeline chunk (whose
// fill over the path's two 0.1 GB/s links adds 10 ns and change: the tolerances). "tiny"'s
// checkpoint is 29,274,112 B; one request (100 tokens in, 1 out) arrives at 0.
//   Alone, server 0 fetches it in 29,274,112 B / 0.1 GB/s = 292,741,120 ns.
//   Over 4 servers each fetches 7,318,528 B: 73,185,280 ns.
//   A prefill of 100 tokens takes 1,029,684 ns on one server; as a 4-stage pipeline each token's
//   activations (1024 fp16 values, 2,048 B) cross 3 boundaries at the NICs' 0.1 GB/s: 20,480 ns
//   each, 6,144,000 ns for the step's 100 tokens.
//   Consolidation: 3 x 7,318,528 B into server 0 over its 0.1 GB/s NIC, 219,555,840 ns.

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

constexpr double kAloneNs = 292'741'120;
constexpr double kParallelNs = 73'185'280;
constexpr double kPrefillNs = 1'029'684;
constexpr double kHandOffsNs = 6'144'000;
constexpr double kConsolidationNs = 219'555'840;

Json config_for(const std::filesystem::path& dir, int servers, const Json& load_source) {
  Json config = Json::parse(read_file(testdata("hand_computed.json")));
  config["catalog_dir"] = testdata("catalog").string();
  config["cluster"]["server_groups"][0]["count"] = servers;
  config["cluster"]["server_groups"][0]["server"]["nic_gbytes_per_s"] = 0.1;
  config["cluster"]["remote_storage_gbytes_per_s"] = 100;
  config["policies"]["load_source"] = load_source;
  config["policies"]["keepalive"]["params"]["ttl_s"] = 1;
  std::ofstream(dir / "trace.csv") << "arrival_s,input_tokens,output_tokens\n0,100,1\n";
  config["workload"] = Json::parse(R"({"sources": [{"kind": "trace", "model": "tiny", "path": "trace.csv",
                                       "mapping": {"relative": false}}]})");
  return config;
}

Json hydraserve(int servers, bool consolidate = true) {
  return {{"name", "hydraserve"}, {"params", {{"parallel_servers", servers}, {"consolidate", consolidate}}}};
}

Json run(const std::filesystem::path& dir, const Json& config, const std::string& out = "out") {
  std::ofstream(dir / "config.json") << config.dump(2);
  return run_experiment(load_experiment(dir / "config.json", {}), dir / out);
}

double held_gpu_s(const Json& s) {
  const Json& g = s["gpu_seconds"];
  return g["loading"].get<double>() + g["busy"].get<double>() + g["idle"].get<double>() + g["migrating"].get<double>();
}

TEST(ParallelColdStart, TieredFetchesTheWholeCheckpointOverOneNic) {
  const auto dir = fresh_dir("hydra_tiered");
  const Json s = run(dir, config_for(dir, 4, Json{{"name", "tiered"}}));
  EXPECT_NEAR(s["ttft_s"]["max"].get<double>(), (kAloneNs + kPrefillNs) * 1e-9, 2e-8);
  EXPECT_FALSE(s.contains("parallel_loads"));
}

TEST(ParallelColdStart, FourServersFetchAQuarterEachAndTheFirstStepPaysThreeHandOffs) {
  const auto dir = fresh_dir("hydra_four");
  const Json s = run(dir, config_for(dir, 4, hydraserve(4)));
  EXPECT_NEAR(s["ttft_s"]["max"].get<double>(), (kParallelNs + kPrefillNs + kHandOffsNs) * 1e-9, 2e-8);
  EXPECT_EQ(s["parallel_loads"]["started"], 1);
  EXPECT_EQ(s["parallel_loads"]["fallbacks"], 0);
}

TEST(ParallelColdStart, ConsolidationReleasesTheOtherStagesGpusWhenItsTransfersEnd) {
  // GPU-seconds held: 4 GPUs until consolidation at t_c, then 1 until the keep-alive (1 s after
  // the request is done at its TTFT) lets it go: 3 t_c + TTFT + 1.
  const auto dir = fresh_dir("hydra_consolidate");
  const Json s = run(dir, config_for(dir, 4, hydraserve(4)));
  const double ttft_s = s["ttft_s"]["max"].get<double>();
  const double consolidated_s = (kParallelNs + kConsolidationNs) * 1e-9;
  EXPECT_NEAR(held_gpu_s(s), 3 * consolidated_s + ttft_s + 1, 1e-7);
  EXPECT_NEAR(s["gpu_seconds"]["loading"].get<double>(), 4 * kParallelNs * 1e-9, 1e-7);
}

TEST(ParallelColdStart, WithoutConsolidationTheStagesAreHeldUntilRelease) {
  const auto dir = fresh_dir("hydra_no_consolidate");
  const Json s = run(dir, config_for(dir, 4, hydraserve(4, false)));
  EXPECT_NEAR(held_gpu_s(s), 4 * (s["ttft_s"]["max"].get<double>() + 1), 1e-7);
}

TEST(ParallelColdStart, TooFewServersWithFreeGpusFallBackToOneServerAndAreCounted) {
  const auto dir = fresh_dir("hydra_fallback");
  const Json s = run(dir, config_for(dir, 2, hydraserve(4)));
  EXPECT_NEAR(s["ttft_s"]["max"].get<double>(), (kAloneNs + kPrefillNs) * 1e-9, 2e-8);
  EXPECT_EQ(s["parallel_loads"]["started"], 0);
  EXPECT_EQ(s["parallel_loads"]["fallbacks"], 1);
}

TEST(ParallelColdStart, TheStagesGpusAreNotPlacedOnUntilConsolidationFreesThem) {
  // A second model's request at 0 finds every GPU held by tiny's stages; its start waits for the
  // consolidation, then finds 3 free servers, too few for 4 stages, and loads alone.
  const auto dir = fresh_dir("hydra_held");
  Json config = config_for(dir, 4, hydraserve(4));
  Json second = config["models"][0];
  second["name"] = "tiny-b";
  config["models"].push_back(second);
  std::ofstream(dir / "trace.csv") << "arrival_s,input_tokens,output_tokens,model\n0,100,1,tiny\n0,100,1,tiny-b\n";
  config["workload"] = Json::parse(R"({"sources": [{"kind": "trace", "path": "trace.csv",
                                       "mapping": {"relative": false, "model_field": "model"}, "assign": "name"}]})");
  const Json s = run(dir, config);
  EXPECT_NEAR(s["models"]["tiny-b"]["ttft_s"]["max"].get<double>(),
              (kParallelNs + kConsolidationNs + kAloneNs + kPrefillNs) * 1e-9, 3e-8);
  EXPECT_EQ(s["parallel_loads"]["fallbacks"], 1);
}

TEST(ParallelColdStart, ParallelServersBelowOneAreRefusedWithTheirJsonPath) {
  const auto dir = fresh_dir("hydra_bad");
  try {
    run(dir, config_for(dir, 4, hydraserve(0)));
    FAIL() << "parallel_servers 0 was accepted";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("policies.load_source.params.parallel_servers"), std::string::npos)
        << e.what();
  }
}

TEST(ParallelColdStart, SameConfigAndSeedGiveByteIdenticalOutputs) {
  const auto dir = fresh_dir("hydra_determinism");
  const Json config = config_for(dir, 4, hydraserve(2));
  run(dir, config, "a");
  run(dir, config, "b");
  for (const char* file : {"summary.json", "requests.csv"})
    EXPECT_EQ(read_file(dir / "a" / file), read_file(dir / "b" / file)) << file;
}

}  // namespace
}  // namespace slsim
