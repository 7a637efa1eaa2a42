// Loads that fork a loaded instance (load source deepserve, DeepServe's NPU-fork), with answers
// computed by hand. Three two-GPU servers of test_loading.h's round figures (host links 100 GB/s,
// NVLink 400 GB/s, remote store 1 GB/s) whose GPUs each have a 50 GB/s RDMA NIC; no latencies.
// The test GPU's measured start-up: process start 4 s, CUDA context 0.25 s, engine set-up 6 s
// (10.25 s before the load), compilation 5.5 s, graph capture 2.5 s, warm-up 0.25 s (8.25 s after).

#include <gtest/gtest.h>

#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "sim/core/errors.h"
#include "sim/loading/loader.h"
#include "sim/policy/load_source/load_source.h"
#include "sim/policy/startup/startup.h"
#include "tests/unit/loading/test_loading.h"

namespace slsim {
namespace {

struct Recorder : LoadListener {
  Simulator* sim = nullptr;
  std::map<InstanceId, std::pair<Time, LoadOutcome>> done;
  int64_t captures = 0;
  void on_load_done(InstanceId id, const LoadOutcome& outcome) override { done[id] = {sim->now(), outcome}; }
  void on_graph_capture(InstanceId /*id*/) override { ++captures; }
};

using testing::load_source;
using testing::measured_test_gpu;

ServerGroupSpec rdma_servers() {
  ServerGroupSpec rdma = testing::round_servers(3, 2);
  rdma.server.gpu_nic_gbytes_per_s = 50;
  return rdma;
}

const InstanceId kWarm(9);  // the loaded instance a fork copies

struct Bench {
  explicit Bench(std::unique_ptr<LoadSourcePolicy> policy, std::unique_ptr<StartupPolicy> startup = nullptr)
      : cluster({rdma_servers()}, 1.0),
        topology(cluster, testing::no_latency()),
        network(sim, topology),
        loader(sim, cluster, topology, network, testing::measured_startup(), CheckpointFormat{}, lru, lru,
               measured_test_gpu(), std::move(startup), std::move(policy)) {
    recorder.sim = &sim;
  }
  // Instance `instance` loads a `gigabytes` checkpoint (part 7) onto `gpus` of `server`; a warm
  // instance on `source_gpus` of the same server, or on other servers (`peers`).
  void load(uint32_t instance, uint32_t server, std::vector<int64_t> gpus, double gigabytes,
            std::vector<int64_t> source_gpus = {}, std::vector<PeerCopy> peers = {}) {
    const CheckpointPart part{CheckpointId(7), static_cast<int64_t>(gigabytes * 1e9), 1};
    LoadRequest request{InstanceId(instance),   ServerId(server), std::move(gpus),
                        std::move(source_gpus), {part},           std::move(peers)};
    if (!request.source_gpus.empty()) request.source_instance = kWarm;
    loader.start(request, recorder);
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

const PeerCopy kWarmOnServer0{ServerId(0), {0}, kWarm};

TEST(ForkLoad, AForkOnTheSameServerIsTheForkCostTheNvlinkCopyAndTheWarmUp) {
  Bench b(load_source("deepserve"));
  EXPECT_TRUE(b.loader.forks());
  b.load(0, 0, {1}, 4.0, {0});
  b.sim.run();
  // fork 0.5 s, 4 GB over the 400 GB/s NVLink 0.01 s, warm-up 0.25 s; no process start, context,
  // set-up (10.25 s), compilation (5.5 s) or capture (2.5 s).
  EXPECT_DOUBLE_EQ(b.done_s(0), 0.5 + 0.01 + 0.25);
  EXPECT_EQ(b.tier(0), Tier::gpu);
  EXPECT_EQ(b.recorder.captures, 0);
  EXPECT_EQ(b.loader.forked_loads(), 1);
  EXPECT_EQ(b.loader.fork_fallbacks(), 0);
}

TEST(ForkLoad, BlitzScalesSameServerCopyPaysTheWholeStartUp) {
  Bench b(load_source("blitzscale"));
  EXPECT_FALSE(b.loader.forks());
  b.load(0, 0, {1}, 4.0, {0});
  b.sim.run();
  EXPECT_DOUBLE_EQ(b.done_s(0), 10.25 + 0.01 + 8.25);
  EXPECT_EQ(b.recorder.captures, 1);
}

TEST(ForkLoad, AForkAcrossServersMovesTheWeightsAtTheGpuNicRate) {
  Bench b(load_source("deepserve", {{"fork_s", 1.0}}));
  b.load(0, 1, {0}, 5.0, {}, {kWarmOnServer0});
  b.sim.run();
  // fork 1 s, 5 GB at the 50 GB/s GPU NIC 0.1 s, warm-up 0.25 s.
  EXPECT_DOUBLE_EQ(b.done_s(0), 1.0 + 0.1 + 0.25);
  EXPECT_EQ(b.tier(0), Tier::gpu);
  EXPECT_FALSE(b.loader.dram(ServerId(1)).contains(CheckpointId(7)));
}

TEST(ForkLoad, AForkIsTakenOverAFasterDramHit) {
  // Server 1's DRAM holds the model (5 GB at 100 GB/s: 0.05 s), faster than the 50 GB/s NIC.
  // blitzscale reads DRAM: 10.25 + 0.05 + 8.25 s; deepserve forks: 0.5 + 0.1 + 0.25 s.
  const CheckpointPart part{CheckpointId(7), 5'000'000'000, 1};
  Bench blitz(load_source("blitzscale"));
  ASSERT_TRUE(blitz.loader.stage(ServerId(1), part, Tier::dram));
  blitz.load(0, 1, {0}, 5.0, {}, {kWarmOnServer0});
  blitz.sim.run();
  EXPECT_DOUBLE_EQ(blitz.done_s(0), 10.25 + 0.05 + 8.25);
  EXPECT_EQ(blitz.tier(0), Tier::dram);
  Bench deep(load_source("deepserve"));
  ASSERT_TRUE(deep.loader.stage(ServerId(1), part, Tier::dram));
  deep.load(0, 1, {0}, 5.0, {}, {kWarmOnServer0});
  deep.sim.run();
  EXPECT_DOUBLE_EQ(deep.done_s(0), 0.5 + 0.1 + 0.25);
  EXPECT_EQ(deep.tier(0), Tier::gpu);
}

TEST(ForkLoad, TheMembersOfAChainFromAWarmInstanceAllFork) {
  Bench b(load_source("deepserve"));
  b.load(0, 1, {0}, 5.0, {}, {kWarmOnServer0});
  b.load(1, 2, {0}, 5.0, {}, {kWarmOnServer0});  // chains behind instance 0: server 1 forwards to 2
  b.sim.run();
  // Each hop at 50 GB/s on its own NICs: both 0.5 + 0.1 + 0.25 s.
  EXPECT_DOUBLE_EQ(b.done_s(0), 0.85);
  EXPECT_DOUBLE_EQ(b.done_s(1), 0.85);
  EXPECT_EQ(b.loader.forked_loads(), 2);
}

TEST(ForkLoad, WithNoWarmInstanceTheLoadIsBlitzScalesWithTheWholeStartUp) {
  // 1 GB from the 1 GB/s store, and a second load chained behind it (no loaded instance to fork):
  // both 10.25 + 1 + 8.25 s, as blitzscale's, and both counted as fallbacks.
  for (const char* name : {"blitzscale", "deepserve"}) {
    SCOPED_TRACE(name);
    Bench b(load_source(name));
    b.load(0, 0, {0}, 1.0);
    b.load(1, 1, {0}, 1.0);
    b.sim.run();
    EXPECT_DOUBLE_EQ(b.done_s(0), 10.25 + 1.0 + 8.25);
    EXPECT_DOUBLE_EQ(b.done_s(1), 10.25 + 1.0 + 8.25);
    EXPECT_EQ(b.tier(0), Tier::remote);
    EXPECT_EQ(b.tier(1), Tier::gpu);
    EXPECT_TRUE(b.loader.dram(ServerId(0)).contains(CheckpointId(7)));
    EXPECT_EQ(b.recorder.captures, 2);
    EXPECT_EQ(b.loader.forked_loads(), 0);
  }
  Bench b(load_source("deepserve"));
  b.load(0, 0, {0}, 1.0);
  b.load(1, 1, {0}, 1.0);
  b.sim.run();
  EXPECT_EQ(b.loader.fork_fallbacks(), 2);
}

TEST(ForkLoad, AForkThatDoesNotCopyTheGraphsCapturesThem) {
  Bench b(load_source("deepserve", {{"copies_graphs", false}}));
  b.load(0, 0, {1}, 4.0, {0});
  b.sim.run();
  // 0.5 + 0.01, then the 2.5 s capture and the 0.25 s warm-up.
  EXPECT_DOUBLE_EQ(b.done_s(0), 0.5 + 0.01 + 2.5 + 0.25);
  EXPECT_EQ(b.recorder.captures, 1);
  Bench compiles(load_source("deepserve", {{"copies_compilation", false}, {"copies_graphs", false}}));
  compiles.load(0, 0, {1}, 4.0, {0});
  compiles.sim.run();
  EXPECT_DOUBLE_EQ(compiles.done_s(0), 0.5 + 0.01 + 8.25);
}

TEST(ForkLoad, IntoAPrewarmedRuntimeTheForkStillSavesCompilationAndCapture) {
  // The pool pays the 10.25 s before the load; the fork costs 0.5 s and removes 5.5 + 2.5 s.
  Bench blitz(load_source("blitzscale"), testing::startup("prewarmed"));
  blitz.load(0, 0, {1}, 4.0, {0});
  blitz.sim.run();
  EXPECT_DOUBLE_EQ(blitz.done_s(0), 0.01 + 8.25);
  Bench deep(load_source("deepserve"), testing::startup("prewarmed"));
  deep.load(0, 0, {1}, 4.0, {0});
  deep.sim.run();
  EXPECT_DOUBLE_EQ(deep.done_s(0), 0.5 + 0.01 + 0.25);
}

TEST(ForkLoad, BadParamsAreConfigErrorsNamingTheirPath) {
  for (const auto& [params, path] :
       std::vector<std::pair<Json, std::string>>{{{{"fork_s", -1}}, "policies.load_source.params.fork_s"},
                                                 {{{"copies_graphs", 1}}, "policies.load_source.params.copies_graphs"},
                                                 {{{"fork_cost_s", 1}}, "policies.load_source.params.fork_cost_s"}}) {
    SCOPED_TRACE(path);
    try {
      load_source("deepserve", params);
      FAIL() << "accepted " << params.dump();
    } catch (const ConfigError& e) {
      EXPECT_NE(std::string(e.what()).find(path), std::string::npos) << e.what();
    }
  }
}

}  // namespace
}  // namespace slsim
