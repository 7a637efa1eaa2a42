// keep_checkpoint_in_dram on the hand-computed server (tests/testdata/hand_computed.json: one
// server with a DRAM cache and no SSD cache, keep-alive 0 so every request cold-starts).

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <string>

#include "sim/config/experiment_config.h"
#include "sim/config/experiment_runner.h"
#include "tests/integration/test_support.h"

namespace slsim {
namespace {

using namespace testing_support;

std::filesystem::path unique_dir() {
  std::string pattern = (std::filesystem::temp_directory_path() / "slsim_keep_checkpoint_XXXXXX").string();
  if (!mkdtemp(pattern.data())) throw std::runtime_error("cannot create a temporary folder");
  return pattern;
}

Json run_three_periodic_requests(bool keep_checkpoint_in_dram) {
  const auto dir = unique_dir();
  const std::string trace = periodic_trace(dir, 3, 630);
  const auto experiment = load_experiment(
      testdata("hand_computed.json"), {"workload.sources.0.kind=\"trace\"", "workload.sources.0.path=\"" + trace + "\"",
                                       std::string("policies.keepalive.params.keep_checkpoint_in_dram=") +
                                           (keep_checkpoint_in_dram ? "true" : "false")});
  const Json summary = run_experiment(experiment, dir / "out");
  std::filesystem::remove_all(dir);
  return summary;
}

TEST(KeepCheckpointInDram, KeptTheNextColdStartsReadDram) {
  // The first load reads remote storage and puts the checkpoint in DRAM; the release keeps it,
  // so the second and third loads read DRAM.
  const Json s = run_three_periodic_requests(true);
  EXPECT_EQ(s["cold_starts_by_tier"]["remote"], 1);
  EXPECT_EQ(s["cold_starts_by_tier"]["dram"], 2);
}

TEST(KeepCheckpointInDram, NotKeptTheNextColdStartsReadRemoteStorageAgain) {
  // Each load puts the checkpoint in DRAM, and its instance's release takes it out again; with
  // no SSD cache every one of the three loads reads remote storage.
  const Json s = run_three_periodic_requests(false);
  EXPECT_EQ(s["cold_starts_by_tier"]["remote"], 3);
  EXPECT_EQ(s["cold_starts_by_tier"].value("dram", 0), 0);
}

}  // namespace
}  // namespace slsim
