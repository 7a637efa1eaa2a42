#include "sim/core/random.h"

#include <gtest/gtest.h>

#include <cmath>
#include <vector>

namespace slsim {

TEST(RandomStreams, SameSeedAndPurposeGiveTheSameSequence) {
  RandomStream a = RandomStreams(42).stream("arrivals");
  RandomStream b = RandomStreams(42).stream("arrivals");
  for (int i = 0; i < 100; ++i) EXPECT_EQ(a.uniform(), b.uniform());
}

TEST(RandomStreams, PurposesAndSeedsAreIndependentStreams) {
  RandomStream a = RandomStreams(42).stream("arrivals");
  RandomStream b = RandomStreams(42).stream("placement");
  RandomStream c = RandomStreams(43).stream("arrivals");
  int same_ab = 0, same_ac = 0;
  for (int i = 0; i < 100; ++i) {
    const double x = a.uniform();
    same_ab += x == b.uniform();
    same_ac += x == c.uniform();
  }
  EXPECT_EQ(same_ab, 0);
  EXPECT_EQ(same_ac, 0);
}

TEST(RandomStream, ExponentialHasTheRequestedMean) {
  RandomStream r = RandomStreams(1).stream("test");
  double sum = 0;
  const int n = 200000;
  for (int i = 0; i < n; ++i) sum += r.exponential(4.0);
  EXPECT_NEAR(sum / n, 0.25, 0.25 * 0.02);
}

TEST(RandomStream, BelowStaysInRange) {
  RandomStream r = RandomStreams(1).stream("test");
  for (int i = 0; i < 10000; ++i) EXPECT_LT(r.below(7), 7u);
}

namespace {
struct Moments {
  double mean = 0;
  double cv = 0;
};
template <class Draw>
Moments moments_of(Draw draw, int n) {
  double sum = 0, sum2 = 0;
  for (int i = 0; i < n; ++i) {
    const double x = draw();
    sum += x;
    sum2 += x * x;
  }
  const double mean = sum / n;
  return {mean, std::sqrt(sum2 / n - mean * mean) / mean};
}
}  // namespace

TEST(RandomStream, NormalHasMeanZeroAndUnitVariance) {
  RandomStream r = RandomStreams(1).stream("test");
  double sum = 0, sum2 = 0;
  const int n = 200000;
  for (int i = 0; i < n; ++i) {
    const double x = r.normal();
    sum += x;
    sum2 += x * x;
  }
  EXPECT_NEAR(sum / n, 0, 0.01);
  EXPECT_NEAR(sum2 / n, 1, 0.01);
}

// Gamma(k, θ): mean kθ, CV 1/sqrt(k); both branches (k < 1 and k >= 1).
TEST(RandomStream, GammaHasMeanShapeTimesScaleAndCvOneOverRootShape) {
  RandomStream r = RandomStreams(1).stream("test");
  for (const double shape : {0.25, 1.0, 4.0}) {
    const Moments m = moments_of([&] { return r.gamma(shape, 2.0); }, 400000);
    EXPECT_NEAR(m.mean, 2 * shape, 2 * shape * 0.02) << shape;
    EXPECT_NEAR(m.cv, 1 / std::sqrt(shape), 0.03 / std::sqrt(shape)) << shape;
  }
}

// Weibull(k = 2, λ = 1): mean Γ(1.5) = sqrt(π)/2, CV sqrt(4/π - 1).
TEST(RandomStream, WeibullMatchesItsClosedFormMoments) {
  RandomStream r = RandomStreams(1).stream("test");
  const Moments m = moments_of([&] { return r.weibull(2.0, 1.0); }, 200000);
  EXPECT_NEAR(m.mean, std::sqrt(M_PI) / 2, 0.005);
  EXPECT_NEAR(m.cv, std::sqrt(4 / M_PI - 1), 0.005);
}

// Lognormal(μ, σ): median e^μ.
TEST(RandomStream, LognormalHasMedianExpMu) {
  RandomStream r = RandomStreams(1).stream("test");
  int below = 0;
  const int n = 100000;
  for (int i = 0; i < n; ++i) below += r.lognormal(std::log(100.0), 1.0) < 100.0;
  EXPECT_NEAR(below / double(n), 0.5, 0.01);
}

// Exponent 1 over 3 ranks: weights 1, 1/2, 1/3 out of 11/6.
TEST(ZipfSampler, RankFrequenciesFollowThePowerLaw) {
  const ZipfSampler zipf(3, 1.0);
  EXPECT_NEAR(zipf.probability(0), 6.0 / 11, 1e-12);
  EXPECT_NEAR(zipf.probability(2), 2.0 / 11, 1e-12);
  RandomStream r = RandomStreams(1).stream("test");
  std::vector<int> counts(3);
  const int n = 110000;
  for (int i = 0; i < n; ++i) ++counts[zipf.sample(r)];
  EXPECT_NEAR(counts[0], 60000, 800);
  EXPECT_NEAR(counts[1], 30000, 800);
  EXPECT_NEAR(counts[2], 20000, 800);
}

// Weights need not sum to 1; a weight of 0 is never drawn.
TEST(DiscreteSampler, IndexFrequenciesFollowTheNormalizedWeights) {
  const DiscreteSampler sampler({1, 0, 3});
  EXPECT_DOUBLE_EQ(sampler.probability(0), 0.25);
  EXPECT_DOUBLE_EQ(sampler.probability(1), 0);
  RandomStream r = RandomStreams(2).stream("test");
  std::vector<int> counts(3);
  const int n = 100000;
  for (int i = 0; i < n; ++i) ++counts[sampler.sample(r)];
  EXPECT_NEAR(counts[0], 25000, 700);
  EXPECT_EQ(counts[1], 0);
  EXPECT_NEAR(counts[2], 75000, 700);
}

}  // namespace slsim
