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

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

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

// The run starts warm (cluster.instances_at_start, cluster.checkpoints_at_start) on the
// hand-computed server: one GPU, keep-alive 0, the three steps of a request computed above.
namespace {

constexpr int64_t kPrefillNs = 1'029'684;
constexpr int64_t kStepsNs = 1'029'684 + 1'029'692 + 1'029'696;

// One request (100 tokens in, 3 out) at `arrival_s` on the simulated clock, as the only source.
std::string one_request_at(const std::filesystem::path& dir, int arrival_s) {
  const auto path = dir / "one.csv";
  std::ofstream(path) << "arrival_s,input_tokens,output_tokens\n" << arrival_s << ",100,3\n";
  return "workload.sources.0={\"kind\": \"trace\", \"model\": \"tiny\", \"path\": \"" + path.string() +
         "\", \"mapping\": {\"relative\": false}}";
}

Json run_hand(const std::string& name, const std::vector<std::string>& overrides) {
  return run_experiment(load_experiment(testdata("hand_computed.json"), overrides), fresh_dir(name));
}

}  // namespace

TEST(HandComputedAtStart, ARequestAtZeroOnAPinnedInstanceAtStartTakesItsPrefillAlone) {
  // Ready at t = 0: no start-up, no load, no cold start; TTFT is the prefill step, 1,029,684 ns.
  // The GPU is held from 0 and busy for the three steps; the run ends with the last one.
  const auto dir = fresh_dir("hand_at_start");
  const Json s =
      run_hand("hand_at_start_run",
               {one_request_at(dir, 0), "cluster.instances_at_start=[{\"model\": \"tiny\", \"pinned\": true}]"});
  EXPECT_EQ(s["completed"], 1);
  EXPECT_EQ(s["cold_starts"], 0);
  EXPECT_NEAR(s["ttft_s"]["max"].get<double>(), kPrefillNs * 1e-9, 1e-12);
  EXPECT_NEAR(s["e2e_s"]["max"].get<double>(), kStepsNs * 1e-9, 1e-12);
  for (const auto& [tier, loads] : s["loads_by_tier"].items()) EXPECT_EQ(loads, 0) << tier;
  EXPECT_EQ(s["gpu_seconds"]["loading"].get<double>(), 0.0);
  EXPECT_NEAR(s["gpu_seconds"]["busy"].get<double>(), kStepsNs * 1e-9, 1e-12);
  EXPECT_NEAR(s["gpu_seconds"]["free"].get<double>(), 0.0, 1e-12);
  EXPECT_NEAR(s["simulated_s"].get<double>(), kStepsNs * 1e-9, 1e-12);
}

TEST(HandComputedAtStart, TheRoutersDispatchLatencyAddsToAWarmRequestsTtftAndE2e) {
  // 0.4 ms before the router acts, then the pinned instance's three steps.
  const auto dir = fresh_dir("hand_dispatch");
  const Json s = run_hand("hand_dispatch_run", {one_request_at(dir, 0),
                                                "cluster.instances_at_start=[{\"model\": \"tiny\", \"pinned\": true}]",
                                                "router.dispatch_latency_s=0.0004"});
  EXPECT_EQ(s["cold_starts"], 0);
  EXPECT_NEAR(s["ttft_s"]["max"].get<double>(), (400'000 + kPrefillNs) * 1e-9, 1e-12);
  EXPECT_NEAR(s["e2e_s"]["max"].get<double>(), (400'000 + kStepsNs) * 1e-9, 1e-12);
  EXPECT_NEAR(s["gpu_seconds"]["busy"].get<double>(), kStepsNs * 1e-9, 1e-12);
}

TEST(HandComputed, TheRoutersDispatchLatencyDelaysAColdStartsDecision) {
  // The start is decided 0.4 ms after the arrival: TTFT = 0.4 ms + the 1 GB/s load + the prefill.
  const Json s = run_hand("hand_dispatch_cold", {"router.dispatch_latency_s=0.0004"});
  EXPECT_EQ(s["cold_starts"], 1);
  EXPECT_NEAR(s["ttft_s"]["max"].get<double>(), (400'000 + 29'274'112 + kPrefillNs) * 1e-9, 1e-12);
  // The request's wait for its instance counts from its arrival, as its TTFT does.
  EXPECT_NEAR(s["cold_start_s"]["max"].get<double>(), (400'000 + 29'274'112) * 1e-9, 1e-12);
}

TEST(HandComputedAtStart, AnInstanceAtStartIsIdleFromZeroAndItsKeepAliveCountsFromThere) {
  // Keep-alive 100 s, one request at 50 s: warm (TTFT = the prefill), then idle until 100 s
  // after its last step. GPU time: idle 50 + 100 s, busy the three steps, nothing loading.
  const auto dir = fresh_dir("hand_at_start_ttl");
  const Json s = run_hand("hand_at_start_ttl_run", {one_request_at(dir, 50), "policies.keepalive.params.ttl_s=100",
                                                    "cluster.instances_at_start=[{\"model\": \"tiny\"}]"});
  EXPECT_EQ(s["cold_starts"], 0);
  EXPECT_NEAR(s["ttft_s"]["max"].get<double>(), kPrefillNs * 1e-9, 1e-12);
  EXPECT_NEAR(s["gpu_seconds"]["idle"].get<double>(), 150.0, 1e-9);
  EXPECT_NEAR(s["gpu_seconds"]["busy"].get<double>(), kStepsNs * 1e-9, 1e-12);
  EXPECT_EQ(s["gpu_seconds"]["loading"].get<double>(), 0.0);
  EXPECT_NEAR(s["simulated_s"].get<double>(), 150 + kStepsNs * 1e-9, 1e-9);
}

TEST(HandComputedAtStart, AnUnpinnedInstanceAtStartGoesAtOnceWithKeepAliveZero) {
  // Keep-alive 0 releases an idle instance at once, one at the start too: the request at 0
  // finds none and cold-starts. The released instance left its checkpoint in DRAM, as any does
  // (keep_checkpoint_in_dram), so the load reads it at the host link's 100 GB/s: 292,742 ns.
  // Without keep_checkpoint_in_dram it comes from remote storage: 29,274,112 ns at 1 GB/s.
  const auto dir = fresh_dir("hand_at_start_ka0");
  const std::string at_start = "cluster.instances_at_start=[{\"model\": \"tiny\"}]";
  const Json s = run_hand("hand_at_start_ka0_run", {one_request_at(dir, 0), at_start});
  EXPECT_EQ(s["cold_starts"], 1);
  EXPECT_EQ(s["loads_by_tier"]["dram"], 1);
  EXPECT_NEAR(s["ttft_s"]["max"].get<double>(), (292'742 + kPrefillNs) * 1e-9, 1e-12);
  EXPECT_EQ(s["gpu_seconds"]["idle"].get<double>(), 0.0);
  const Json dropped = run_hand("hand_at_start_ka0_drop", {one_request_at(dir, 0), at_start,
                                                           "policies.keepalive.params.keep_checkpoint_in_dram=false"});
  EXPECT_EQ(dropped["loads_by_tier"]["remote"], 1);
  EXPECT_NEAR(dropped["ttft_s"]["max"].get<double>(), (29'274'112 + kPrefillNs) * 1e-9, 1e-12);
}

TEST(HandComputedAtStart, TheFixedAutoscalerKeepsAnUnpinnedInstanceAtStart) {
  // `fixed` with one instance: its target keeps the instance at start despite keep-alive 0, and
  // starts none of its own, so ten requests 120 s apart are all warm and nothing is loaded.
  const auto dir = fresh_dir("hand_at_start_fixed");
  const Json s = run_hand("hand_at_start_fixed_run",
                          {"workload.sources.0={\"kind\": \"trace\", \"model\": \"tiny\", \"path\": \"" +
                               periodic_trace(dir, 10, 120) + "\"}",
                           "policies.autoscale={\"name\": \"fixed\", \"params\": {\"instances\": 1}}",
                           "cluster.instances_at_start=[{\"model\": \"tiny\"}]"});
  EXPECT_EQ(s["completed"], 10);
  EXPECT_EQ(s["cold_starts"], 0);
  EXPECT_EQ(s["gpu_seconds"]["loading"].get<double>(), 0.0);
  EXPECT_NEAR(s["ttft_s"]["max"].get<double>(), kPrefillNs * 1e-9, 1e-12);
}

TEST(HandComputedAtStart, APinnedInstanceAtStartEndsTheRunUnderATargetBasedAutoscaler) {
  // kpa's target falls to 0 once the request is done; the pinned instance stays, and the
  // autoscaler's ticks stop (its floor is 0, pinned instances not counted) instead of running to
  // the end of time.
  const auto dir = fresh_dir("hand_at_start_kpa");
  const Json s =
      run_hand("hand_at_start_kpa_run", {one_request_at(dir, 0), "policies.autoscale.name=kpa",
                                         "cluster.instances_at_start=[{\"model\": \"tiny\", \"pinned\": true}]"});
  EXPECT_EQ(s["completed"], 1);
  EXPECT_EQ(s["cold_starts"], 0);
  EXPECT_LT(s["simulated_s"].get<double>(), 10.0);
  EXPECT_EQ(s["gpu_seconds"]["loading"].get<double>(), 0.0);
}

TEST(HandComputedAtStart, ACheckpointInDramAtStartLoadsAtTheHostLinksBandwidth) {
  // The first cold start reads the checkpoint from DRAM at the 100 GB/s host link:
  // 29,274,112 B / 100 GB/s = 292,741.12 ns, rounded up to 292,742 ns.
  const auto dir = fresh_dir("hand_dram_at_start");
  const Json s =
      run_hand("hand_dram_at_start_run",
               {one_request_at(dir, 0), "cluster.checkpoints_at_start=[{\"model\": \"tiny\", \"tier\": \"dram\"}]"});
  EXPECT_EQ(s["cold_starts"], 1);
  EXPECT_EQ(s["loads_by_tier"]["dram"], 1);
  EXPECT_EQ(s["loads_by_tier"]["remote"], 0);
  EXPECT_EQ(s["cache"]["dram"]["hits"], 1);
  EXPECT_EQ(s["preloaded_requests"], 0);  // in place at the start, not by a preloader
  EXPECT_NEAR(s["cold_start_s"]["max"].get<double>(), 292'742e-9, 1e-12);
  EXPECT_NEAR(s["ttft_s"]["max"].get<double>(), (292'742 + kPrefillNs) * 1e-9, 1e-12);
}

TEST(HandComputedAtStart, ACheckpointOnTheSsdAtStartLoadsAtTheSsdsBandwidth) {
  // As ssd_copies_at_start: 29,274,112 B / 5 GB/s, rounded up to 5,854,823 ns.
  const auto dir = fresh_dir("hand_ssd_at_start");
  const Json s =
      run_hand("hand_ssd_at_start_run",
               {one_request_at(dir, 0), "cluster.server_groups.0.server.ssd_bytes=1000000000",
                "cluster.server_groups.0.server.ssd_cache_bytes=1000000000",
                "cluster.checkpoints_at_start=[{\"model\": \"tiny\", \"tier\": \"ssd\", \"servers\": [0]}]"});
  EXPECT_EQ(s["loads_by_tier"]["ssd"], 1);
  EXPECT_NEAR(s["cold_start_s"]["max"].get<double>(), 5'854'823e-9, 1e-12);
}

namespace {

// The hand-computed server (one GPU) serving "tiny" and a copy "other", keep-alive 100 s, an
// instance of tiny at start and one request for other at 1 s.
Json run_other_beside_tiny_at_start(const std::string& name, bool pinned) {
  const auto dir = fresh_dir(name);
  std::ofstream(dir / "trace.csv") << "arrival_s,input_tokens,output_tokens,model\n1,100,3,other\n";
  Json doc = load_json_file(testdata("hand_computed.json"));
  Json other = doc["models"][0];
  other["name"] = "other";
  doc["models"].push_back(other);
  doc["workload"]["sources"] = Json::array({{{"kind", "trace"},
                                             {"path", (dir / "trace.csv").string()},
                                             {"mapping", {{"model_field", "model"}, {"relative", false}}},
                                             {"assign", "name"}}});
  doc["policies"]["keepalive"]["params"]["ttl_s"] = 100;
  doc["cluster"]["instances_at_start"] = Json::array({{{"model", "tiny"}, {"pinned", pinned}}});
  return run_experiment(resolve_experiment(doc, testdata("")), dir / "out");
}

}  // namespace

TEST(HandComputedAtStart, AnIdleInstanceAtStartYieldsItsGpuUnlessPinned) {
  // Unpinned, tiny's idle instance yields the only GPU to the waiting request of other
  // (migration `none` lets idle instances yield); pinned, it keeps it and the request waits to
  // the end of the run.
  const Json yields = run_other_beside_tiny_at_start("hand_at_start_yield", false);
  EXPECT_EQ(yields["completed"], 1);
  EXPECT_EQ(yields["cold_starts"], 1);
  const Json pinned = run_other_beside_tiny_at_start("hand_at_start_pinned", true);
  EXPECT_EQ(pinned["completed"], 0);
  EXPECT_EQ(pinned["unfinished"], 1);
  EXPECT_EQ(pinned["models"]["tiny"]["gpu_seconds"]["idle"].get<double>(), pinned["simulated_s"].get<double>());
}

}  // namespace slsim
