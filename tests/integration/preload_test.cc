// Pre-warming and preloading on the hand-computed server (tests/testdata/hand_computed.json).

#include <gtest/gtest.h>

#include "sim/config/experiment_config.h"
#include "sim/config/experiment_runner.h"
#include "test_support.h"

namespace slsim {
using namespace testing_support;

TEST(Preload, HistogramKeepAlivePrewarmsAheadOfPeriodicRequests) {
  // Requests every 630 s. The first ten idle periods feed the histogram while the fallback
  // keep-alive (4 h) keeps the instance; then each idle instance is released and a new one is
  // pre-warmed 540 s later, ready before the request at 630 s, which it serves warm.
  const auto dir = fresh_dir("prewarm");
  const std::string trace = periodic_trace(dir, 20, 630);
  const auto experiment = load_experiment(
      testdata("hand_computed.json"), {"workload.sources.0.kind=\"trace\"", "workload.sources.0.path=\"" + trace + "\"",
                                       "policies.keepalive.name=histogram", "policies.keepalive.params={}"});
  const Json s = run_experiment(experiment, dir / "out");
  EXPECT_EQ(s["completed"], 20);
  EXPECT_EQ(s["cold_starts"], 1);  // only the very first request
  // Requests 12..20 find a pre-warmed instance (after request k there are k-1 idle samples,
  // and 10 are needed).
  EXPECT_EQ(s["preloaded_requests"], 9);
  // Idle GPU time: ten whole gaps under the fallback, nine pre-warmed waits of 630 - 540 s, and
  // the last pre-warmed instance's 186 s; less the microseconds of loads and steps.
  EXPECT_NEAR(s["gpu_seconds"]["idle"].get<double>(), 10 * 630 + 9 * 90 + 186, 0.5);
}

TEST(Preload, FixedKeepAliveWithoutPrewarmColdStartsEveryPeriodicRequest) {
  const auto dir = fresh_dir("no_prewarm");
  const std::string trace = periodic_trace(dir, 20, 630);
  const auto experiment =
      load_experiment(testdata("hand_computed.json"),
                      {"workload.sources.0.kind=\"trace\"", "workload.sources.0.path=\"" + trace + "\""});
  const Json s = run_experiment(experiment, dir / "out");
  EXPECT_EQ(s["cold_starts"], 20);  // keep-alive 0
  EXPECT_EQ(s["preloaded_requests"], 0);
  EXPECT_EQ(s["cold_starts_by_tier"]["dram"], 19);  // all but the first read the DRAM cache
}

TEST(Preload, PopularityPreloadPutsTheCheckpointInDramBeforeTheFirstRequest) {
  const auto dir = fresh_dir("popularity");
  const std::string trace = periodic_trace(dir, 3, 630);
  const auto experiment =
      load_experiment(testdata("hand_computed.json"),
                      {"workload.sources.0.kind=\"trace\"", "workload.sources.0.path=\"" + trace + "\"",
                       "policies.preload={\"name\": \"popularity\", \"params\": {\"interval_s\": 60}}",
                       "policies.dram_cache.name=none", "policies.keepalive.params.keep_checkpoint_in_dram=false"});
  const Json s = run_experiment(experiment, dir / "out");
  // DRAM keeps nothing (policy none), so every load reads remote storage and preloads fail
  // to stick: the popularity preloader tries but the cache refuses.
  EXPECT_EQ(s["cold_starts_by_tier"]["remote"], 3);
  const auto with_cache = load_experiment(
      testdata("hand_computed.json"), {"workload.sources.0.kind=\"trace\"", "workload.sources.0.path=\"" + trace + "\"",
                                       "policies.preload={\"name\": \"popularity\", \"params\": {\"interval_s\": 60}}",
                                       "policies.keepalive.params.keep_checkpoint_in_dram=false"});
  const Json p = run_experiment(with_cache, dir / "out2");
  EXPECT_GE(p["preloads"].get<int64_t>(), 1);
  EXPECT_EQ(p["cold_starts_by_tier"]["remote"], 1);
  EXPECT_EQ(p["cold_starts_by_tier"]["dram"], 2);
}

}  // namespace slsim
