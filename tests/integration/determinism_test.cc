#include <gtest/gtest.h>

#include "sim/config/experiment_config.h"
#include "sim/config/experiment_runner.h"
#include "test_support.h"

namespace slsim {
using namespace testing_support;

TEST(Determinism, SameConfigAndSeedGiveByteIdenticalOutputs) {
  const auto a = fresh_dir("det_a");
  const auto b = fresh_dir("det_b");
  run_experiment(load_experiment(testdata("small_replay.json"), {}), a);
  run_experiment(load_experiment(testdata("small_replay.json"), {}), b);
  for (const char* file : {"requests.csv", "summary.json", "config.json", "timeseries.csv"}) {
    SCOPED_TRACE(file);
    const std::string first = read_file(a / file);
    EXPECT_FALSE(first.empty());
    EXPECT_EQ(first, read_file(b / file));
  }
}

TEST(Determinism, ADifferentSeedChangesGeneratedArrivals) {
  const auto a = fresh_dir("seed_a");
  const auto b = fresh_dir("seed_b");
  run_experiment(load_experiment(testdata("small_replay.json"), {}), a);
  run_experiment(load_experiment(testdata("small_replay.json"), {"seed=8"}), b);
  EXPECT_NE(read_file(a / "requests.csv"), read_file(b / "requests.csv"));
}

TEST(Determinism, ResolvedConfigReproducesTheRun) {
  const auto a = fresh_dir("resolved_a");
  const auto b = fresh_dir("resolved_b");
  run_experiment(load_experiment(testdata("small_replay.json"), {}), a);
  run_experiment(load_experiment(a / "config.json", {}), b);
  EXPECT_EQ(read_file(a / "requests.csv"), read_file(b / "requests.csv"));
  EXPECT_EQ(read_file(a / "summary.json"), read_file(b / "summary.json"));
}

}  // namespace slsim
