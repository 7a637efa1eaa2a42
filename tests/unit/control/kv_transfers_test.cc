// A step's KV bytes as flows over one idle server (tests/unit/loading/test_loading.h): 2 GPUs
// with 100 GB/s host links, an SSD reading 4 GB/s, a 10 GB/s NIC; all latencies 0, so times are
// bytes / rate, computed by hand.
#include "sim/control/kv_transfers.h"

#include <gtest/gtest.h>

#include <map>
#include <vector>

#include "sim/control/kv_tiers.h"
#include "tests/unit/loading/test_loading.h"

namespace slsim {
namespace {

const ServerId kServer(0);
const ModelId kModel(0);

struct Moved : KvTransferListener {
  Simulator* sim = nullptr;
  std::map<InstanceId, Time> at;
  void on_kv_moved(InstanceId id) override { at[id] = sim->now(); }
};

struct Bench {
  explicit Bench(int64_t servers = 1, KvTierParams tier_params = {})
      : cluster({testing::round_servers(servers, 2)}, 1.0),
        topology(cluster, testing::no_latency()),
        network(sim, topology),
        loader(sim, cluster, topology, network, testing::transfer_only(), CheckpointFormat{}, lru, lru),
        tiers(tier_params, static_cast<size_t>(servers)),
        transfers(network, topology, moved) {
    moved.sim = &sim;
  }
  double moved_s(uint32_t instance) const { return moved.at.at(InstanceId(instance)).seconds(); }

  EvictionFactory lru = &testing::lru_eviction;
  Simulator sim;
  Cluster cluster;
  Topology topology;
  FlowNetwork network;
  Loader loader;
  KvTiers tiers;
  Moved moved;
  KvTransfers transfers;
};

struct NoLoad : LoadListener {
  void on_load_done(InstanceId, const LoadOutcome&) override {}
};

KvMoves swap_in(int64_t bytes) {
  KvMoves m;
  m.swap_in_bytes = bytes;
  return m;
}

TEST(KvTransfers, ASwapAloneOnAnIdleHostLinkTakesBytesOverItsBandwidth) {
  Bench b;
  const std::vector<int64_t> gpu0{0};
  ASSERT_TRUE(b.transfers.start(InstanceId(0), kServer, gpu0, swap_in(int64_t{2'000'000'000})));
  EXPECT_TRUE(b.transfers.moving(InstanceId(0)));
  b.sim.run();
  // 2 GB at 100 GB/s.
  EXPECT_DOUBLE_EQ(b.moved_s(0), 0.020);
  EXPECT_FALSE(b.transfers.moving(InstanceId(0)));
}

TEST(KvTransfers, ASwapBesideAnEqualCheckpointLoadOnTheSameLinkTakesTwiceAsLong) {
  Bench b;
  const CheckpointPart checkpoint{CheckpointId(0), int64_t{2'000'000'000}, 1};
  ASSERT_TRUE(b.loader.stage(kServer, checkpoint, Tier::dram));
  NoLoad no_load;
  b.loader.start(LoadRequest{InstanceId(1), kServer, {0}, {}, {checkpoint}, {}}, no_load);
  const std::vector<int64_t> gpu0{0};
  b.transfers.start(InstanceId(0), kServer, gpu0, swap_in(int64_t{2'000'000'000}));
  b.sim.run();
  // Host memory -> GPU 0 carries both flows at 50 GB/s each: 2 GB in 40 ms.
  EXPECT_DOUBLE_EQ(b.moved_s(0), 0.040);
}

TEST(KvTransfers, ASwapOutGoesTheOtherWayAndDoesNotSlowALoad) {
  Bench b;
  const CheckpointPart checkpoint{CheckpointId(0), int64_t{2'000'000'000}, 1};
  ASSERT_TRUE(b.loader.stage(kServer, checkpoint, Tier::dram));
  NoLoad no_load;
  b.loader.start(LoadRequest{InstanceId(1), kServer, {0}, {}, {checkpoint}, {}}, no_load);
  KvMoves out;
  out.swap_out_bytes = int64_t{2'000'000'000};
  const std::vector<int64_t> gpu0{0};
  b.transfers.start(InstanceId(0), kServer, gpu0, out);
  b.sim.run();
  // GPU 0 -> host memory is its own direction of the duplex link: alone, 20 ms.
  EXPECT_DOUBLE_EQ(b.moved_s(0), 0.020);
}

TEST(KvTransfers, ATensorParallelInstanceSplitsItsBytesOverItsGpusHostLinks) {
  Bench b;
  const std::vector<int64_t> both{0, 1};
  b.transfers.start(InstanceId(0), kServer, both, swap_in(int64_t{2'000'000'000}));
  b.sim.run();
  // 1 GB on each GPU's 100 GB/s link, side by side.
  EXPECT_DOUBLE_EQ(b.moved_s(0), 0.010);
}

TEST(KvTransfers, NothingToMoveStartsNothing) {
  Bench b;
  const std::vector<int64_t> gpu0{0};
  EXPECT_FALSE(b.transfers.start(InstanceId(0), kServer, gpu0, KvMoves{}));
  EXPECT_FALSE(b.transfers.moving(InstanceId(0)));
  b.sim.run();
  EXPECT_TRUE(b.moved.at.empty());
}

TEST(KvTransfers, AFetchComesFromTheTierHoldingTheBlockOverItsPath) {
  KvTierParams p;
  p.dram_bytes_per_server = 1'000'000'000;
  p.ssd_bytes_per_server = int64_t{4'000'000'000};
  Bench b(1, p);
  constexpr int64_t kBlock = 400'000'000;
  b.tiers.evicted(kServer, kModel, 7, kBlock);
  b.tiers.evicted(kServer, kModel, 8, kBlock);
  b.tiers.evicted(kServer, kModel, 9, kBlock);  // DRAM holds 2 blocks: 7 goes down to the SSD
  ASSERT_EQ(b.tiers.holder(kServer, kModel, 7), KvTier::ssd);
  ASSERT_EQ(b.tiers.holder(kServer, kModel, 9), KvTier::dram);
  const std::vector<int64_t> gpu0{0};
  const auto offload = b.tiers.offload_for(kServer, kModel, kBlock);
  KvMoves from_dram;
  from_dram.block_bytes = kBlock;
  from_dram.fetches = {KvFetch{9, KvTier::dram}};
  offload->fetched(from_dram.fetches[0]);
  b.transfers.start(InstanceId(0), kServer, gpu0, from_dram);
  KvMoves from_ssd;
  from_ssd.block_bytes = kBlock;
  from_ssd.fetches = {KvFetch{7, KvTier::ssd}};
  offload->fetched(from_ssd.fetches[0]);
  const std::vector<int64_t> gpu1{1};
  b.transfers.start(InstanceId(1), kServer, gpu1, from_ssd);
  b.sim.run();
  // DRAM: 0.4 GB over the 100 GB/s host link. SSD: 0.4 GB at the SSD's 4 GB/s read.
  EXPECT_DOUBLE_EQ(b.moved_s(0), 0.004);
  EXPECT_DOUBLE_EQ(b.moved_s(1), 0.100);
}

TEST(KvTransfers, APoolFetchCrossesTheNetworkFromTheServerThatPooledIt) {
  KvTierParams p;
  p.pool_bytes = int64_t{10'000'000'000};
  Bench b(2, p);
  constexpr int64_t kBlock = 1'000'000'000;
  b.tiers.evicted(ServerId(1), kModel, 5, kBlock);
  ASSERT_EQ(b.tiers.holder(kServer, kModel, 5), KvTier::pool);
  KvMoves fetch;
  fetch.block_bytes = kBlock;
  fetch.fetches = {KvFetch{5, KvTier::pool}};
  b.tiers.offload_for(kServer, kModel, kBlock)->fetched(fetch.fetches[0]);
  EXPECT_EQ(fetch.fetches[0].source, 1u);  // the server that pooled it
  const std::vector<int64_t> gpu0{0};
  b.transfers.start(InstanceId(0), kServer, gpu0, fetch);
  b.sim.run();
  // Server 1's host memory -> its NIC -> the ToR -> server 0's NIC -> GPU 0: 1 GB at the 10 GB/s NIC.
  EXPECT_DOUBLE_EQ(b.moved_s(0), 0.100);
}

TEST(KvTransfers, ACancelledInstanceIsNeverTold) {
  Bench b;
  const std::vector<int64_t> gpu0{0};
  b.transfers.start(InstanceId(0), kServer, gpu0, swap_in(1'000'000'000));
  b.transfers.cancel(InstanceId(0));
  EXPECT_FALSE(b.transfers.moving(InstanceId(0)));
  b.sim.run();
  EXPECT_TRUE(b.moved.at.empty());
}

}  // namespace
}  // namespace slsim
