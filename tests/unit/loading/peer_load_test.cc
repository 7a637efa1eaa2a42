// Loads from GPUs that hold the model, on this server or others, under the load source
// policies, with answers computed by hand. Three two-GPU servers of test_loading.h's round
// figures (host links 100 GB/s, NVLink 400 GB/s, host NIC 10 GB/s, remote store 1 GB/s) whose
// GPUs each have a 50 GB/s RDMA NIC, and a fourth server without them; one rack, no latencies,
// no start-up phases, so a load's time is its transfer alone.

#include <gtest/gtest.h>

#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "sim/loading/loader.h"
#include "sim/policy/load_source/load_source.h"
#include "tests/unit/loading/test_loading.h"

namespace slsim {
namespace {

struct Recorder : LoadListener {
  Simulator* sim = nullptr;
  std::map<InstanceId, std::pair<Time, LoadOutcome>> done;
  // Live scaling: when each instance went live, and from which source.
  std::map<InstanceId, std::pair<Time, InstanceId>> live;
  void on_load_done(InstanceId id, const LoadOutcome& outcome) override { done[id] = {sim->now(), outcome}; }
  void on_live_load(InstanceId id, InstanceId source) override { live[id] = {sim->now(), source}; }
};

using testing::load_source;

std::vector<ServerGroupSpec> servers() {
  ServerGroupSpec rdma = testing::round_servers(3, 2);
  rdma.server.gpu_nic_gbytes_per_s = 50;
  return {rdma, testing::round_servers(1, 2)};
}

struct Bench {
  explicit Bench(std::unique_ptr<LoadSourcePolicy> policy)
      : cluster(servers(), 1.0),
        topology(cluster, testing::no_latency()),
        network(sim, topology),
        loader(sim, cluster, topology, network, testing::transfer_only(), CheckpointFormat{}, lru, lru, {}, nullptr,
               std::move(policy)) {
    recorder.sim = &sim;
  }
  // Instance `instance` loads a `gigabytes` checkpoint (part 7) onto `gpus` of `server`; `peers`
  // are loaded copies on other servers.
  void load(uint32_t instance, uint32_t server, std::vector<int64_t> gpus, double gigabytes,
            std::vector<PeerCopy> peers = {}) {
    const CheckpointPart part{CheckpointId(7), static_cast<int64_t>(gigabytes * 1e9), 1};
    loader.start(LoadRequest{InstanceId(instance), ServerId(server), std::move(gpus), {}, {part}, std::move(peers)},
                 recorder);
  }
  double done_s(uint32_t instance) { return recorder.done.at(InstanceId(instance)).first.seconds(); }
  Tier tier(uint32_t instance) { return recorder.done.at(InstanceId(instance)).second.tier; }

  EvictionFactory lru = &testing::lru_eviction;
  Simulator sim;
  Cluster cluster;
  Topology topology;
  FlowNetwork network;
  Loader loader;
  Recorder recorder;
};

const PeerCopy kCopyOnServer0{ServerId(0), {0}};

TEST(PeerLoad, ACopyOnAnotherServerLoadsOverTheGpuNicsAtTheirRate) {
  Bench b(load_source("blitzscale"));
  EXPECT_TRUE(b.loader.reads_other_servers());
  b.load(0, 1, {0}, 5.0, {kCopyOnServer0});
  b.sim.run();
  EXPECT_DOUBLE_EQ(b.done_s(0), 0.1);  // 5 GB at 50 GB/s, not the 1 GB/s store or the 10 GB/s host NIC
  EXPECT_EQ(b.tier(0), Tier::gpu);
  EXPECT_FALSE(b.loader.dram(ServerId(1)).contains(CheckpointId(7)));  // GPU to GPU, not through host memory
}

TEST(PeerLoad, ACopyOnAnotherServerSlowerThanTheServersDramIsNotRead) {
  Bench b(load_source("blitzscale"));
  ASSERT_TRUE(b.loader.stage(ServerId(1), CheckpointPart{CheckpointId(7), 5'000'000'000, 1}, Tier::dram));
  b.load(0, 1, {0}, 5.0, {kCopyOnServer0});
  b.sim.run();
  EXPECT_DOUBLE_EQ(b.done_s(0), 0.05);  // 5 GB over the 100 GB/s host link, not the 50 GB/s NIC
  EXPECT_EQ(b.tier(0), Tier::dram);
}

TEST(PeerLoad, ALoadDoesNotChainBehindAStorageLoadWhenItsOwnSsdIsFaster) {
  Bench b(load_source("blitzscale"));
  ASSERT_TRUE(b.loader.stage(ServerId(1), CheckpointPart{CheckpointId(7), 1'000'000'000, 1}, Tier::ssd));
  b.load(0, 0, {0}, 1.0);  // from the 1 GB/s store
  b.load(1, 1, {0}, 1.0);  // its SSD reads at 4 GB/s: 0.25 s
  b.sim.run();
  EXPECT_DOUBLE_EQ(b.done_s(0), 1.0);
  EXPECT_DOUBLE_EQ(b.done_s(1), 0.25);
  EXPECT_EQ(b.tier(1), Tier::ssd);
}

TEST(PeerLoad, EachShardOfATensorParallelLoadUsesItsOwnGpusNic) {
  Bench b(load_source("blitzscale"));
  b.load(0, 1, {0, 1}, 5.0, {PeerCopy{ServerId(0), {0, 1}}});
  b.sim.run();
  EXPECT_DOUBLE_EQ(b.done_s(0), 0.05);  // two 2.5 GB shards, each at 50 GB/s
}

TEST(PeerLoad, TieredIgnoresCopiesOnOtherServers) {
  Bench b(load_source("tiered"));
  EXPECT_FALSE(b.loader.reads_other_servers());
  b.load(0, 1, {0}, 5.0, {kCopyOnServer0});
  b.sim.run();
  EXPECT_DOUBLE_EQ(b.done_s(0), 5.0);  // 5 GB from the 1 GB/s store
  EXPECT_EQ(b.tier(0), Tier::remote);
}

TEST(PeerLoad, WithNoGpuHoldingTheModelBlitzScaleFallsBackToTheTiers) {
  Bench b(load_source("blitzscale"));
  b.load(0, 1, {0}, 5.0);
  b.sim.run();
  EXPECT_DOUBLE_EQ(b.done_s(0), 5.0);
  EXPECT_EQ(b.tier(0), Tier::remote);
  EXPECT_TRUE(b.loader.dram(ServerId(1)).contains(CheckpointId(7)));
}

TEST(PeerLoad, AServerWithoutGpuNicsDoesNotReadOtherServersGpus) {
  Bench b(load_source("blitzscale"));
  b.load(0, 3, {0}, 5.0, {kCopyOnServer0});  // server 3 has no GPU NICs
  b.load(1, 1, {0}, 5.0, {PeerCopy{ServerId(3), {0}}});
  b.sim.run();
  // Both from the store (no chain: the second's only source would be the first, across the host path).
  EXPECT_EQ(b.tier(0), Tier::remote);
  EXPECT_EQ(b.tier(1), Tier::remote);
  EXPECT_DOUBLE_EQ(b.done_s(0), 10.0);  // two 5 GB loads share the 1 GB/s store
}

TEST(PeerLoad, TwoReceiversChainedFromOneSourceEachFinishAtOneShardOverTheLinkRate) {
  Bench b(load_source("blitzscale"));
  b.load(0, 1, {0}, 5.0, {kCopyOnServer0});
  b.load(1, 2, {0}, 5.0, {kCopyOnServer0});  // chains behind instance 0: server 1 forwards to server 2
  b.sim.run();
  // Hops 0 -> 1 and 1 -> 2 each have their own NICs at 50 GB/s: both done at 0.1 s.
  EXPECT_DOUBLE_EQ(b.done_s(0), 0.1);
  EXPECT_DOUBLE_EQ(b.done_s(1), 0.1);
  EXPECT_EQ(b.tier(1), Tier::gpu);
}

TEST(PeerLoad, WithoutTheChainTwoReceiversShareTheSourcesNic) {
  Bench b(load_source("blitzscale", {{"multicast_chain", false}}));
  b.load(0, 1, {0}, 5.0, {kCopyOnServer0});
  b.load(1, 2, {0}, 5.0, {kCopyOnServer0});
  b.sim.run();
  EXPECT_DOUBLE_EQ(b.done_s(0), 0.2);  // 25 GB/s each out of server 0's GPU 0
  EXPECT_DOUBLE_EQ(b.done_s(1), 0.2);
}

TEST(PeerLoad, AReceiverChainedBehindAStorageLoadFinishesWithIt) {
  Bench b(load_source("blitzscale"));
  b.load(0, 0, {0}, 1.0);  // from the 1 GB/s store: 1 s
  b.load(1, 1, {0}, 1.0);  // no copy anywhere yet: chains behind instance 0
  b.sim.run();
  // Its own hop (1 GB at 50 GB/s) is done at 0.02 s, but it cannot end before what it forwards.
  EXPECT_DOUBLE_EQ(b.done_s(0), 1.0);
  EXPECT_DOUBLE_EQ(b.done_s(1), 1.0);
  EXPECT_EQ(b.tier(1), Tier::gpu);
}

TEST(PeerLoad, AChainOfThreeEndsTogetherAndALaterLoadReadsALoadedCopy) {
  Bench b(load_source("blitzscale"));
  b.load(0, 0, {0}, 1.0);
  b.load(1, 1, {0}, 1.0);
  b.load(2, 2, {0}, 1.0);
  b.sim.run();
  EXPECT_DOUBLE_EQ(b.done_s(2), 1.0);  // tiered, the three would share the store: 3 s
  const double start = b.sim.now().seconds();
  b.load(3, 2, {1}, 1.0, {kCopyOnServer0});  // the chain is over: a new source
  b.sim.run();
  EXPECT_NEAR(b.done_s(3) - start, 0.02, 1e-9);  // 1 GB at 50 GB/s
}

TEST(PeerLoad, BlitzScalesHostCacheCapBoundsEachServersDramCache) {
  Bench b(load_source("blitzscale", {{"host_cache_bytes", 0}}));
  EXPECT_EQ(b.loader.dram(ServerId(0)).capacity_bytes(), 0);
  b.load(0, 0, {0}, 1.0);
  b.sim.run();
  EXPECT_FALSE(b.loader.dram(ServerId(0)).contains(CheckpointId(7)));
  EXPECT_EQ(Bench(load_source("blitzscale")).loader.dram(ServerId(0)).capacity_bytes(), int64_t{1} << 40);
}

TEST(PeerLoad, WithLiveScalingALoadFromAServingCopyGoesLiveWhenItsTransfersBegin) {
  Bench b(load_source("blitzscale", {{"live_scaling", true}}));
  b.load(0, 1, {0}, 5.0, {PeerCopy{ServerId(0), {0}, InstanceId(9)}});
  b.sim.run(Time::from_seconds(0.025));
  ASSERT_EQ(b.recorder.live.count(InstanceId(0)), 1u);
  EXPECT_EQ(b.recorder.live.at(InstanceId(0)).first, Time::zero());  // no start-up phases in this bench
  EXPECT_EQ(b.recorder.live.at(InstanceId(0)).second, InstanceId(9));
  EXPECT_NEAR(b.loader.loaded_fraction(InstanceId(0)), 0.25, 1e-9);  // 1.25 of 5 GB at 50 GB/s by 0.025 s
  b.sim.run();
  EXPECT_DOUBLE_EQ(b.done_s(0), 0.1);
  EXPECT_EQ(b.loader.loaded_fraction(InstanceId(0)), 1.0);
}

TEST(PeerLoad, WithLiveScalingAChainHeadedByAServingCopyGoesLiveWithThatCopyAsSource) {
  Bench b(load_source("blitzscale", {{"live_scaling", true}}));
  b.load(0, 1, {0}, 5.0, {PeerCopy{ServerId(0), {0}, InstanceId(9)}});
  b.load(1, 2, {0}, 5.0, {PeerCopy{ServerId(0), {0}, InstanceId(9)}});  // chains behind instance 0
  b.sim.run(Time::from_seconds(0.05));
  ASSERT_EQ(b.recorder.live.count(InstanceId(1)), 1u);
  EXPECT_EQ(b.recorder.live.at(InstanceId(1)).second, InstanceId(9));
  EXPECT_NEAR(b.loader.loaded_fraction(InstanceId(1)), 0.5, 1e-9);  // its own hop: 2.5 of 5 GB at 50 GB/s
}

TEST(PeerLoad, LiveScalingLeavesLoadsFromTheTiersAndChainsBehindThemStopped) {
  Bench b(load_source("blitzscale", {{"live_scaling", true}}));
  b.load(0, 0, {0}, 1.0);                                               // from the store
  b.load(1, 1, {0}, 1.0, {PeerCopy{ServerId(2), {1}, InstanceId(9)}});  // chains behind instance 0
  b.sim.run();
  EXPECT_TRUE(b.recorder.live.empty());
  EXPECT_DOUBLE_EQ(b.done_s(1), 1.0);
}

TEST(PeerLoad, WithoutLiveScalingNoLoadGoesLive) {
  Bench b(load_source("blitzscale"));
  b.load(0, 1, {0}, 5.0, {PeerCopy{ServerId(0), {0}, InstanceId(9)}});
  b.sim.run();
  EXPECT_TRUE(b.recorder.live.empty());
  EXPECT_DOUBLE_EQ(b.done_s(0), 0.1);
}

}  // namespace
}  // namespace slsim
