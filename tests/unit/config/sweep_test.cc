#include "sim/config/sweep.h"

#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <numeric>
#include <vector>

#include "sim/core/errors.h"
#include "tests/unique_temp_dir.h"

namespace slsim {
namespace {
namespace fs = std::filesystem;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

TEST(SweepAxis, GridSplitsValuesAtCommasOutsideBracketsAndQuotes) {
  const SweepAxis axis = parse_grid_axis(R"(a.b=1,[2,3],{"x":1,"y":2},"p,q")");
  EXPECT_THAT(axis.keys, ElementsAre("a.b"));
  EXPECT_THAT(axis.values.front(), ElementsAre("1", "[2,3]", R"({"x":1,"y":2})", R"("p,q")"));
}

TEST(SweepAxis, ZipKeepsKeysTogetherAndRefusesUnequalLengths) {
  const SweepAxis axis = parse_zip_axis("a=1,2;b=x,y");
  EXPECT_THAT(axis.keys, ElementsAre("a", "b"));
  EXPECT_EQ(axis.size(), 2u);
  EXPECT_THAT([] { parse_zip_axis("a=1,2;b=x"); },
              ::testing::ThrowsMessage<InputError>(HasSubstr("a has 2 values, b has 1")));
  EXPECT_THROW(parse_grid_axis("novalues"), InputError);
  EXPECT_THROW(parse_grid_axis("a=1,,2"), InputError);
}

TEST(SweepExpand, CrossProductWithFirstAxisSlowestAndZippedKeysTogether) {
  const fs::path dir = testing_support::unique_temp_dir("sweep_expand");
  std::ofstream(dir / "base.json") << R"({"name": "x", "seed": 1})";
  const auto points =
      expand_sweep(dir / "base.json", {"seed=5"}, {parse_grid_axis("a=1,2"), parse_zip_axis("b=x,y;c=3,4")});
  ASSERT_EQ(points.size(), 4u);
  using P = std::vector<std::pair<std::string, std::string>>;
  EXPECT_EQ(points[0].parameters, (P{{"a", "1"}, {"b", "x"}, {"c", "3"}}));
  EXPECT_EQ(points[1].parameters, (P{{"a", "1"}, {"b", "y"}, {"c", "4"}}));
  EXPECT_EQ(points[3].parameters, (P{{"a", "2"}, {"b", "y"}, {"c", "4"}}));
  EXPECT_EQ(points[3].document, Json::parse(R"({"name": "x", "seed": 5, "a": 2, "b": "y", "c": 4})"));
  EXPECT_THAT(points[0].folder, ::testing::StartsWith("a=1_b=x_c=3-"));
  EXPECT_NE(points[0].folder, points[1].folder);
  EXPECT_THROW(expand_sweep(dir / "base.json", {}, {parse_grid_axis("a=1,1")}), InputError);
}

TEST(SweepExpand, FolderNamesKeepAsManyKeySegmentsAsTellTheKeysApart) {
  const fs::path dir = testing_support::unique_temp_dir("sweep_names");
  std::ofstream(dir / "base.json") << R"({"name": "x"})";
  const auto points = expand_sweep(
      dir / "base.json", {}, {parse_zip_axis("p.dram_cache.name=lru;p.ssd_cache.name=none;p.keepalive.ttl_s=60")});
  EXPECT_THAT(points[0].folder, ::testing::StartsWith("dram_cache.name=lru_ssd_cache.name=none_ttl_s=60-"));
}

TEST(SweepCsv, FlattensSummariesToSortedDottedColumnsWithEmptyCellsForMissingOnes) {
  std::vector<SweepPoint> points(2);
  points[0].folder = "p0";
  points[0].parameters = {{"policies.keepalive.params.ttl_s", "0"}};
  points[1].folder = "p1";
  points[1].parameters = {{"policies.keepalive.params.ttl_s", "60"}};
  const std::vector<Json> summaries{
      Json::parse(R"({"ttft_s": {"p99": 1.5}, "name": "a,b", "models": {"opt-13b": {"ttft_s": {"p99": 2}}}})"),
      Json::parse(R"({"ttft_s": {"p99": 0.25}, "name": "c", "cold_starts": 3})")};
  EXPECT_EQ(sweep_csv(points, summaries),
            "point,policies.keepalive.params.ttl_s,cold_starts,models.opt-13b.ttft_s.p99,name,ttft_s.p99\n"
            "p0,0,,2,\"a,b\",1.5\n"
            "p1,60,3,,c,0.25\n");
}

}  // namespace
}  // namespace slsim

namespace slsim {

// 7 axes of 1,000 values: 10^21 points, beyond size_t (1.8 × 10^19); once read as "0 points".
TEST(SweepExpand, AGridBeyondTheLimitIsRefusedEvenWhenItsSizeOverflows) {
  const fs::path dir = testing_support::unique_temp_dir("sweep_huge");
  std::ofstream(dir / "base.json") << R"({"name": "x"})";
  std::vector<int> numbers(1000);
  std::iota(numbers.begin(), numbers.end(), 0);
  const std::string values = fmt::format("{}", fmt::join(numbers, ","));
  std::vector<SweepAxis> axes;
  for (int a = 0; a < 7; ++a) axes.push_back(parse_grid_axis(fmt::format("k{}={}", a, values)));
  EXPECT_THAT([&] { expand_sweep(dir / "base.json", {}, axes); },
              ::testing::ThrowsMessage<InputError>(::testing::HasSubstr("more than 1000000 points")));
}

TEST(SweepCsv, AFailedPointHasARowWithItsErrorInTheLastColumn) {
  std::vector<SweepPoint> points(2);
  points[0].folder = "p0";
  points[1].folder = "p1";
  points[0].parameters = points[1].parameters = {{"seed", "1"}};
  const std::vector<Json> summaries{Json{{"requests", 3}}, Json()};
  EXPECT_EQ(sweep_csv(points, summaries, {{1, "boom, at t = 5"}}),
            "point,seed,requests,error\np0,1,3,\np1,1,,\"boom, at t = 5\"\n");
}

}  // namespace slsim
