#include "sim/metrics/output_file.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include "sim/core/errors.h"
#include "tests/unique_temp_dir.h"

namespace slsim {
namespace fs = std::filesystem;
using ::testing::HasSubstr;

namespace {
const std::vector<std::string> kResults{"summary.json", "requests.csv", "timeseries.csv"};

std::string contents(const fs::path& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// Every entry of `dir` except the output folder itself: what a run left beside its results.
std::vector<std::string> leftovers(const fs::path& dir, const std::string& output) {
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(dir))
    if (e.path().filename() != output) names.push_back(e.path().filename().string());
  return names;
}
}  // namespace

TEST(ResultSet, ReplacesTheWholeOldSetAndKeepsOtherFilesOfTheFolder) {
  const fs::path dir = testing_support::unique_temp_dir("result_set");
  fs::create_directories(dir / "out");
  std::ofstream(dir / "out/summary.json") << "old";
  std::ofstream(dir / "out/timeseries.csv") << "old";
  std::ofstream(dir / "out/experiment.json") << "kept";
  ResultSet set(dir / "out", kResults);
  set.add("summary.json").write("new");
  set.add("requests.csv").write("new");
  set.commit();
  EXPECT_EQ(contents(dir / "out/summary.json"), "new");
  EXPECT_EQ(contents(dir / "out/requests.csv"), "new");
  // The old timeseries.csv belonged to the old set: a reader must not see it beside the new one.
  EXPECT_FALSE(fs::exists(dir / "out/timeseries.csv"));
  EXPECT_EQ(contents(dir / "out/experiment.json"), "kept");
  EXPECT_THAT(leftovers(dir, "out"), ::testing::IsEmpty());
}

TEST(ResultSet, AFailureBeforeCommitLeavesTheOldSetAndNoTemporaries) {
  const fs::path dir = testing_support::unique_temp_dir("result_set_fail");
  fs::create_directories(dir / "out");
  std::ofstream(dir / "out/summary.json") << "old";
  try {
    ResultSet set(dir / "out", kResults);
    set.add("requests.csv").write("half written");
    throw std::runtime_error("the run failed");
  } catch (const std::runtime_error&) {
  }
  EXPECT_EQ(contents(dir / "out/summary.json"), "old");
  EXPECT_FALSE(fs::exists(dir / "out/requests.csv"));
  EXPECT_THAT(leftovers(dir, "out"), ::testing::IsEmpty());
}

TEST(ResultSet, AFolderThatCannotBeReplacedAsAWholeIsRefused) {
  const fs::path dir = testing_support::unique_temp_dir("result_set_subfolder");
  fs::create_directories(dir / "out/points");
  EXPECT_THAT([&] { ResultSet set(dir / "out", kResults); },
              ::testing::ThrowsMessage<InputError>(HasSubstr("holds the folder points")));
  EXPECT_THROW(ResultSet("/", kResults), InputError);
}

TEST(OutputFile, AFailedRenameRemovesItsTemporary) {
  const fs::path dir = testing_support::unique_temp_dir("output_file_rename");
  // The final name is a non-empty folder, so the rename fails after the file was written.
  fs::create_directories(dir / "taken/inside");
  {
    OutputFile file(dir / "taken");
    file.write("x");
    EXPECT_THROW(file.commit(), std::runtime_error);
  }
  EXPECT_THAT(leftovers(dir, "taken"), ::testing::IsEmpty());
}

TEST(OutputFile, AFolderPathIsRefusedRatherThanWrittenBesideIt) {
  // "dir/" once made the temporary "dir/..tmp.<pid>", and "/" one in the root folder.
  EXPECT_THROW(OutputFile("/"), InputError);
  EXPECT_THROW(OutputFile(testing_support::unique_temp_dir("output_file_folder") / ""), InputError);
}

TEST(OutputFile, TwoWritersOfOneNameUseDistinctTemporaries) {
  const fs::path dir = testing_support::unique_temp_dir("output_file_unique");
  OutputFile first(dir / "same.csv");
  OutputFile second(dir / "same.csv");
  first.write("first");
  second.write("second");
  first.commit();
  second.commit();
  EXPECT_EQ(contents(dir / "same.csv"), "second");
  EXPECT_THAT(leftovers(dir, "same.csv"), ::testing::IsEmpty());
}

}  // namespace slsim
