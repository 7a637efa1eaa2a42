// Execute-while-load (policies.load_source lambdascale, λScale's λPipe) through the control
// plane, computed by hand from the server and model "tiny" of tests/testdata/hand_computed.json:
// two one-GPU servers whose storage NICs and per-GPU RDMA NICs move 0.1 GB/s (the test catalog's
// loader formats reach links at full rate) from a 100 GB/s store, no start-up phases, a 1-byte
// pipeline chunk (whose fill over the store path's two 0.1 GB/s links adds 10 ns and change: the
// tolerances). The fixed autoscaler's first tick, at 0, starts two instances: H on server 0 reads
// the store; N on server 1 reads H's GPU as it receives (0.1 GB/s, no slower than its own store
// path), a multicast chain of one group of 2. "tiny"'s checkpoint is 29,274,112 B.
//   Whole, each receives it in 29,274,112 B / 0.1 GB/s = 292,741,120 ns.
//   Its own half, 14,637,056 B: 146,370,560 ns; then H serves as a 2-stage pipeline over both.
//   A prefill of 100 tokens takes 1,029,684 ns on one server; over the pipeline each token's
//   activations (1024 fp16 values, 2,048 B) cross 1 boundary at the GPU NICs' 0.1 GB/s: 20,480 ns
//   each, 2,048,000 ns for the step's 100 tokens.
// Requests (100 tokens in, 1 out) at 0 and 0.2 s go to the pipeline; two at 0.3 s, after both
// loads, go one to each instance.

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "sim/config/experiment_config.h"
#include "sim/config/experiment_runner.h"
#include "sim/core/errors.h"
#include "tests/integration/test_support.h"

namespace slsim {
namespace {

using namespace testing_support;

constexpr double kHalfNs = 146'370'560;
constexpr double kWholeNs = 292'741'120;
constexpr double kPrefillNs = 1'029'684;
constexpr double kHandOffNs = 2'048'000;

Json config_for(const std::filesystem::path& dir, const Json& load_source, int instances = 2) {
  Json config = Json::parse(read_file(testdata("hand_computed.json")));
  config["catalog_dir"] = testdata("catalog").string();
  Json& group = config["cluster"]["server_groups"][0];
  group["count"] = 2;
  group["server"]["nic_gbytes_per_s"] = 0.1;
  group["server"]["gpu_nic_gbytes_per_s"] = 0.1;
  config["cluster"]["remote_storage_gbytes_per_s"] = 100;
  config["policies"]["autoscale"] = {{"name", "fixed"}, {"params", {{"instances", instances}}}};
  config["policies"]["load_source"] = load_source;
  std::ofstream(dir / "trace.csv")
      << "arrival_s,input_tokens,output_tokens\n0,100,1\n0.2,100,1\n0.3,100,1\n0.3,100,1\n";
  config["workload"] = Json::parse(R"({"sources": [{"kind": "trace", "model": "tiny", "path": "trace.csv",
                                       "mapping": {"relative": false}}]})");
  return config;
}

Json lambdascale(bool execute_while_load = true) {
  return {{"name", "lambdascale"}, {"params", {{"execute_while_load", execute_while_load}}}};
}

Json run(const std::filesystem::path& dir, const Json& config, const std::string& out = "out") {
  std::ofstream(dir / "config.json") << config.dump(2);
  return run_experiment(load_experiment(dir / "config.json", {}), dir / out);
}

// Each request's TTFT, s, in the order of requests.csv (by id: arrival order), to the microsecond
// that the file prints; summary.json's maximum is exact.
std::vector<double> ttfts(const std::filesystem::path& csv) {
  std::istringstream in(read_file(csv));
  std::string line;
  std::getline(in, line);
  EXPECT_EQ(line.rfind("id,model,arrival_s,input_tokens,output_tokens,ttft_s,", 0), 0u) << line;
  std::vector<double> out;
  while (std::getline(in, line)) {
    std::istringstream fields(line);
    std::string field;
    for (int i = 0; i <= 5; ++i) std::getline(fields, field, ',');
    out.push_back(std::stod(field));
  }
  return out;
}

// summary.json without the lines that name the load source.
std::string summary_without_policy_name(const std::filesystem::path& file) {
  std::istringstream in(read_file(file));
  std::string line;
  std::string out;
  while (std::getline(in, line))
    if (line.find("lambdascale") == std::string::npos && line.find("blitzscale") == std::string::npos)
      out += line + "\n";
  return out;
}

TEST(ExecuteWhileLoad, TheGroupServesWhenEachReceiverHoldsHalfAndTheFirstPrefillPaysOneHandOff) {
  const auto dir = fresh_dir("ewl_group");
  const Json s = run(dir, config_for(dir, lambdascale()));
  EXPECT_EQ(s["completed"], 4);
  const std::vector<double> t = ttfts(dir / "out" / "requests.csv");
  ASSERT_EQ(t.size(), 4u);
  EXPECT_NEAR(t[0], s["ttft_s"]["max"].get<double>(), 1e-6);
  EXPECT_NEAR(s["ttft_s"]["max"].get<double>(), (kHalfNs + kPrefillNs + kHandOffNs) * 1e-9, 2e-8);
  // At 0.2 s the pipeline alone serves (N is still loading): a prefill and its hand-offs.
  EXPECT_NEAR(t[1], (kPrefillNs + kHandOffNs) * 1e-9, 1e-6);
  EXPECT_EQ(s["group_loads"]["groups"], 1);
  EXPECT_EQ(s["group_loads"]["members"], 2);
  EXPECT_NEAR(s["load_s"]["max"].get<double>(), kWholeNs * 1e-9, 2e-8);
}

TEST(ExecuteWhileLoad, OnceEveryReceiverHoldsTheWholeCheckpointTheyServeAsTwoInstancesWithoutHandOffs) {
  const auto dir = fresh_dir("ewl_independent");
  const Json s = run(dir, config_for(dir, lambdascale()));
  const std::vector<double> t = ttfts(dir / "out" / "requests.csv");
  ASSERT_EQ(t.size(), 4u);
  // The two at 0.3 s go one to each instance: a prefill alone each, no hand-off, no queueing.
  EXPECT_NEAR(t[2], kPrefillNs * 1e-9, 1e-6);
  EXPECT_NEAR(t[3], kPrefillNs * 1e-9, 1e-6);
}

TEST(ExecuteWhileLoad, EveryReceiversGpuCountsFromPlacement) {
  // H's GPU loads until the group serves, N's until its load is done: both held from 0.
  const auto dir = fresh_dir("ewl_gpu_seconds");
  const Json s = run(dir, config_for(dir, lambdascale()));
  EXPECT_NEAR(s["gpu_seconds"]["loading"].get<double>(), (kHalfNs + kWholeNs) * 1e-9, 1e-7);
}

TEST(ExecuteWhileLoad, WithoutItTheFirstRequestWaitsForTheWholeLoad) {
  const auto dir = fresh_dir("ewl_off");
  const Json s = run(dir, config_for(dir, lambdascale(false)));
  const std::vector<double> t = ttfts(dir / "out" / "requests.csv");
  ASSERT_EQ(t.size(), 4u);
  EXPECT_NEAR(t[0], s["ttft_s"]["max"].get<double>(), 1e-6);
  EXPECT_NEAR(s["ttft_s"]["max"].get<double>(), (kWholeNs + kPrefillNs) * 1e-9, 2e-8);
  EXPECT_FALSE(s.contains("group_loads"));
  EXPECT_NEAR(s["gpu_seconds"]["loading"].get<double>(), 2 * kWholeNs * 1e-9, 1e-7);
}

TEST(ExecuteWhileLoad, AGroupOfOneAndTheMulticastAloneEqualBlitzScaleByteForByte) {
  const auto dir = fresh_dir("ewl_as_blitzscale");
  const Json blitzscale = {{"name", "blitzscale"}};
  run(dir, config_for(dir, blitzscale, 1), "blitz-1");
  run(dir, config_for(dir, lambdascale(), 1), "lambda-1");
  run(dir, config_for(dir, blitzscale, 2), "blitz-2");
  run(dir, config_for(dir, lambdascale(false), 2), "lambda-2");
  for (const char* n : {"1", "2"}) {
    const auto blitz = dir / (std::string("blitz-") + n);
    const auto lambda = dir / (std::string("lambda-") + n);
    EXPECT_EQ(read_file(blitz / "requests.csv"), read_file(lambda / "requests.csv")) << n;
    EXPECT_EQ(summary_without_policy_name(blitz / "summary.json"), summary_without_policy_name(lambda / "summary.json"))
        << n;
  }
}

TEST(ExecuteWhileLoad, AnExecuteWhileLoadThatIsNotABoolIsRefusedWithItsJsonPath) {
  const auto dir = fresh_dir("ewl_bad");
  Json bad = lambdascale();
  bad["params"]["execute_while_load"] = 2;
  try {
    run(dir, config_for(dir, bad));
    FAIL() << "execute_while_load 2 was accepted";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("policies.load_source.params.execute_while_load"), std::string::npos)
        << e.what();
  }
}

TEST(ExecuteWhileLoad, SameConfigAndSeedGiveByteIdenticalOutputs) {
  const auto dir = fresh_dir("ewl_determinism");
  const Json config = config_for(dir, lambdascale());
  run(dir, config, "a");
  run(dir, config, "b");
  for (const char* file : {"summary.json", "requests.csv"})
    EXPECT_EQ(read_file(dir / "a" / file), read_file(dir / "b" / file)) << file;
}

}  // namespace
}  // namespace slsim
