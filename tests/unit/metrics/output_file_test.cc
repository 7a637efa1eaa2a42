// Result files appear under their final name only once complete.

#include <gtest/gtest.h>
#include <gmock/gmock.h>

#include <fstream>
#include <sstream>

#include "sim/metrics/output_file.h"
#include "tests/unit/metrics/test_temp_dir.h"

namespace slsim {
namespace {

std::string contents(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

size_t entries(const std::filesystem::path& dir) {
  return static_cast<size_t>(std::distance(std::filesystem::directory_iterator(dir), {}));
}

TEST(OutputFile, NothingHasTheFinalNameUntilCommit) {
  testing::TempDir dir;
  const auto path = dir.path() / "summary.csv";
  OutputFile file(path);
  file.write("a,b\n");
  file.write("1,2\n");
  EXPECT_FALSE(std::filesystem::exists(path));
  EXPECT_EQ(entries(dir.path()), 1u);  // the temporary file, under another name
  file.commit();
  EXPECT_EQ(contents(path), "a,b\n1,2\n");
  EXPECT_EQ(entries(dir.path()), 1u);  // renamed, not copied
}

TEST(OutputFile, AnUncommittedFileLeavesNothingBehind) {
  testing::TempDir dir;
  {
    OutputFile file(dir.path() / "requests.csv");
    file.write("partial");
  }
  EXPECT_EQ(entries(dir.path()), 0u);
}

TEST(OutputFile, CommittingReplacesAnOlderFileOfTheSameName) {
  testing::TempDir dir;
  const auto path = dir.path() / "summary.json";
  write_file_atomically(path, "old, and longer than the new one");
  EXPECT_EQ(contents(path), "old, and longer than the new one");
  write_file_atomically(path, "new");
  EXPECT_EQ(contents(path), "new");
}

TEST(OutputFile, AMissingFolderIsAnErrorNamingThePath) {
  testing::TempDir dir;
  try {
    OutputFile file(dir.path() / "no-such-folder" / "x.csv");
    FAIL() << "expected an error";
  } catch (const std::runtime_error& e) {
    EXPECT_THAT(e.what(), ::testing::HasSubstr("no-such-folder"));
  }
}

}  // namespace
}  // namespace slsim
