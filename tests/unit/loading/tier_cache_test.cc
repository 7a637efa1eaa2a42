#include "sim/loading/tier_cache.h"

#include <gtest/gtest.h>

namespace slsim {

TEST(TierCache, EvictsTheLeastRecentlyUsedToMakeRoom) {
  TierCache cache(100);
  EXPECT_TRUE(cache.insert(1, 40));
  EXPECT_TRUE(cache.insert(2, 40));
  cache.touch(1);
  EXPECT_TRUE(cache.insert(3, 40));  // evicts 2, the least recently used
  EXPECT_TRUE(cache.contains(1));
  EXPECT_FALSE(cache.contains(2));
  EXPECT_TRUE(cache.contains(3));
  EXPECT_EQ(cache.used_bytes(), 80);
  EXPECT_EQ(cache.evictions(), 1u);
}

TEST(TierCache, RefusesACheckpointLargerThanTheCache) {
  TierCache cache(100);
  cache.insert(1, 60);
  EXPECT_FALSE(cache.insert(2, 101));
  EXPECT_TRUE(cache.contains(1));
  EXPECT_EQ(cache.evictions(), 0u);
}

TEST(TierCache, NeverExceedsItsCapacity) {
  TierCache cache(1000);
  for (ModelId m = 0; m < 200; ++m) {
    cache.insert(m % 37, 10 + (m * 7919) % 300);
    ASSERT_LE(cache.used_bytes(), cache.capacity_bytes());
  }
}

}  // namespace slsim
