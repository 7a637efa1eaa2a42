#include "sim/core/time.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>

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

TEST(Time, RoundsHalvesAwayFromZeroExactlyAsLlroundDoes) {
  const double cases[] = {0.5e-9,
                          1.5e-9,
                          2.5e-9,
                          -0.5e-9,
                          -2.5e-9,
                          0.49999999999999994e-9,
                          1e-9 * 4503599627370495.5,
                          1e-9 * 9007199254740993.0,
                          -1e-9 * 4503599627370497.0,
                          1e-9 * 0x1p62,
                          1e-9 * 0x1p61 * 1.5};
  for (const double s : cases) EXPECT_EQ(Time::from_seconds(s).ns(), std::llround(s * 1e9)) << s;
  uint64_t x = 88172645463325252ull;
  for (int i = 0; i < 100000; ++i) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    const double s = static_cast<double>(static_cast<int64_t>(x >> 12) - (int64_t{1} << 51)) * 0x1p-30;
    ASSERT_EQ(Time::from_seconds(s).ns(), std::llround(s * 1e9)) << s;
    ASSERT_EQ(Time::from_ms(s).ns(), std::llround(s * 1e6)) << s;
  }
}

TEST(Time, TransferTimeIsBytesOverBandwidth) { EXPECT_EQ(transfer_time(10e9, 5.0), Time::from_seconds(2.0)); }

}  // namespace slsim

namespace slsim {

// 10^10 s is 10^19 ns, beyond int64's 9.2 × 10^18: a wrapped, negative time once.
TEST(Time, FromSecondsBeyondInt64ThrowsInsteadOfWrapping) {
  EXPECT_THROW(Time::from_seconds(1e10), std::out_of_range);
  EXPECT_THROW(Time::from_seconds(-1e10), std::out_of_range);
  EXPECT_THROW(Time::from_seconds(std::nan("")), std::out_of_range);
  EXPECT_EQ(Time::from_seconds(9e9).ns(), 9'000'000'000'000'000'000);
}

}  // namespace slsim
