// Whole runs with the deepserve load source (DeepServe's NPU-fork): where no loaded instance is
// ever there to fork, the run is blitzscale's byte for byte but for the fork counts; where forks
// happen, the run is deterministic.

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "sim/config/experiment_config.h"
#include "sim/config/experiment_runner.h"
#include "test_support.h"

namespace slsim {
using namespace testing_support;

TEST(Fork, WithNoWarmInstanceToForkARunIsBlitzScalesButForTheForkCounts) {
  // The default on-demand autoscaler starts an instance only when its model has none, so no
  // loaded instance exists when a load starts: every load is a fallback.
  const auto blitz = fresh_dir("fork_blitz");
  const auto deep = fresh_dir("fork_deep");
  run_experiment(load_experiment(testdata("small_replay.json"), {"policies.load_source.name=blitzscale"}), blitz);
  run_experiment(load_experiment(testdata("small_replay.json"), {"policies.load_source.name=deepserve"}), deep);
  for (const char* file : {"requests.csv", "timeseries.csv"}) {
    SCOPED_TRACE(file);
    EXPECT_EQ(read_file(blitz / file), read_file(deep / file));
  }
  Json summary = Json::parse(read_file(deep / "summary.json"));
  EXPECT_EQ(summary["forks"]["forked"], 0);
  EXPECT_GT(summary["forks"]["fallbacks"].get<int64_t>(), 0);
  summary.erase("forks");
  EXPECT_EQ(summary, Json::parse(read_file(blitz / "summary.json")));
  EXPECT_FALSE(Json::parse(read_file(blitz / "summary.json")).contains("forks"));
}

TEST(Fork, ARunThatForksIsByteIdenticalRunTwice) {
  // Knative at one request per instance scales out while instances of the model serve.
  const std::vector<std::string> overrides{"policies.load_source.name=deepserve", "policies.autoscale.name=kpa",
                                           "policies.autoscale.params.target_concurrency=1"};
  const auto a = fresh_dir("fork_a");
  const auto b = fresh_dir("fork_b");
  run_experiment(load_experiment(testdata("small_replay.json"), overrides), a);
  run_experiment(load_experiment(testdata("small_replay.json"), overrides), b);
  EXPECT_GT(Json::parse(read_file(a / "summary.json"))["forks"]["forked"].get<int64_t>(), 0);
  for (const char* file : {"requests.csv", "summary.json", "config.json", "timeseries.csv"}) {
    SCOPED_TRACE(file);
    EXPECT_EQ(read_file(a / file), read_file(b / file));
  }
}

}  // namespace slsim
