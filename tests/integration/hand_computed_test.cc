// One request, one idle server: every number below is computed by hand from the config in
// tests/testdata/hand_computed.json.
//
// Model "tiny": linear weights 1024*(1024+2*1024) + 1024*1024 + 2*1024*4096 + 1000*1024
// = 13,606,912; input embedding 1,024,000; layer norms 2*2*1024 + final 2*1024 = 6,144;
// total 14,637,056 parameters = 29,274,112 bytes in fp16. KV: 2 * 1 layer * 8 heads * 128 * 2 B
// = 4,096 bytes per token.
// Load from remote storage at min(1 GB/s store, 10 GB/s NIC, 100 GB/s host link) = 1 GB/s:
// 29,274,112 ns. Steps are memory-bound at 1,000 GB/s plus 1 ms overhead:
//   prefill of 100 tokens: (29,274,112 + 100*4,096) B -> 29,683.712 ns + 1 ms = 1,029,684 ns
//   decode, context 101:   (29,274,112 + 102*4,096) B -> 29,691.904 ns + 1 ms = 1,029,692 ns
//   decode, context 102:   (29,274,112 + 103*4,096) B -> 29,696.000 ns + 1 ms = 1,029,696 ns

#include <gtest/gtest.h>

#include <string>

#include "sim/config/experiment_config.h"
#include "sim/config/experiment_runner.h"
#include "test_support.h"

namespace slsim {
using namespace testing_support;

TEST(HandComputed, OneRequestOnAnIdleServerHasExactTtftAndE2e) {
  const auto out = fresh_dir("hand");
  const auto experiment = load_experiment(testdata("hand_computed.json"), {});
  const Json s = run_experiment(experiment, out);
  constexpr double load_s = 29'274'112e-9;
  constexpr double ttft_s = (29'274'112 + 1'029'684) * 1e-9;
  constexpr double e2e_s = (29'274'112 + 1'029'684 + 1'029'692 + 1'029'696) * 1e-9;
  EXPECT_EQ(s["requests"], 1);
  EXPECT_EQ(s["completed"], 1);
  EXPECT_EQ(s["cold_starts"], 1);
  EXPECT_NEAR(s["ttft_s"]["max"].get<double>(), ttft_s, 1e-12);
  EXPECT_NEAR(s["e2e_s"]["max"].get<double>(), e2e_s, 1e-12);
  EXPECT_NEAR(s["tpot_s"]["max"].get<double>(), (1'029'692 + 1'029'696) * 1e-9 / 2, 1e-12);
  EXPECT_NEAR(s["cold_start_s"]["max"].get<double>(), load_s, 1e-12);
  EXPECT_NEAR(s["gpu_seconds"]["loading"].get<double>(), load_s, 1e-12);
  EXPECT_NEAR(s["gpu_seconds"]["busy"].get<double>(), (1'029'684 + 1'029'692 + 1'029'696) * 1e-9, 1e-12);
  EXPECT_EQ(s["gpu_seconds"]["idle"].get<double>(), 0.0);  // keep-alive 0 releases at once
  EXPECT_EQ(s["loads_by_tier"]["remote"], 1);
}

TEST(HandComputed, SecondLoadComesFromTheDramCache) {
  // Two requests 100 s apart with keep-alive 0: the second cold start reads the checkpoint
  // kept in DRAM at the 100 GB/s host link: 29,274,112 B / 100 GB/s = 292,741.12 ns, which the
  // flow model rounds up to 292,742 ns so that no flow ends before its last byte.
  const auto out = fresh_dir("hand_dram");
  auto experiment = load_experiment(testdata("hand_computed.json"),
                                    {"workload.sources.0.requests=2", "workload.sources.0.rate_per_s=0.01"});
  const Json s = run_experiment(experiment, out);
  EXPECT_EQ(s["cold_starts"], 2);
  EXPECT_EQ(s["loads_by_tier"]["remote"], 1);
  EXPECT_EQ(s["loads_by_tier"]["dram"], 1);
  EXPECT_NEAR(s["cold_start_s"]["p50"].get<double>(), 292'742e-9, 1e-12);
  EXPECT_EQ(s["cold_starts_by_tier"]["dram"], 1);
  EXPECT_EQ(s["cold_starts_by_tier"]["remote"], 1);
  EXPECT_EQ(s["cache"]["dram"]["hits"], 1);
  EXPECT_EQ(s["cache"]["dram"]["misses"], 1);
  EXPECT_NEAR(s["cold_start_s"]["max"].get<double>(), 29'274'112e-9, 1e-12);
}

namespace {

// One request on the hand-computed server given an SSD (and SSD cache) of `ssd_bytes`, with one
// copy of each checkpoint staged on the SSDs at the start where it fits.
Json run_with_ssd_copies_at_start(const std::string& name, int64_t ssd_bytes) {
  const std::string bytes = std::to_string(ssd_bytes);
  const auto experiment =
      load_experiment(testdata("hand_computed.json"),
                      {"cluster.server_groups.0.server.ssd_bytes=" + bytes,
                       "cluster.server_groups.0.server.ssd_cache_bytes=" + bytes, "cluster.ssd_copies_at_start=1"});
  return run_experiment(experiment, fresh_dir(name));
}

}  // namespace

TEST(HandComputed, ACheckpointStagedOnTheSsdAtTheStartLoadsFromItAtTheSsdsBandwidth) {
  // cluster.ssd_copies_at_start=1 puts the checkpoint on the server's 1 GB SSD cache before the
  // first request, so the first cold start reads it at min(5 GB/s SSD, 100 GB/s host link):
  // 29,274,112 B / 5 GB/s = 5,854,822.4 ns, rounded up to 5,854,823 ns (no flow ends before its
  // last byte), against 29,274,112 ns from the 1 GB/s remote store without it.
  const Json s = run_with_ssd_copies_at_start("hand_ssd_start", 1'000'000'000);
  EXPECT_EQ(s["loads_by_tier"]["ssd"], 1);
  EXPECT_EQ(s["loads_by_tier"]["remote"], 0);
  EXPECT_NEAR(s["cold_start_s"]["max"].get<double>(), 5'854'823e-9, 1e-12);
  EXPECT_NEAR(s["ttft_s"]["max"].get<double>(), (5'854'823 + 1'029'684) * 1e-9, 1e-12);
}

TEST(HandComputed, ACheckpointLargerThanTheSsdCacheIsNotStagedAndLoadsFromRemote) {
  // A 10 MB SSD cache cannot hold the 29,274,112-byte checkpoint: staging skips it and the first
  // load downloads at 1 GB/s, 29,274,112 ns, as without staging.
  const Json s = run_with_ssd_copies_at_start("hand_ssd_small", 10'000'000);
  EXPECT_EQ(s["loads_by_tier"]["remote"], 1);
  EXPECT_NEAR(s["cold_start_s"]["max"].get<double>(), 29'274'112e-9, 1e-12);
}

TEST(HandComputed, KeepAliveKeepsTheInstanceWarmForTheNextRequest) {
  const auto out = fresh_dir("hand_warm");
  auto experiment = load_experiment(testdata("hand_computed.json"),
                                    {"workload.sources.0.requests=2", "workload.sources.0.rate_per_s=0.01",
                                     "policies.keepalive.params.ttl_s=100000"});
  const Json s = run_experiment(experiment, out);
  EXPECT_EQ(s["cold_starts"], 1);
  EXPECT_NEAR(s["ttft_s"]["p50"].get<double>(), 1'029'684e-9, 1e-12);  // warm: the prefill alone
  // GPU time adds up: loading + busy + idle = the one GPU's time from the first arrival (when
  // its load began) to the end of the run (when the keep-alive released it).
  const std::string csv = read_file(out / "requests.csv");
  const size_t row = csv.find('\n') + 1;
  const size_t arrival_at = csv.find(',', csv.find(',', row) + 1) + 1;
  const double first_arrival_s = std::stod(csv.substr(arrival_at));
  const double total = s["gpu_seconds"]["loading"].get<double>() + s["gpu_seconds"]["busy"].get<double>() +
                       s["gpu_seconds"]["idle"].get<double>();
  EXPECT_NEAR(total, s["simulated_s"].get<double>() - first_arrival_s, 1e-6);
}

}  // namespace slsim
