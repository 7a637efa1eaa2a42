// `slsim sweep`: points isolated (a crash in one is recorded, the others complete) and
// deterministic across job counts, sweep.csv from the points' summaries, resumption after an
// interruption.

#include "sim/config/sweep.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <stdexcept>

#include "test_support.h"

namespace slsim {
using namespace testing_support;
namespace fs = std::filesystem;
using ::testing::HasSubstr;

namespace {
// Four points of the small replay (keep-alive 0 or 10 s, seed 7 or 8), two minutes each.
std::string sweep_args(const fs::path& out, int jobs) {
  return "sweep " + testdata("small_replay.json").string() +
         " --set duration_s=120 --grid policies.keepalive.params.ttl_s=0,10 --grid seed=7,8 -j " +
         std::to_string(jobs) + " -o " + out.string();
}

std::set<std::string> files_under(const fs::path& root) {
  std::set<std::string> files;
  for (const auto& e : fs::recursive_directory_iterator(root))
    if (e.is_regular_file()) files.insert(fs::relative(e.path(), root).string());
  return files;
}
}  // namespace

TEST(Sweep, OneAndFourJobsWriteByteIdenticalPointsAndSweepCsv) {
  const auto dir = fresh_dir("sweep_threads");
  const auto one = run_slsim(sweep_args(dir / "j1", 1));
  ASSERT_EQ(one.exit_code, 0) << one.output;
  const auto four = run_slsim(sweep_args(dir / "j4", 4));
  ASSERT_EQ(four.exit_code, 0) << four.output;
  const auto files = files_under(dir / "j1");
  EXPECT_EQ(files.size(), 1u + 4u * 4u);  // sweep.csv; config, summary, requests, timeseries per point
  EXPECT_EQ(files, files_under(dir / "j4"));
  for (const auto& f : files) EXPECT_EQ(read_file(dir / "j1" / f), read_file(dir / "j4" / f)) << f;
}

TEST(Sweep, CsvHasOneRowPerPointWithItsParametersAndItsSummaryValues) {
  const auto dir = fresh_dir("sweep_csv");
  const auto r = run_slsim(sweep_args(dir, 2));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_THAT(r.output, HasSubstr("4 points (4 run, 0 reused)"));
  std::istringstream csv(read_file(dir / "sweep.csv"));
  std::string header;
  std::getline(csv, header);
  EXPECT_THAT(header, ::testing::StartsWith("point,policies.keepalive.params.ttl_s,seed,"));
  EXPECT_THAT(header, HasSubstr(",models.opt-13b.ttft_s.p99,"));
  EXPECT_THAT(header, HasSubstr(",gpu_seconds.busy,"));
  std::vector<std::string> columns;
  for (std::istringstream h(header); std::getline(h, header, ',');) columns.push_back(header);
  const size_t p99 = std::find(columns.begin(), columns.end(), "ttft_s.p99") - columns.begin();
  ASSERT_LT(p99, columns.size());
  std::string line;
  int rows = 0;
  for (; std::getline(csv, line); ++rows) {
    std::vector<std::string> cells;
    for (std::istringstream l(line); std::getline(l, header, ',');) cells.push_back(header);
    const auto summary = nlohmann::json::parse(read_file(dir / cells[0] / "summary.json"));
    EXPECT_EQ(cells[p99], summary["ttft_s"]["p99"].dump()) << cells[0];
    EXPECT_EQ(cells[2], std::to_string(summary["seed"].get<int>())) << cells[0];
  }
  EXPECT_EQ(rows, 4);
}

TEST(Sweep, RerunRedoesOnlyInterruptedPointsAndGivesTheSameCsv) {
  const auto dir = fresh_dir("sweep_resume");
  ASSERT_EQ(run_slsim(sweep_args(dir, 2)).exit_code, 0);
  const std::string first = read_file(dir / "sweep.csv");
  // What a kill left before point folders were replaced as sets (an older slsim): a point
  // without summary.json, with a half-written temporary file.
  fs::path interrupted;
  for (const auto& e : fs::directory_iterator(dir))
    if (e.is_directory()) interrupted = e.path();
  fs::remove(interrupted / "summary.json");
  std::ofstream(interrupted / ".requests.csv.tmp.1") << "partial";
  fs::remove(dir / "sweep.csv");
  const auto rerun = run_slsim(sweep_args(dir, 2));
  ASSERT_EQ(rerun.exit_code, 0) << rerun.output;
  EXPECT_THAT(rerun.output, HasSubstr("4 points (1 run, 3 reused)"));
  EXPECT_FALSE(fs::exists(interrupted / ".requests.csv.tmp.1"));
  EXPECT_EQ(read_file(dir / "sweep.csv"), first);
}

TEST(Sweep, BadGridValueExitsTwoNamingThePointAndRunsNothing) {
  const auto dir = fresh_dir("sweep_bad");
  const auto r = run_slsim("sweep " + testdata("small_replay.json").string() +
                           " --grid policies.keepalive.params.ttl_s=10,-1 -o " + (dir / "out").string());
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_THAT(r.output, HasSubstr("ttl_s=-1"));
  EXPECT_THAT(r.output, HasSubstr("policies.keepalive.params.ttl_s"));
  EXPECT_FALSE(fs::exists(dir / "out" / "sweep.csv"));
  EXPECT_TRUE(fs::is_empty(dir / "out"));
}

TEST(Sweep, APointThatCrashesOrThrowsIsRecordedWithWhyAndTheOthersComplete) {
  const auto dir = fresh_dir("sweep_crash");
  const auto points =
      expand_sweep(testdata("small_replay.json"), {"duration_s=120"},
                   {parse_grid_axis("policies.keepalive.params.ttl_s=0,10"), parse_grid_axis("seed=7,8")});
  ASSERT_EQ(points.size(), 4u);
  const fs::path out = dir / "out";
  fs::create_directories(out);
  // Point 1 dies of a signal after staging part of its results, as a crash in the simulator
  // would; point 2 throws. std::abort, not a segfault, so that the sanitizers' own SIGSEGV
  // handler does not turn the signal into an exit code.
  const auto runner = [&](const ResolvedExperiment& experiment, const fs::path& point_dir) {
    if (point_dir.filename() == points[1].folder) {
      fs::create_directories(out / ("." + points[1].folder + ".new-abc123"));
      std::ofstream(out / ("." + points[1].folder + ".new-abc123") / "requests.csv") << "partial";
      std::abort();
    }
    if (point_dir.filename() == points[2].folder) throw std::runtime_error("no room left for point 2");
    run_point_experiment(experiment, point_dir);
  };
  std::vector<size_t> done;
  const SweepRun run = run_sweep_points(
      points, {0, 1, 2, 3}, testdata("small_replay.json").parent_path(), out, 2,
      [&](size_t index, bool ran) {
        EXPECT_TRUE(ran);
        done.push_back(index);
      },
      runner);
  std::sort(done.begin(), done.end());
  EXPECT_EQ(done, (std::vector<size_t>{0, 3}));
  ASSERT_EQ(run.failures.size(), 2u);
  EXPECT_EQ(run.failures[0].first, 1u);
  EXPECT_THAT(run.failures[0].second, HasSubstr("signal 6"));
  EXPECT_EQ(run.failures[1].first, 2u);
  EXPECT_EQ(run.failures[1].second, "no room left for point 2");
  for (const size_t i : {0, 3}) {
    EXPECT_TRUE(point_complete(out / points[i].folder)) << i;
    EXPECT_FALSE(run.summaries[i].is_null()) << i;
  }
  EXPECT_TRUE(run.summaries[1].is_null());
  for (const auto& entry : fs::directory_iterator(out))
    EXPECT_FALSE(entry.path().filename().string().starts_with(".")) << "leftover " << entry.path();
  EXPECT_FALSE(fs::exists(out / points[1].folder));
}

}  // namespace slsim
