// Where evicted prompt KV blocks go and stay: per-server DRAM and SSD tiers and the cluster's
// pool, each LRU by bytes, with blocks of 100 bytes so capacities read as block counts.
#include "sim/control/kv_tiers.h"

#include <gtest/gtest.h>

namespace slsim {
namespace {

const ServerId kServer(0);
const ModelId kModel(0);
constexpr int64_t kBlock = 100;

KvTierParams tiers(int64_t dram_blocks, int64_t ssd_blocks, int64_t pool_blocks) {
  KvTierParams p;
  p.dram_bytes_per_server = dram_blocks * kBlock;
  p.ssd_bytes_per_server = ssd_blocks * kBlock;
  p.pool_bytes = pool_blocks * kBlock;
  return p;
}

TEST(KvTierParams, TheChainListsTheTiersThatHaveCapacityTopDown) {
  EXPECT_FALSE(tiers(0, 0, 0).enabled());
  EXPECT_EQ(tiers(1, 0, 1).tiers(), (std::vector<KvTier>{KvTier::dram, KvTier::pool}));
  EXPECT_EQ(tiers(1, 1, 1).tiers(), (std::vector<KvTier>{KvTier::dram, KvTier::ssd, KvTier::pool}));
}

TEST(KvTiers, AnEvictedBlockGoesToDramAndTheLeastRecentlyUsedOneDownToTheSsd) {
  KvTiers t(tiers(2, 1, 0), 1);
  EXPECT_EQ(t.holder(kServer, kModel, 1), std::nullopt);
  t.evicted(kServer, kModel, 1, kBlock);
  t.evicted(kServer, kModel, 2, kBlock);
  EXPECT_EQ(t.holder(kServer, kModel, 1), KvTier::dram);
  t.evicted(kServer, kModel, 3, kBlock);  // DRAM full: block 1 goes down
  EXPECT_EQ(t.holder(kServer, kModel, 1), KvTier::ssd);
  EXPECT_EQ(t.used_bytes(KvTier::dram, kServer), 2 * kBlock);
  t.evicted(kServer, kModel, 4, kBlock);  // block 2 goes down; the SSD, full, drops block 1
  EXPECT_EQ(t.holder(kServer, kModel, 1), std::nullopt);
  EXPECT_EQ(t.holder(kServer, kModel, 2), KvTier::ssd);
  t.audit();
}

TEST(KvTiers, AFetchMakesTheBlockTheMostRecentSoAnotherIsEvictedFirst) {
  KvTiers t(tiers(2, 0, 0), 1);
  t.evicted(kServer, kModel, 1, kBlock);
  t.evicted(kServer, kModel, 2, kBlock);
  EXPECT_EQ(t.fetched(kServer, kModel, 1, KvTier::dram), kServer);  // a copy comes up; 1 stays
  t.evicted(kServer, kModel, 3, kBlock);
  EXPECT_EQ(t.holder(kServer, kModel, 1), KvTier::dram);
  EXPECT_EQ(t.holder(kServer, kModel, 2), std::nullopt);
}

TEST(KvTiers, TheSameBlockIdOfAnotherModelOrServerIsAnotherBlock) {
  KvTiers t(tiers(4, 0, 0), 2);
  t.evicted(kServer, kModel, 1, kBlock);
  EXPECT_EQ(t.holder(kServer, ModelId(1), 1), std::nullopt);
  EXPECT_EQ(t.holder(ServerId(1), kModel, 1), std::nullopt);
}

TEST(KvTiers, ThePoolTakesWhatAServersLastTierEvictsAndEveryServerSeesIt) {
  KvTiers t(tiers(1, 0, 2), 2);
  t.evicted(ServerId(1), kModel, 1, kBlock);
  t.evicted(ServerId(1), kModel, 2, kBlock);  // block 1 leaves server 1's DRAM for the pool
  EXPECT_EQ(t.holder(kServer, kModel, 1), KvTier::pool);
  EXPECT_EQ(t.holder(ServerId(1), kModel, 2), KvTier::dram);
  EXPECT_EQ(t.holder(kServer, kModel, 2), std::nullopt);  // server 1's DRAM is its own
  EXPECT_EQ(t.fetched(kServer, kModel, 1, KvTier::pool), ServerId(1));
  EXPECT_EQ(t.used_bytes(KvTier::pool, kServer), kBlock);
  t.audit();
}

TEST(KvTiers, ABlockLargerThanATierPassesOnDown) {
  KvTiers t(tiers(1, 3, 0), 1);
  t.evicted(kServer, kModel, 1, 2 * kBlock);
  EXPECT_EQ(t.holder(kServer, kModel, 1), KvTier::ssd);
  EXPECT_EQ(t.used_bytes(KvTier::dram, kServer), 0);
}

TEST(KvTiers, EvictedAgainWhileHeldRefreshesInsteadOfDuplicating) {
  KvTiers t(tiers(2, 0, 0), 1);
  t.evicted(kServer, kModel, 1, kBlock);
  t.evicted(kServer, kModel, 2, kBlock);
  t.evicted(kServer, kModel, 1, kBlock);
  EXPECT_EQ(t.used_bytes(KvTier::dram, kServer), 2 * kBlock);
  t.evicted(kServer, kModel, 3, kBlock);  // 2 is now the least recent
  EXPECT_EQ(t.holder(kServer, kModel, 1), KvTier::dram);
  EXPECT_EQ(t.holder(kServer, kModel, 2), std::nullopt);
  t.audit();
}

}  // namespace
}  // namespace slsim
