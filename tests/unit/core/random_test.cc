#include "sim/core/random.h"

#include <gtest/gtest.h>

#include <cmath>

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

}  // namespace slsim
