#include "sim/metrics/quantile_sketch.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <vector>

namespace slsim {
namespace {

double nearest_rank(std::vector<double> values, double p) {
  std::sort(values.begin(), values.end());
  const auto rank = static_cast<size_t>(std::ceil(p / 100.0 * static_cast<double>(values.size())));
  return values[std::max<size_t>(rank, 1) - 1];
}

TEST(QuantileSketch, LoneValueIsExactAtEveryPercentile) {
  QuantileSketch s;
  s.add(0.292742);
  EXPECT_EQ(s.percentile(50), 0.292742);
  EXPECT_EQ(s.percentile(99), 0.292742);
  EXPECT_EQ(s.mean(), 0.292742);
}

TEST(QuantileSketch, MeanMinMaxAndCountAreExact) {
  QuantileSketch s;
  for (double v : {1.0, 2.0, 3.0, 10.0}) s.add(v);
  EXPECT_EQ(s.count(), 4);
  EXPECT_EQ(s.mean(), 4.0);
  EXPECT_EQ(s.min(), 1.0);
  EXPECT_EQ(s.max(), 10.0);
  EXPECT_EQ(s.percentile(100), 10.0);
}

TEST(QuantileSketch, PercentilesWithinTheRelativeErrorOverSixDecades) {
  QuantileSketch s;
  std::vector<double> values;
  for (int i = 1; i <= 100'000; ++i) {
    const double v = 1e-4 * std::pow(10.0, 6.0 * ((i * 7919) % 100'000) / 100'000.0);
    values.push_back(v);
    s.add(v);
  }
  for (double p : {1.0, 25.0, 50.0, 90.0, 99.0, 99.9}) {
    const double exact = nearest_rank(values, p);
    EXPECT_LE(std::abs(s.percentile(p) - exact), QuantileSketch::kRelativeError * exact) << "p" << p;
  }
}

TEST(QuantileSketch, ZerosAreCountedAndReportedAsZero) {
  QuantileSketch s;
  s.add(0);
  s.add(0);
  s.add(5);
  EXPECT_EQ(s.percentile(50), 0.0);
  EXPECT_EQ(s.percentile(90), 5.0);
}

TEST(QuantileSketch, MergeEqualsAddingEverythingToOne) {
  QuantileSketch a, b, all;
  for (int i = 1; i <= 1000; ++i) {
    const double v = 0.001 * i;
    (i % 3 ? a : b).add(v);
    all.add(v);
  }
  b.add(1e3);  // extends the buckets upwards
  all.add(1e3);
  a.merge(b);
  EXPECT_EQ(a.count(), all.count());
  EXPECT_EQ(a.max(), 1e3);
  for (double p : {10.0, 50.0, 90.0, 99.0, 100.0}) EXPECT_EQ(a.percentile(p), all.percentile(p)) << "p" << p;
}

TEST(QuantileSketch, MemoryDoesNotGrowWithTheNumberOfValues) {
  QuantileSketch few, many;
  for (int i = 0; i < 1000; ++i) few.add(0.01 + 0.001 * (i % 100));
  for (int i = 0; i < 1'000'000; ++i) many.add(0.01 + 0.001 * (i % 100));
  EXPECT_EQ(few.percentile(50), many.percentile(50));
  EXPECT_EQ(many.count(), 1'000'000);
}

}  // namespace
}  // namespace slsim
