// Execute-while-load groups (load_source lambdascale, λScale's λPipe) in the loader, computed by
// hand. Four one-GPU servers of test_loading.h's round figures (remote store 1 GB/s, host NIC
// 10 GB/s) whose GPUs each have a 1.25 GB/s (10 Gb/s) RDMA NIC; a loaded copy of the model on
// server 0; no latencies, no start-up phases, so a load's time is its transfer alone. New
// instances on servers 1, 2, 3 read the copy, the later ones in a multicast chain behind the
// earlier (1.25 GB/s from a GPU beats the 1 GB/s store), every hop on NICs of its own.

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
  std::vector<InstanceId> done_order;
  struct Served {
    Time at;
    InstanceId head;
    Tier tier;
    std::vector<PeerCopy> stages;
  };
  std::vector<Served> served;
  void on_load_done(InstanceId id, const LoadOutcome&) override {
    done[id] = sim->now();
    done_order.push_back(id);
  }
  void on_group_serves(InstanceId head, Tier tier, const std::vector<PeerCopy>& stages) override {
    served.push_back(Served{sim->now(), head, tier, stages});
  }
};

using testing::load_source;

std::vector<ServerGroupSpec> servers() {
  ServerGroupSpec rdma = testing::round_servers(4, 1);
  rdma.server.gpu_nic_gbytes_per_s = 1.25;
  return {rdma};
}

struct Bench {
  explicit Bench(std::unique_ptr<LoadSourcePolicy> policy, const CheckpointFormat& format = {})
      : cluster(servers(), 1.0),
        topology(cluster, testing::no_latency()),
        network(sim, topology),
        loader(sim, cluster, topology, network, testing::transfer_only(), format, lru, lru, {}, nullptr,
               std::move(policy)) {
    recorder.sim = &sim;
  }
  // A scale-out's instance `instance` loads a 10 GB checkpoint onto server `server`'s GPU, the
  // copy on server 0 in reach.
  void load(uint32_t instance, uint32_t server, bool may_group = true) {
    const CheckpointPart part{CheckpointId(7), 10'000'000'000, 1};
    LoadRequest request{InstanceId(instance), ServerId(server), {0}, {}, {part}, {kCopy}};
    request.may_group = may_group;
    loader.start(request, recorder);
  }
  double done_s(uint32_t instance) { return recorder.done.at(InstanceId(instance)).seconds(); }

  const PeerCopy kCopy{ServerId(0), {0}, InstanceId(9)};
  EvictionFactory lru = &testing::lru_eviction;
  Simulator sim;
  Cluster cluster;
  Topology topology;
  FlowNetwork network;
  Loader loader;
  Recorder recorder;
};

TEST(GroupLoad, TwoReceiversServeAsOnePipelineOnceEachHoldsHalfAndAreLoadedAtTheWhole) {
  Bench b(load_source("lambdascale"));
  b.load(0, 1);
  b.load(1, 2);  // chains behind instance 0: server 1 forwards to server 2
  b.sim.run();
  // Each receiver's own half, 5 GB, at 1.25 GB/s: 4 s; the whole 10 GB: 8 s.
  ASSERT_EQ(b.recorder.served.size(), 1u);
  const Recorder::Served& served = b.recorder.served.front();
  EXPECT_DOUBLE_EQ(served.at.seconds(), 4.0);
  EXPECT_EQ(served.head, InstanceId(0));
  EXPECT_EQ(served.tier, Tier::gpu);
  ASSERT_EQ(served.stages.size(), 1u);
  EXPECT_EQ(served.stages[0].server, ServerId(2));
  EXPECT_EQ(served.stages[0].instance, InstanceId(1));
  EXPECT_DOUBLE_EQ(b.done_s(0), 8.0);
  EXPECT_DOUBLE_EQ(b.done_s(1), 8.0);
  EXPECT_EQ(b.recorder.done_order, (std::vector<InstanceId>{InstanceId(0), InstanceId(1)}));
}

TEST(GroupLoad, ThreeReceiversServeOnceEachHoldsAThird) {
  Bench b(load_source("lambdascale"));
  b.load(0, 1);
  b.load(1, 2);
  b.load(2, 3);
  b.sim.run();
  ASSERT_EQ(b.recorder.served.size(), 1u);
  EXPECT_NEAR(b.recorder.served.front().at.seconds(), 10.0 / 3 / 1.25, 1e-9);
  EXPECT_EQ(b.recorder.served.front().stages.size(), 2u);
  EXPECT_NEAR(b.done_s(2), 8.0, 1e-8);  // thirds of 10 GB round to the nanosecond
}

TEST(GroupLoad, ALoadStartedLaterJoinsTheChainButNotTheGroup) {
  Bench b(load_source("lambdascale"));
  b.load(0, 1);
  b.load(1, 2);
  b.sim.run(Time::from_seconds(1));
  b.load(2, 3);  // reads instance 1 as it receives, but the group of two began at 0
  b.sim.run();
  ASSERT_EQ(b.recorder.served.size(), 1u);
  EXPECT_DOUBLE_EQ(b.recorder.served.front().at.seconds(), 4.0);
  EXPECT_EQ(b.recorder.served.front().stages.size(), 1u);
  // Its own hop runs 1 s to 9 s; its predecessor is done at 8 s.
  EXPECT_DOUBLE_EQ(b.done_s(2), 9.0);
}

TEST(GroupLoad, ALoadStartedAtTheSameInstantAfterTheOtherBeganMovingBytesJoinsNoGroup) {
  Bench b(load_source("lambdascale"));
  b.load(0, 1);
  b.sim.run(Time::zero());  // no start-up: instance 0's transfers begin at 0, whole shards
  b.load(1, 2);
  b.sim.run();
  EXPECT_TRUE(b.recorder.served.empty());
  EXPECT_DOUBLE_EQ(b.done_s(0), 8.0);
  EXPECT_DOUBLE_EQ(b.done_s(1), 8.0);
}

TEST(GroupLoad, ALoneLoadOrOneThatMayNotGroupIsAPlainLoad) {
  Bench b(load_source("lambdascale"));
  b.load(0, 1);
  b.load(1, 2, false);  // a live migration's destination: chained, but in no group
  b.sim.run();
  EXPECT_TRUE(b.recorder.served.empty());
  EXPECT_DOUBLE_EQ(b.done_s(0), 8.0);
  EXPECT_DOUBLE_EQ(b.done_s(1), 8.0);
}

TEST(GroupLoad, WithoutExecuteWhileLoadTheMulticastAloneRuns) {
  Bench b(load_source("lambdascale", {{"execute_while_load", false}}));
  b.load(0, 1);
  b.load(1, 2);
  b.sim.run();
  EXPECT_TRUE(b.recorder.served.empty());
  EXPECT_DOUBLE_EQ(b.done_s(0), 8.0);
  EXPECT_DOUBLE_EQ(b.done_s(1), 8.0);
}

TEST(GroupLoad, AGroupOfOneLoadsExactlyAsBlitzScale) {
  Bench lambda(load_source("lambdascale"));
  Bench blitz(load_source("blitzscale"));
  for (Bench* b : {&lambda, &blitz}) {
    b->load(0, 1);
    b->sim.run();
  }
  EXPECT_TRUE(lambda.recorder.served.empty());
  EXPECT_EQ(lambda.recorder.done.at(InstanceId(0)), blitz.recorder.done.at(InstanceId(0)));
  EXPECT_DOUBLE_EQ(lambda.done_s(0), 8.0);
}

TEST(GroupLoad, ExecuteWhileLoadWithAStagedFormatIsRefusedWithItsJsonPath) {
  CheckpointFormat staged;
  staged.pipelined = false;
  try {
    Bench b(load_source("lambdascale"), staged);
    FAIL() << "a staged format was accepted";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("policies.load_source.params.execute_while_load"), std::string::npos)
        << e.what();
  }
  EXPECT_NO_THROW((Bench(load_source("lambdascale", {{"execute_while_load", false}}), staged)));
}

TEST(GroupLoad, AnExecuteWhileLoadThatIsNotABoolIsRefusedWithItsJsonPath) {
  try {
    load_source("lambdascale", {{"execute_while_load", "yes"}});
    FAIL() << "a string was accepted";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("policies.load_source.params.execute_while_load"), std::string::npos)
        << e.what();
  }
}

}  // namespace
}  // namespace slsim
