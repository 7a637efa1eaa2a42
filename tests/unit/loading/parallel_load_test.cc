// Parallel cold starts (policies.load_source hydraserve): a load's stages, on several servers,
// each fetch an equal share of the checkpoint from the remote store over their own NICs, with
// answers computed by hand. Servers of test_loading.h's round figures but a 1.25 GB/s NIC (the
// per-server storage link), a 100 GB/s remote store (so that the NICs are the bottleneck unless
// a test narrows the store), one GPU each, one rack, no latencies.

#include <gtest/gtest.h>

#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "sim/core/errors.h"
#include "sim/loading/loader.h"
#include "sim/policy/load_source/load_source.h"
#include "tests/unit/loading/test_loading.h"

namespace slsim {
namespace {

struct Recorder : LoadListener {
  Simulator* sim = nullptr;
  std::map<InstanceId, Time> done;
  std::map<InstanceId, Time> consolidated;
  void on_load_done(InstanceId id, const LoadOutcome&) override { done[id] = sim->now(); }
  void on_consolidated(InstanceId id) override { consolidated[id] = sim->now(); }
};

std::unique_ptr<LoadSourcePolicy> hydraserve(Json params) {
  return testing::load_source("hydraserve", std::move(params));
}

std::vector<ServerGroupSpec> servers() {
  ServerGroupSpec g = testing::round_servers(4, 1);
  g.server.nic_gbytes_per_s = 1.25;
  return {g};
}

struct Bench {
  Bench(std::unique_ptr<LoadSourcePolicy> policy, double store_gbytes_per_s = 100, const LoaderParams& params = {})
      : cluster(servers(), store_gbytes_per_s),
        topology(cluster, testing::no_latency()),
        network(sim, topology),
        loader(sim, cluster, topology, network, params, CheckpointFormat{}, lru, lru, {}, nullptr, std::move(policy)) {
    recorder.sim = &sim;
  }
  Bench(std::unique_ptr<LoadSourcePolicy> policy, const LoaderParams& params) : Bench(std::move(policy), 100, params) {}
  // Instance 0 loads a `gigabytes` checkpoint onto server 0's GPU, with stages on servers 1.. `stages`.
  void load(double gigabytes, int64_t stages) {
    const CheckpointPart part{CheckpointId(7), static_cast<int64_t>(gigabytes * 1e9), 1};
    LoadRequest request{InstanceId(0), ServerId(0), {0}, {}, {part}, {}};
    for (int64_t s = 1; s <= stages; ++s) request.stages.push_back(PeerCopy{ServerId(s), {0}});
    loader.start(request, recorder);
  }
  double done_s() const { return recorder.done.at(InstanceId(0)).seconds(); }

  EvictionFactory lru = &testing::lru_eviction;
  Simulator sim;
  Cluster cluster;
  Topology topology;
  FlowNetwork network;
  Loader loader;
  Recorder recorder;
};

Json consolidate(bool on) { return Json{{"parallel_servers", 4}, {"consolidate", on}}; }

TEST(ParallelLoad, OneServerReadsTenGigabytesOverItsNicInEightSeconds) {
  Bench b(hydraserve(consolidate(false)), testing::transfer_only());
  b.load(10, 0);
  b.sim.run();
  EXPECT_NEAR(b.done_s(), 8.0, 1e-8);  // 10 GB / 1.25 GB/s
}

TEST(ParallelLoad, FourServersEachFetchAQuarterOverTheirOwnNicsInTwoSeconds) {
  Bench b(hydraserve(consolidate(false)), testing::transfer_only());
  EXPECT_EQ(b.loader.parallel_servers(), 4);
  b.load(10, 3);
  b.sim.run();
  EXPECT_NEAR(b.done_s(), 2.0, 1e-8);  // 2.5 GB each at 1.25 GB/s, at once
  EXPECT_EQ(b.loader.parallel_loads(), 1);
  // The bytes pass through no one host whole: nothing is offered to the DRAM caches.
  EXPECT_FALSE(b.loader.dram(ServerId(0)).contains(CheckpointId(7)));
}

TEST(ParallelLoad, StagesShareANarrowStoreLinkAsFlows) {
  // The store moves 2.5 GB/s in all: the four stages' 10 GB take 4 s, not 2.
  Bench b(hydraserve(consolidate(false)), 2.5, testing::transfer_only());
  b.load(10, 3);
  b.sim.run();
  EXPECT_NEAR(b.done_s(), 4.0, 1e-8);
}

TEST(ParallelLoad, TheStartUpRunsBesideTheFetchNotBeforeIt) {
  // Process start 3 s: alone the load is ready at 3 + 8 = 11 s; in parallel at max(3, 2) = 3 s.
  Bench one(hydraserve(consolidate(false)), testing::transfer_only(3));
  one.load(10, 0);
  one.sim.run();
  EXPECT_NEAR(one.done_s(), 11.0, 1e-8);
  Bench four(hydraserve(consolidate(false)), testing::transfer_only(3));
  four.load(10, 3);
  four.sim.run();
  EXPECT_NEAR(four.done_s(), 3.0, 1e-8);
}

TEST(ParallelLoad, ConsolidationPullsTheOtherStagesThroughThePrimarysNic) {
  // Ready at 2 s; then three 2.5 GB shares cross server 0's 1.25 GB/s NIC together: 6 s more.
  Bench b(hydraserve(consolidate(true)), testing::transfer_only());
  b.load(10, 3);
  b.sim.run();
  EXPECT_NEAR(b.done_s(), 2.0, 1e-8);
  EXPECT_NEAR(b.recorder.consolidated.at(InstanceId(0)).seconds(), 8.0, 1e-8);
}

TEST(ParallelLoad, ACancelledConsolidationNeverReports) {
  Bench b(hydraserve(consolidate(true)), testing::transfer_only());
  b.load(10, 3);
  b.sim.run(Time::from_seconds(3));
  b.loader.cancel_consolidation(InstanceId(0));
  b.sim.run();
  EXPECT_TRUE(b.recorder.consolidated.empty());
}

TEST(ParallelLoad, AStagedFormatIsRefusedNamingTheParameter) {
  LoaderParams params = testing::transfer_only();
  params.format = "safetensors";
  CheckpointFormat staged;
  staged.pipelined = false;
  EvictionFactory lru = &testing::lru_eviction;
  Simulator sim;
  Cluster cluster(servers(), 100);
  Topology topology(cluster, testing::no_latency());
  FlowNetwork network(sim, topology);
  try {
    Loader loader(sim, cluster, topology, network, params, staged, lru, lru, {}, nullptr,
                  hydraserve(consolidate(true)));
    FAIL() << "a staged format was accepted";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("policies.load_source.params.parallel_servers"), std::string::npos);
  }
}

TEST(ParallelLoad, ParallelServersOutOfRangeAreRefusedWithTheirJsonPath) {
  for (const int64_t bad : {0, 65}) {
    try {
      hydraserve(Json{{"parallel_servers", bad}});
      FAIL() << bad << " was accepted";
    } catch (const InputError& e) {
      EXPECT_NE(std::string(e.what()).find("policies.load_source.params.parallel_servers"), std::string::npos)
          << e.what();
    }
  }
}

}  // namespace
}  // namespace slsim
