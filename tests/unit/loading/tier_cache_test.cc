#include "sim/loading/tier_cache.h"

#include <gtest/gtest.h>

#include "sim/policy/cache/cache_policies.h"

namespace slsim {
namespace {
TierCache cache_with(const char* policy, int64_t capacity) {
  EvictionPolicy::Context context;
  return TierCache(capacity, cache_policies().make(PolicyChoice{policy, Json::object()}, context));
}
const Time t0;
}  // namespace

TEST(TierCache, LruEvictsTheLeastRecentlyUsedToMakeRoom) {
  TierCache cache = cache_with("lru", 100);
  EXPECT_TRUE(cache.insert(CheckpointId(1), 40, t0));
  EXPECT_TRUE(cache.insert(CheckpointId(2), 40, t0));
  cache.record_lookup(CheckpointId(1), t0);
  EXPECT_TRUE(cache.insert(CheckpointId(3), 40, t0));  // evicts 2, the least recently used
  EXPECT_TRUE(cache.contains(CheckpointId(1)));
  EXPECT_FALSE(cache.contains(CheckpointId(2)));
  EXPECT_TRUE(cache.contains(CheckpointId(3)));
  EXPECT_EQ(cache.used_bytes(), 80);
  EXPECT_EQ(cache.stats().evictions, 1u);
  EXPECT_EQ(cache.stats().hits, 1u);
}

TEST(TierCache, LfuEvictsTheLeastFrequentlyUsed) {
  TierCache cache = cache_with("lfu", 100);
  cache.insert(CheckpointId(1), 40, t0);
  cache.insert(CheckpointId(2), 40, t0);
  cache.record_lookup(CheckpointId(2), t0);
  cache.record_lookup(CheckpointId(2), t0);
  cache.record_lookup(CheckpointId(1), t0);  // 1 is the more recent, but 2 the more frequent
  cache.insert(CheckpointId(3), 40, t0);
  EXPECT_FALSE(cache.contains(CheckpointId(1)));
  EXPECT_TRUE(cache.contains(CheckpointId(2)));
}

TEST(TierCache, GdsfPrefersKeepingSmallCheckpoints) {
  // Unit cost: priority = frequency / size, so the 60-byte entry goes before the 10-byte one.
  TierCache cache = cache_with("gdsf", 100);
  cache.insert(CheckpointId(1), 60, t0);
  cache.insert(CheckpointId(2), 10, t0);
  cache.insert(CheckpointId(3), 40, t0);
  EXPECT_FALSE(cache.contains(CheckpointId(1)));
  EXPECT_TRUE(cache.contains(CheckpointId(2)));
  EXPECT_TRUE(cache.contains(CheckpointId(3)));
}

TEST(TierCache, NoneKeepsNothingAndCountsMisses) {
  TierCache cache = cache_with("none", 100);
  EXPECT_FALSE(cache.insert(CheckpointId(1), 10, t0));
  cache.record_lookup(CheckpointId(1), t0);
  EXPECT_EQ(cache.stats().misses, 1u);
  EXPECT_EQ(cache.used_bytes(), 0);
}

TEST(TierCache, RefusesACheckpointLargerThanTheCache) {
  TierCache cache = cache_with("lru", 100);
  cache.insert(CheckpointId(1), 60, t0);
  EXPECT_FALSE(cache.insert(CheckpointId(2), 101, t0));
  EXPECT_TRUE(cache.contains(CheckpointId(1)));
  EXPECT_EQ(cache.stats().evictions, 0u);
}

TEST(TierCache, NeverExceedsItsCapacityUnderAnyPolicy) {
  for (const char* policy : {"lru", "lfu", "gdsf"}) {
    SCOPED_TRACE(policy);
    TierCache cache = cache_with(policy, 1000);
    for (uint32_t m = 0; m < 300; ++m) {
      cache.insert(CheckpointId(m % 37), 10 + (m % 37) * 23 % 300, t0);
      cache.record_lookup(CheckpointId((m * 7) % 37), t0);
      ASSERT_LE(cache.used_bytes(), cache.capacity_bytes());
    }
  }
}

TEST(TierCache, PreloadedEntryIsUnusedUntilTheFirstHit) {
  TierCache cache = cache_with("lru", 100);
  cache.insert(CheckpointId(1), 10, t0, true);
  EXPECT_TRUE(cache.holds_unused_preload(CheckpointId(1)));
  cache.record_lookup(CheckpointId(1), t0);
  EXPECT_FALSE(cache.holds_unused_preload(CheckpointId(1)));
}

}  // namespace slsim
