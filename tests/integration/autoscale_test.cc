// Target-based autoscalers, cost and the time series, end to end on the hand-computed server
// (tests/testdata/hand_computed.json: one GPU, keep-alive 0) and on the demo cluster.

#include <gtest/gtest.h>

#include <fstream>

#include "sim/config/experiment_config.h"
#include "sim/config/experiment_runner.h"
#include "test_support.h"

namespace slsim {
using namespace testing_support;

namespace {

std::vector<std::string> periodic(const std::string& trace) {
  return {"workload.sources.0={\"kind\": \"trace\", \"model\": \"tiny\", \"path\": \"" + trace + "\"}"};
}

double gpu_seconds_sum(const Json& s) {
  double sum = 0;
  for (const auto& [state, seconds] : s["gpu_seconds"].items()) sum += seconds.get<double>();
  return sum;
}
}  // namespace

TEST(Autoscale, OnDemandWithKeepAliveZeroColdStartsEveryPeriodicRequest) {
  const auto dir = fresh_dir("as_on_demand");
  const auto experiment = load_experiment(testdata("hand_computed.json"), periodic(periodic_trace(dir, 10, 120)));
  const Json s = run_experiment(experiment, dir / "out");
  EXPECT_EQ(s["cold_starts"], 10);
}

TEST(Autoscale, FixedNeverReleasesItsInstance) {
  // Keep-alive 0 would release an idle instance at once; `fixed` keeps it. Only the first
  // request (at t = 0, before the first tick) waits for the one load.
  const auto dir = fresh_dir("as_fixed");
  auto overrides = periodic(periodic_trace(dir, 10, 120));
  overrides.push_back("policies.autoscale={\"name\": \"fixed\", \"params\": {\"instances\": 1}}");
  const Json s = run_experiment(load_experiment(testdata("hand_computed.json"), overrides), dir / "out");
  EXPECT_EQ(s["completed"], 10);
  EXPECT_EQ(s["cold_starts"], 1);
  EXPECT_EQ(s["loads_by_tier"]["remote"].get<int64_t>() + s["loads_by_tier"]["dram"].get<int64_t>(), 1);
  // Held from its placement at 0 to the end of the run: nothing is free after the load.
  const double simulated = s["simulated_s"].get<double>();
  EXPECT_GT(simulated, 1080);
  EXPECT_NEAR(s["gpu_seconds"]["free"].get<double>(), 0, 1e-9);
  EXPECT_NEAR(gpu_seconds_sum(s), simulated, 1e-6);
}

TEST(Autoscale, PredictiveStartsAnInstanceBeforeAPeriodicArrival) {
  // Requests every 120 s; a 120 s seasonal period. After the first request the forecast knows
  // the phase, so each later instance is started ahead and the request finds it ready.
  const auto dir = fresh_dir("as_predictive");
  auto overrides = periodic(periodic_trace(dir, 10, 120));
  overrides.push_back("policies.autoscale={\"name\": \"predictive\", \"params\": {\"period_s\": 120, \"bin_s\": 10}}");
  const Json s = run_experiment(load_experiment(testdata("hand_computed.json"), overrides), dir / "out");
  EXPECT_EQ(s["completed"], 10);
  EXPECT_EQ(s["cold_starts"], 1);
  // Each warm instance was started, served and let go: ten loads, one per request.
  EXPECT_EQ(s["load_s"]["max"].is_number(), true);
  int64_t loads = 0;
  for (const auto& [tier, n] : s["loads_by_tier"].items()) loads += n.get<int64_t>();
  EXPECT_EQ(loads, 10);
}

TEST(Autoscale, KpaPanicScalesOutOnABurst) {
  // The demo cluster (2 x 8 H100), 50 requests/s of 512 + 512 tokens to llama-3.1-8b, and a
  // target of 10 x 70% = 7 concurrent requests per instance.
  const auto dir = fresh_dir("as_kpa");
  const auto experiment = load_experiment(
      std::filesystem::path(SLSIM_SOURCE_DIR) / "results/demo/experiment.json",
      {"workload.sources=[{\"kind\": \"poisson\", \"model\": \"llama-3.1-8b\", \"rate_per_s\": 50, \"duration_s\": 60, "
       "\"input_tokens\": 512, \"output_tokens\": 512}]",
       "policies.autoscale={\"name\": \"kpa\", \"params\": {\"target_concurrency\": 10}}",
       "output.timeseries_interval_s=1"});
  const Json s = run_experiment(experiment, dir / "out");
  // More than one instance was started for the one model: KPA scaled out on concurrency.
  int64_t loads = 0;
  for (const auto& [tier, n] : s["loads_by_tier"].items()) loads += n.get<int64_t>();
  EXPECT_GT(loads, 1);
  const std::string series = read_file(dir / "out" / "timeseries.csv");
  EXPECT_EQ(series.rfind("time_s,gpus_busy,gpus_idle,gpus_loading,gpus_migrating,gpus_free,", 0), 0u);
}

TEST(Autoscale, GpuSecondsByStateSumToClusterGpusTimesSimulatedTime) {
  const auto dir = fresh_dir("as_sum");
  for (const char* autoscaler : {"on-demand", "kpa", "predictive"}) {
    const auto experiment = load_experiment(std::filesystem::path(SLSIM_SOURCE_DIR) / "results/demo/experiment.json",
                                            {std::string("policies.autoscale.name=") + autoscaler, "duration_s=900"});
    const Json s = run_experiment(experiment, dir / autoscaler);
    const double simulated = s["simulated_s"].get<double>();
    EXPECT_NEAR(gpu_seconds_sum(s), 16 * simulated, 1e-6 * 16 * simulated) << autoscaler;
    EXPECT_NEAR(s["cost"]["reserved_gpu_seconds"].get<double>(), 16 * simulated, 1e-9) << autoscaler;
    EXPECT_GT(s["gpu_seconds"]["busy"].get<double>(), 0) << autoscaler;
  }
}

TEST(Autoscale, SloAttainmentCountsRequestsWithinBothTargets) {
  // Ten warm-or-cold requests of 3 output tokens on the hand-computed server; their TTFT is
  // milliseconds or a cold start of about 0.03 s. A 1 h TTFT target takes all of them, a 1 ns
  // one none; goodput is within-SLO requests per simulated second.
  const auto dir = fresh_dir("as_slo");
  auto overrides = periodic(periodic_trace(dir, 10, 120));
  overrides.push_back("metrics.slo_ttft_s=3600");
  overrides.push_back("metrics.slo_tpot_s=3600");
  const Json all = run_experiment(load_experiment(testdata("hand_computed.json"), overrides), dir / "all");
  EXPECT_EQ(all["slo"]["within"], 10);
  EXPECT_DOUBLE_EQ(all["slo"]["attainment"].get<double>(), 1.0);
  EXPECT_DOUBLE_EQ(all["slo"]["goodput_per_s"].get<double>(), 10 / all["simulated_s"].get<double>());
  overrides.push_back("metrics.slo_ttft_s=1e-9");
  const Json none = run_experiment(load_experiment(testdata("hand_computed.json"), overrides), dir / "none");
  EXPECT_EQ(none["slo"]["within"], 0);
  EXPECT_EQ(none["models"]["tiny"]["slo"]["attainment"], 0.0);
}

TEST(Autoscale, ReservedBillingChargesEveryGpuForTheWholeRun) {
  // One GPU at $3.60/h for the whole run vs only while an instance holds it.
  const auto dir = fresh_dir("as_billing");
  auto overrides = periodic(periodic_trace(dir, 3, 120));
  overrides.push_back("cluster.server_groups.0.gpu.price_per_hour=3.6");
  overrides.push_back("metrics.billing=reserved");
  const Json s = run_experiment(load_experiment(testdata("hand_computed.json"), overrides), dir / "out");
  const double simulated = s["simulated_s"].get<double>();
  EXPECT_DOUBLE_EQ(s["cost"]["reserved_usd"].get<double>(), simulated * 3.6 / 3600);
  EXPECT_DOUBLE_EQ(s["cost"]["usd"].get<double>(), s["cost"]["reserved_usd"].get<double>());
  const double held = s["gpu_seconds"]["busy"].get<double>() + s["gpu_seconds"]["idle"].get<double>() +
                      s["gpu_seconds"]["loading"].get<double>();
  EXPECT_NEAR(s["cost"]["serverless_usd"].get<double>(), held * 3.6 / 3600, 1e-12);
  EXPECT_LT(s["cost"]["serverless_usd"].get<double>(), s["cost"]["reserved_usd"].get<double>());
}

TEST(Autoscale, TimelineIsTraceEventJsonWithCappedBatches) {
  const auto dir = fresh_dir("as_timeline");
  const std::string trace = periodic_trace(dir, 5, 120);
  const auto r =
      run_slsim("run " + testdata("hand_computed.json").string() + " -o " + (dir / "out").string() +
                " --set 'workload.sources.0={\"kind\": \"trace\", \"model\": \"tiny\", \"path\": \"" + trace +
                "\"}' --set output.timeline_max_batches=2 --timeline " + (dir / "timeline.json").string());
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const Json t = Json::parse(read_file(dir / "timeline.json"));
  int64_t loads = 0, batches = 0, names = 0;
  for (const Json& e : t["traceEvents"]) {
    if (e["ph"] == "M") ++names;
    if (e["name"] == "loading from remote" || e["name"] == "loading from dram") ++loads;
    if (e["name"] == "batch") ++batches;
  }
  EXPECT_EQ(loads, 5);  // keep-alive 0: one instance per request
  EXPECT_EQ(batches, 2);
  EXPECT_EQ(names, 1 + 5);  // the server, then each instance's track
  EXPECT_EQ(t["metadata"]["batches"], 2);
  EXPECT_GT(t["metadata"]["dropped_batches"].get<int64_t>(), 0);
}

// A request 10^7 s after the others: KPA's ticks (every 2 s) would run 5 × 10^6 times through
// the quiet stretch. Once the windows hold only zeros and the grace period is over, ticks skip to
// a stable window before the arrival; the summary still counts them among its events (as before
// skipping), and the arrival is a cold start as it was (the instance scaled to zero long ago).
TEST(Autoscale, KpaTicksSkipAQuietStretchToAFarArrival) {
  const auto dir = fresh_dir("as_far_arrival");
  std::ofstream(dir / "far.csv") << "arrival_s,input_tokens,output_tokens\n0,100,3\n1,100,3\n10000000,100,3\n";
  auto overrides = periodic((dir / "far.csv").string());
  overrides.push_back("policies.autoscale.name=kpa");
  uint64_t handled = 0;
  const Json s = run_experiment(load_experiment(testdata("hand_computed.json"), overrides), dir / "out", {},
                                [&handled](const RunProgress& p) { handled = p.events_handled; });
  EXPECT_EQ(s["completed"], 3);
  EXPECT_EQ(s["cold_starts"], 2);
  EXPECT_GT(s["simulated_s"].get<double>(), 1e7);
  EXPECT_LT(handled, 1000u);
  EXPECT_GT(s["events"].get<uint64_t>(), 5'000'000u);  // the ticks of 10^7 s at 2 s
}

}  // namespace slsim
