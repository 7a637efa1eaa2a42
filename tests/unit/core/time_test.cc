#include "sim/core/time.h"

#include <gtest/gtest.h>

namespace slsim {

TEST(Time, ConvertsSecondsAndMillisecondsToWholeNanoseconds) {
  EXPECT_EQ(Time::from_seconds(1.5).ns(), 1'500'000'000);
  EXPECT_EQ(Time::from_ms(2.25).ns(), 2'250'000);
  EXPECT_DOUBLE_EQ(Time::from_ns(3'000'000).ms(), 3.0);
  EXPECT_DOUBLE_EQ(Time::from_ns(250'000'000).seconds(), 0.25);
}

TEST(Time, RoundsToTheNearestNanosecond) {
  EXPECT_EQ(Time::from_seconds(1e-9 * 0.6).ns(), 1);
  EXPECT_EQ(Time::from_seconds(1e-9 * 0.4).ns(), 0);
}

TEST(Time, TransferTimeIsBytesOverBandwidth) {
  EXPECT_EQ(transfer_time(10e9, 5.0), Time::from_seconds(2.0));
}

}  // namespace slsim
