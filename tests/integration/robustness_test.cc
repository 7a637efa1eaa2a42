#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>
#include <sstream>
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

// One GPU, two models, `fixed` keeping one instance of each and idle instances not yielding:
// opt-6.7b's instance holds the GPU for good and opt-1.3b's request can never be served. Only
// the autoscaler's ticks remain (every 2 s, until the time bound); the run stops once a
// simulated day and 1,000 ticks pass without another event, with exit 2 and no results.
TEST(Robustness, RequestsThatOnlyPeriodicTicksCouldServeStopTheRunWithExitTwo) {
  const auto dir = fresh_dir("no_progress");
  std::ofstream(dir / "two.csv")
      << "arrival_s,model,input_tokens,output_tokens\n0,opt-6.7b,100,10\n1,opt-1.3b,100,10\n";
  std::ofstream(dir / "config.json") << R"({
    "name": "no-progress",
    "cluster": {"server_groups": [{"profile": "serverlessllm-testbed-a40", "server": {"gpus": 1}}]},
    "models": [{"name": "opt-6.7b"}, {"name": "opt-1.3b"}],
    "policies": {"autoscale": {"name": "fixed", "params": {"instances": 1}},
                 "migration": {"params": {"idle_instances_yield": false}}},
    "workload": {"sources": [{"kind": "trace", "path": "two.csv", "models": ["opt-6.7b", "opt-1.3b"],
                              "mapping": {"model_field": "model"}}]}})";
  const auto r = run_slsim("run " + (dir / "config.json").string() + " -o " + (dir / "out").string());
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_THAT(r.output, HasSubstr("no progress possible"));
  EXPECT_THAT(r.output, HasSubstr("1 requests wait at the router for opt-1.3b (1 queued)"));
  EXPECT_FALSE(fs::exists(dir / "out"));
  // With idle instances yielding (the default) the same workload completes.
  const auto yielding = run_slsim("run " + (dir / "config.json").string() + " -o " + (dir / "out").string() +
                                  " --set policies.migration.params.idle_instances_yield=true");
  EXPECT_EQ(yielding.exit_code, 0) << yielding.output;
  EXPECT_THAT(yielding.output, HasSubstr("2 completed"));
}

// Five requests within 0.4 s, while the first instance takes seconds to start: with at most
// two waiting at the router, the first two wait and are served, the last three are rejected
// with the reason counted as the other rejections are.
TEST(Robustness, ARequestArrivingAtAFullRouterQueueIsRejectedAndCounted) {
  const auto dir = fresh_dir("router_queue_full");
  std::ofstream(dir / "burst.csv") << "arrival_s,input_tokens,output_tokens\n0,100,3\n0.1,100,3\n0.2,100,3\n"
                                      "0.3,100,3\n0.4,100,3\n";
  std::ofstream(dir / "config.json") << R"({
    "name": "router-queue-full",
    "cluster": {"server_groups": [{"profile": "serverlessllm-testbed-a40"}]},
    "models": [{"name": "opt-6.7b"}],
    "router": {"max_queued_per_model": 2},
    "workload": {"sources": [{"kind": "trace", "model": "opt-6.7b", "path": "burst.csv"}]}})";
  const auto r = run_slsim("run " + (dir / "config.json").string() + " -o " + (dir / "out").string());
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const auto summary = nlohmann::json::parse(read_file(dir / "out/summary.json"));
  EXPECT_EQ(summary["rejected"], 3);
  EXPECT_EQ(summary["rejections"]["router queue full"], 3);
  EXPECT_EQ(summary["models"]["opt-6.7b"]["completed"], 2);
}

// Two requests 100,000 s apart, sampled every second: after the first request the state stays
// the same for most of a day. It is written for 1,000 repeats, then not until it changes: the
// boundary before the second arrival (99,999 s) repeats it once more and 100,000 s shows the
// cold start. One row per second would be over 100,000 rows; this is ~1,100.
TEST(Robustness, AnIdleStretchWritesABoundedNumberOfTimeseriesRows) {
  const auto dir = fresh_dir("timeseries_idle");
  std::ofstream(dir / "far.csv") << "arrival_s,input_tokens,output_tokens\n0,100,3\n100000,100,3\n";
  std::ofstream(dir / "config.json") << R"({
    "name": "idle-stretch", "cluster": {"server_groups": [{"profile": "serverlessllm-testbed-a40"}]},
    "models": [{"name": "opt-6.7b"}], "output": {"timeseries_interval_s": 1},
    "workload": {"sources": [{"kind": "trace", "model": "opt-6.7b", "path": "far.csv"}]}})";
  const auto r = run_slsim("run " + (dir / "config.json").string() + " -o " + (dir / "out").string());
  ASSERT_EQ(r.exit_code, 0) << r.output;
  std::istringstream csv(read_file(dir / "out/timeseries.csv"));
  std::string line;
  std::getline(csv, line);                                // header
  std::vector<std::pair<std::string, std::string>> rows;  // time, state
  while (std::getline(csv, line)) rows.emplace_back(line.substr(0, line.find(',')), line.substr(line.find(',')));
  ASSERT_GT(rows.size(), 1000u);
  EXPECT_LT(rows.size(), 2000u);
  int64_t repeats = 0;
  int64_t longest = 0;
  for (size_t i = 1; i < rows.size(); ++i) {
    repeats = rows[i].second == rows[i - 1].second ? repeats + 1 : 0;
    longest = std::max(longest, repeats);
  }
  EXPECT_EQ(longest, 1001);  // 1,000 repeats, then the stretch's last boundary
  const auto change = std::find_if(rows.begin(), rows.end(), [](const auto& row) { return row.first == "100000.000"; });
  ASSERT_NE(change, rows.end());
  EXPECT_EQ(std::prev(change)->first, "99999.000");
  EXPECT_EQ(std::prev(change)->second, std::prev(change, 2)->second);
  EXPECT_NE(change->second, std::prev(change)->second);
}

TEST(Robustness, InAMixedClusterAnInstanceGoesOnlyWhereItsWeightsFit) {
  const auto dir = fresh_dir("mixed_cluster");
  // Server 0 has A5000s of 24 GiB, server 1 H100s of 80 GB. llama-2-13b's 26 GB of weights
  // leave no KV cache on an A5000 (0.9 × 24 GiB = 23.2 GB) and fit one H100, so its degree is
  // 1 and its instances go to server 1 only, although least-loaded prefers server 0 on a tie;
  // opt-6.7b (13.4 GB) fits both, so its first instance takes server 0 (first on a tie, or
  // the one with more free GPUs once llama-2-13b holds one of server 1's).
  std::ofstream(dir / "config.json") << R"({
    "name": "mixed",
    "cluster": {"server_groups": [{"profile": "serverlessllm-testbed-a5000"}, {"profile": "dgx-h100"}]},
    "models": [{"name": "llama-2-13b"}, {"name": "opt-6.7b"}],
    "policies": {"keepalive": {"name": "fixed", "params": {"ttl_s": 60}}},
    "workload": {"sources": [
      {"kind": "poisson", "model": "llama-2-13b", "rate_per_s": 1, "requests": 6, "input_tokens": 64, "output_tokens": 8},
      {"kind": "poisson", "model": "opt-6.7b", "rate_per_s": 1, "requests": 6, "input_tokens": 64, "output_tokens": 8}]}})";
  const auto r = run_slsim("run " + (dir / "config.json").string() + " -o " + (dir / "out").string());
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const auto summary = nlohmann::json::parse(read_file(dir / "out/summary.json"));
  EXPECT_EQ(summary["completed"], 12);
  std::istringstream rows(read_file(dir / "out/requests.csv"));
  std::string row;
  std::getline(rows, row);  // header: ...,server (11th column),...
  int opt_on_a5000 = 0;
  while (std::getline(rows, row)) {
    std::vector<std::string> fields;
    std::istringstream cells(row);
    for (std::string cell; std::getline(cells, cell, ',');) fields.push_back(cell);
    if (fields.at(1) == "llama-2-13b") {
      EXPECT_EQ(fields.at(10), "dgx-h100/1") << row;
    }
    if (fields.at(1) == "opt-6.7b" && fields.at(10) == "serverlessllm-testbed-a5000/0") ++opt_on_a5000;
  }
  EXPECT_GT(opt_on_a5000, 0);
}

namespace {

// One GPU (tests/testdata/hand_computed.json), two copies A and B of its tiny model, a keep-alive
// of 1,000 s, no migration; A's request at 0, B's at 10 s. Returns B's TTFT.
double ttft_of_the_second_model(const std::string& name, bool idle_instances_yield) {
  const auto dir = fresh_dir(name);
  std::ofstream(dir / "trace.csv") << "arrival_s,input_tokens,output_tokens,model\n0,100,3,A\n10,100,3,B\n";
  auto doc = nlohmann::json::parse(read_file(testdata("hand_computed.json")));
  const auto tiny = doc["models"][0];
  doc["models"] = nlohmann::json::array({tiny, tiny});
  doc["models"][0]["name"] = "A";
  doc["models"][1]["name"] = "B";
  doc["catalog_dir"] = (testdata("") / "catalog").string();
  doc["workload"]["sources"] = {{{"kind", "trace"},
                                 {"path", (dir / "trace.csv").string()},
                                 {"mapping", {{"model_field", "model"}}},
                                 {"assign", "name"}}};
  doc["policies"]["keepalive"]["params"]["ttl_s"] = 1000;
  doc["policies"]["migration"] = {{"name", "none"}, {"params", {{"idle_instances_yield", idle_instances_yield}}}};
  std::ofstream(dir / "config.json") << doc.dump();
  const auto r = run_slsim("run " + (dir / "config.json").string() + " -o " + (dir / "out").string());
  EXPECT_EQ(r.exit_code, 0) << r.output;
  std::istringstream rows(read_file(dir / "out/requests.csv"));
  std::string row;
  while (std::getline(rows, row))
    if (row.find(",B,") != std::string::npos) {
      std::istringstream cells(row);
      std::string cell;
      for (int column = 0; column <= 5; ++column) std::getline(cells, cell, ',');  // ttft_s is the 6th
      return std::stod(cell);
    }
  ADD_FAILURE() << "no request of B";
  return -1;
}

}  // namespace

TEST(Robustness, AnIdleKeptAliveInstanceYieldsItsGpuToAnotherModelsWaitingRequest) {
  // A is done within a second (a 29 MB load at 1 GB/s, then 100 tokens in and 3 out) and idles,
  // kept alive until ~1,000 s. B's request at 10 s takes its GPU at once: B's TTFT is its own
  // load and prefill, well under a second.
  EXPECT_LT(ttft_of_the_second_model("idle_yields", true), 1.0);
}

TEST(Robustness, AnIdleInstanceKeepsItsGpuForItsKeepAliveWhenAskedTo) {
  // The former behaviour: B waits for A's keep-alive to end (~1,000 s after A finished), so its
  // TTFT is over 1,000 − 10 s.
  EXPECT_GT(ttft_of_the_second_model("idle_keeps", false), 990.0);
}

TEST(Robustness, CheckInvariantsFlagRunsCleanOnAReplay) {
  const auto dir = fresh_dir("check_invariants");
  const auto r =
      run_slsim("run " + testdata("small_replay.json").string() + " --check-invariants -o " + (dir / "out").string());
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_TRUE(fs::exists(dir / "out/summary.json"));
}

TEST(Robustness, CheckInvariantsHoldWhileExecuteWhileLoadGroupsServeOnAReplay) {
  // Knative at 1 request per instance, keep-alive 1 s and no host caches: scale-outs of several
  // instances at once read the store in multicast chains, and at least one group serves as a
  // pipeline before its loads end; the audit after every event checks the head serves and the
  // counts follow it.
  const auto dir = fresh_dir("check_invariants_lambdascale");
  const auto r =
      run_slsim("run " + testdata("small_replay.json").string() + " --check-invariants --no-progress -o " +
                (dir / "out").string() +
                " --set policies.load_source.name=lambdascale --set policies.autoscale.name=kpa"
                " --set policies.autoscale.params.target_concurrency=1 --set policies.keepalive.params.ttl_s=1"
                " --set cluster.server_groups.0.server.dram_cache_bytes=0"
                " --set cluster.server_groups.0.server.ssd_cache_bytes=0");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const auto summary = nlohmann::json::parse(read_file(dir / "out/summary.json"));
  EXPECT_GE(summary["group_loads"]["groups"].get<int64_t>(), 1);
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
  // Rows go to requests.csv in the run's staged folder, a sibling of the output folder.
  auto partial_rows_written = [&] {
    for (const auto& staged : fs::directory_iterator(dir))
      if (std::error_code error; staged.path().filename().string().starts_with(".out.new-"))
        for (const auto& entry : fs::directory_iterator(staged.path(), error))
          if (entry.path().filename().string().starts_with(".requests.csv") && fs::file_size(entry.path()) > 0)
            return true;
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

namespace {

// A run of a few hundred milliseconds, long enough to be killed at any stage: reading the
// config, simulating, writing the set, swapping it in.
std::string chaos_config(int requests) {
  return R"({"name": "chaos", "cluster": {"server_groups": [{"profile": "serverlessllm-testbed-a40"}]},
    "models": [{"name": "opt-6.7b"}], "output": {"timeseries_interval_s": 10},
    "workload": {"sources": [{"kind": "poisson", "model": "opt-6.7b", "rate_per_s": 20, "requests": )" +
         std::to_string(requests) + R"(, "input_tokens": 64, "output_tokens": 8}]}})";
}

pid_t spawn_slsim(const std::vector<std::string>& args) {
  const pid_t child = fork();
  if (child == 0) {
    std::vector<char*> argv{const_cast<char*>(SLSIM_BINARY)};
    for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    std::freopen("/dev/null", "w", stdout);
    std::freopen("/dev/null", "w", stderr);
    execv(SLSIM_BINARY, argv.data());
    _exit(127);
  }
  return child;
}

// A result folder is absent, or holds one complete set: config.json and summary.json of the same
// seed, and a requests.csv with a row per request the summary counts (plus the header).
void expect_one_complete_set(const fs::path& out, const std::vector<int>& seeds) {
  if (!fs::exists(out)) return;
  ASSERT_TRUE(fs::exists(out / "summary.json")) << out;
  const auto summary = nlohmann::json::parse(read_file(out / "summary.json"));
  const auto config = nlohmann::json::parse(read_file(out / "config.json"));
  EXPECT_EQ(summary["seed"], config["seed"]) << out;
  EXPECT_THAT(seeds, ::testing::Contains(summary["seed"].get<int>())) << out;
  const std::string rows = read_file(out / "requests.csv");
  EXPECT_EQ(std::count(rows.begin(), rows.end(), '\n'), summary["requests"].get<int64_t>() + 1) << out;
  EXPECT_TRUE(fs::exists(out / "timeseries.csv")) << out;
}

std::string fmt_round(int round, int signal_number, int status) {
  return "round " + std::to_string(round) + ", signal " + std::to_string(signal_number) +
         (WIFEXITED(status) ? ", exited " + std::to_string(WEXITSTATUS(status)) : ", killed");
}

// Hidden names are the temporaries of OutputFile and ResultSet.
std::vector<fs::path> temporaries_under(const fs::path& dir) {
  std::vector<fs::path> found;
  for (const auto& e : fs::recursive_directory_iterator(dir))
    if (e.path().filename().string().starts_with(".")) found.push_back(e.path());
  return found;
}

}  // namespace

TEST(Chaos, ARunKilledAtAnyPointLeavesTheOldSetOrTheNewOneAndSigtermLeavesNoTemporaries) {
  const auto dir = fresh_dir("chaos_run");
  std::ofstream(dir / "config.json") << chaos_config(4000);
  const fs::path out = dir / "out";
  const std::string config = (dir / "config.json").string();
  ASSERT_EQ(run_slsim("run " + config + " -o " + out.string() + " --set seed=1").exit_code, 0);
  std::mt19937 random(20240521);  // fixed, so that a failure can be replayed
  for (int round = 0; round < 12; ++round) {
    const int signal_number = round % 2 == 0 ? SIGTERM : SIGKILL;
    const int seed = 2 + round;
    const pid_t child = spawn_slsim({"run", config, "-o", out.string(), "--set", "seed=" + std::to_string(seed)});
    std::this_thread::sleep_for(std::chrono::milliseconds(std::uniform_int_distribution<int>(0, 400)(random)));
    kill(child, signal_number);
    int status = 0;
    waitpid(child, &status, 0);
    SCOPED_TRACE(fmt_round(round, signal_number, status));
    // Each earlier round's run may have finished before its signal, so any seed so far may be in place.
    std::vector<int> seeds_so_far;
    for (int s = 1; s <= seed; ++s) seeds_so_far.push_back(s);
    expect_one_complete_set(out, seeds_so_far);
    if (signal_number == SIGTERM) {
      EXPECT_THAT(temporaries_under(dir), ::testing::IsEmpty());
    }
    for (const auto& t : temporaries_under(dir)) fs::remove_all(t);
  }
}

TEST(Chaos, ASweepKilledAtAnyPointLeavesOnlyCompletePointsAndSigtermLeavesNoTemporaries) {
  const auto dir = fresh_dir("chaos_sweep");
  std::ofstream(dir / "config.json") << chaos_config(1500);
  const fs::path out = dir / "out";
  std::mt19937 random(20240522);
  for (int round = 0; round < 6; ++round) {
    const int signal_number = round % 2 == 0 ? SIGTERM : SIGKILL;
    const pid_t child =
        spawn_slsim({"sweep", (dir / "config.json").string(), "--grid", "seed=1,2,3,4", "-j", "2", "-o", out.string()});
    std::this_thread::sleep_for(std::chrono::milliseconds(std::uniform_int_distribution<int>(0, 600)(random)));
    kill(child, signal_number);
    int status = 0;
    waitpid(child, &status, 0);
    SCOPED_TRACE(fmt_round(round, signal_number, status));
    if (fs::exists(out))
      for (const auto& point : fs::directory_iterator(out))
        if (point.is_directory() && !point.path().filename().string().starts_with("."))
          expect_one_complete_set(point.path(), {1, 2, 3, 4});
    if (signal_number == SIGTERM) {
      EXPECT_THAT(temporaries_under(dir), ::testing::IsEmpty());
    }
    for (const auto& t : temporaries_under(dir)) fs::remove_all(t);
    fs::remove_all(out);
  }
}

}  // namespace slsim
