#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <thread>

#include "test_support.h"

namespace slsim {
using namespace testing_support;
namespace fs = std::filesystem;
using ::testing::HasSubstr;

TEST(Robustness, RequestsOfAModelThatFitsNoServerAreRejectedAndTheRunGoesOn) {
  const auto dir = fresh_dir("fits_no_server");
  // One 48 GB A40 per server: opt-30b's 60 GB of weights fit nowhere, opt-6.7b's 13 GB do.
  std::ofstream(dir / "config.json") << R"({
    "name": "fits-no-server",
    "cluster": {"server_groups": [{"profile": "serverlessllm-testbed-a40", "server": {"gpus": 1}}]},
    "models": [{"name": "opt-6.7b"}, {"name": "opt-30b"}],
    "workload": {"sources": [
      {"kind": "poisson", "model": "opt-6.7b", "rate_per_s": 1, "requests": 4, "input_tokens": 64, "output_tokens": 8},
      {"kind": "poisson", "model": "opt-30b", "rate_per_s": 1, "requests": 3, "input_tokens": 64, "output_tokens": 8}]}})";
  const auto r = run_slsim("run " + (dir / "config.json").string() + " -o " + (dir / "out").string());
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_THAT(r.output, HasSubstr("warning: models[1]: the model"));
  const auto summary = nlohmann::json::parse(read_file(dir / "out/summary.json"));
  EXPECT_EQ(summary["rejected"], 3);
  EXPECT_EQ(summary["rejections"]["model fits no server"], 3);
  EXPECT_EQ(summary["models"]["opt-30b"]["rejected"], 3);
  EXPECT_EQ(summary["models"]["opt-6.7b"]["completed"], 4);
}

TEST(Robustness, CheckInvariantsFlagRunsCleanOnAReplay) {
  const auto dir = fresh_dir("check_invariants");
  const auto r = run_slsim("run " + testdata("small_replay.json").string() + " --check-invariants -o " +
                           (dir / "out").string());
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_TRUE(fs::exists(dir / "out/summary.json"));
}

TEST(Robustness, AKilledRunLeavesNoFileThatLooksComplete) {
  const auto dir = fresh_dir("killed_run");
  // Long enough (10^6 requests) to be killed while it writes requests.csv.
  std::ofstream(dir / "config.json") << R"({
    "name": "killed",
    "cluster": {"server_groups": [{"profile": "serverlessllm-testbed-a40"}]},
    "models": [{"name": "opt-6.7b"}],
    "workload": {"sources": [
      {"kind": "poisson", "model": "opt-6.7b", "rate_per_s": 20, "requests": 1000000, "input_tokens": 64, "output_tokens": 8}]}})";
  const fs::path out = dir / "out";
  const std::string config = (dir / "config.json").string();
  const pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    execl(SLSIM_BINARY, SLSIM_BINARY, "run", config.c_str(), "-o", out.c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  auto partial_rows_written = [&] {
    if (!fs::exists(out)) return false;
    for (const auto& entry : fs::directory_iterator(out))
      if (entry.path().filename().string().starts_with(".requests.csv") && fs::file_size(entry.path()) > 0) return true;
    return false;
  };
  const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (!partial_rows_written() && std::chrono::steady_clock::now() < give_up)
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  ASSERT_TRUE(partial_rows_written()) << "the run wrote no rows within a minute";
  kill(child, SIGKILL);
  int status = 0;
  waitpid(child, &status, 0);
  ASSERT_TRUE(WIFSIGNALED(status)) << "the run finished before it was killed";
  for (const char* f : {"config.json", "summary.json", "requests.csv"}) EXPECT_FALSE(fs::exists(out / f)) << f;
}

}  // namespace slsim
