// Placement and routing with answers computed by hand. Two servers of one GPU each, with
// 100 GB/s host links, SSDs reading 4 GB/s, a remote store at 1 GB/s, no latencies, no
// start-up costs and an ideal loader, so a load takes bytes / rate: an 8 GB checkpoint takes
// 0.08 s from DRAM and 2 s from the SSD. Shepherd's cases use its default λ = 2 unless they set it.

#include <gtest/gtest.h>

#include "sim/policy/cache/cache_policies.h"
#include "sim/policy/scheduler/least_loaded.h"
#include "sim/policy/scheduler/prefix_aware_routing.h"
#include "sim/policy/scheduler/routing.h"
#include "sim/policy/scheduler/serverlessllm.h"
#include "sim/policy/scheduler/shepherd.h"
#include "tests/unit/loading/test_loading.h"

namespace slsim {
namespace {

const ServerId s0(0), s1(1);
const ModelId m0(0), m1(1);

struct Ignore : LoadListener {
  void on_load_done(InstanceId, const LoadOutcome&) override {}
};

struct Bench {
  Bench()
      : cluster({testing::round_servers(2, 1)}, 1.0),
        topology(cluster, testing::no_latency()),
        network(sim, topology),
        loader(sim, cluster, topology, network, testing::transfer_only(), CheckpointFormat{}, &testing::lru_eviction,
               &testing::lru_eviction),
        context{cluster, loader, RandomStream(1)} {
    // The checkpoint in server 0's DRAM and server 1's SSD.
    loader.preload(s0, part, Tier::dram);
    loader.preload(s1, part, Tier::ssd);
    sim.run(Time::max());
  }
  // Another checkpoint loading on `server` from remote storage: its estimate is its queue.
  void occupy(ServerId server, double gigabytes) {
    loader.start(LoadRequest{InstanceId(99),
                             server,
                             {0},
                             {},
                             {CheckpointPart{CheckpointId(7), static_cast<int64_t>(gigabytes * 1e9), 0}},
                             {}},
                 ignore);
  }
  PlacementRequest request() const { return PlacementRequest{m0, 1, part.bytes, parts, false, {}, {}, 0, 0}; }

  CheckpointPart part{CheckpointId(1), 8'000'000'000, 0};
  std::vector<CheckpointPart> parts{part};
  Simulator sim;
  Cluster cluster;
  Topology topology;
  FlowNetwork network;
  Loader loader;
  PlacementPolicy::Context context;
  Ignore ignore;
};

TEST(Loader, EstimateIsBytesOverTheFastestHoldingTiersRate) {
  Bench b;
  EXPECT_NEAR(b.loader.estimate(s0, b.parts, 1).seconds(), 0.08, 1e-9);
  EXPECT_NEAR(b.loader.estimate(s1, b.parts, 1).seconds(), 2.0, 1e-6);
  EXPECT_EQ(b.loader.queue_wait(s0), Time::zero());
}

TEST(ServerlessLlmPlacement, PicksTheDramServerOverTheSsdOneWhenQueuesAreEqual) {
  Bench b;
  ServerlessLlmPlacement policy({}, b.context);
  const auto placement = policy.place(b.request());
  ASSERT_TRUE(placement);
  EXPECT_EQ(placement->server, s0);
  EXPECT_NEAR(placement->estimated_start_s, 0.08, 1e-9);
}

TEST(ServerlessLlmPlacement, PicksTheSsdServerWhenTheDramServersQueueIsLongerThanTheDifference) {
  Bench b;
  ServerlessLlmPlacement policy({}, b.context);
  // A 1 GB remote load queues 1 s on server 0: 1.08 s is still less than 2 s.
  b.occupy(s0, 1);
  EXPECT_EQ(policy.place(b.request())->server, s0);
  // 3 GB more make the queue 4 s: 4.08 s > 2 s.
  b.occupy(s0, 3);
  EXPECT_NEAR(b.loader.queue_wait(s0).seconds(), 4.0, 1e-6);
  const auto placement = policy.place(b.request());
  EXPECT_EQ(placement->server, s1);
  EXPECT_NEAR(placement->estimated_start_s, 2.0, 1e-6);
}

TEST(ServerlessLlmPlacement, AddsTheMigrationTimeOfTheInstanceInTheWay) {
  Bench b;
  ServerlessLlmPlacement::Params params;
  params.migration_s_per_token = 0.01;  // the ServerlessLLM repository's a and b
  params.migration_base_s = 0.1;
  ServerlessLlmPlacement policy(params, b.context);
  b.cluster.take_gpus(s0, 1);
  b.cluster.take_gpus(s1, 1);
  // Server 0's instance has 100 tokens in flight and could reload elsewhere in 0.5 s:
  // 0.5 + 0.01 * 100 + 0.1 = 1.6 s, then 0.08 s to load: 1.68 s. Server 1's needs 300 tokens:
  // 0.5 + 3 + 0.1 + 2 = 5.6 s.
  const std::vector<InstanceView> movable{{InstanceId(5), ModelId(3), s0, 1, 1, 100, 0, 0, 0.5},
                                          {InstanceId(6), ModelId(3), s1, 1, 1, 300, 0, 0, 0.5}};
  PlacementRequest request = b.request();
  request.may_free_gpus = true;
  request.movable = movable;
  const auto placement = policy.place(request);
  ASSERT_TRUE(placement);
  EXPECT_EQ(placement->server, s0);
  EXPECT_EQ(placement->victims, std::vector<InstanceId>{InstanceId(5)});
  EXPECT_NEAR(placement->estimated_start_s, 1.68, 1e-9);
  // Without the migration policy's consent nothing fits.
  request.may_free_gpus = false;
  EXPECT_FALSE(policy.place(request));
}

TEST(LocalityPlacement, PrefersDramThenSsdThenLeastLoaded) {
  Bench b;
  LocalityPlacement policy({}, b.context);
  EXPECT_EQ(policy.place(b.request())->server, s0);
  b.cluster.take_gpus(s0, 1);
  EXPECT_EQ(policy.place(b.request())->server, s1);
}

TEST(ShepherdPlacement, WithAFreeGpuPicksLocalitysServer) {
  Bench b;
  ShepherdPlacement shepherd({}, b.context);
  LocalityPlacement locality({}, b.context);
  EXPECT_EQ(shepherd.place(b.request())->server, s0);  // DRAM
  EXPECT_TRUE(shepherd.place(b.request())->victims.empty());
  EXPECT_EQ(locality.place(b.request())->server, s0);
  b.cluster.take_gpus(s0, 1);
  EXPECT_EQ(shepherd.place(b.request())->server, s1);  // SSD, the only free GPU
  EXPECT_EQ(locality.place(b.request())->server, s1);
}

// Both GPUs busy: server 0's instance holds 300 tokens, server 1's 100. The cheapest room is
// server 1 (100 tokens lost, though server 0 has the checkpoint in DRAM); at λ = 2 it takes
// 200 waiting input tokens.
struct BothGpusBusy {
  BothGpusBusy() {
    b.cluster.take_gpus(s0, 1);
    b.cluster.take_gpus(s1, 1);
    request.may_free_gpus = true;
    request.movable = movable;
    request.waiting_requests = 2;
  }
  Bench b;
  const std::vector<InstanceView> movable{{InstanceId(5), ModelId(3), s0, 1, 1, 300, 0, 0, -1},
                                          {InstanceId(6), ModelId(3), s1, 1, 1, 100, 0, 0, -1}};
  PlacementRequest request = b.request();
};

TEST(ShepherdPlacement, WithoutAFreeGpuWaitsWhileTheWaitingTokensAreBelowLambdaTimesTheVictims) {
  BothGpusBusy g;
  ShepherdPlacement policy({}, g.b.context);
  g.request.waiting_input_tokens = 199;
  EXPECT_FALSE(policy.place(g.request));
  EXPECT_TRUE(policy.weighs_victims());  // so the placer frees no GPUs on its behalf either
}

TEST(ShepherdPlacement, WithoutAFreeGpuPreemptsTheFewestTokenVictimOnceTheWaitingTokensReachLambdaTimesThem) {
  BothGpusBusy g;
  ShepherdPlacement policy({}, g.b.context);
  g.request.waiting_input_tokens = 200;
  const auto placement = policy.place(g.request);
  ASSERT_TRUE(placement);
  EXPECT_EQ(placement->server, s1);
  EXPECT_EQ(placement->victims, std::vector<InstanceId>{InstanceId(6)});
}

TEST(ShepherdPlacement, PreemptFactorSetsTheGate) {
  BothGpusBusy g;
  ShepherdPlacement::Params params;
  params.preempt_factor = 0.5;
  ShepherdPlacement policy(params, g.b.context);
  g.request.waiting_input_tokens = 49;  // < 0.5 × 100
  EXPECT_FALSE(policy.place(g.request));
  g.request.waiting_input_tokens = 50;
  EXPECT_EQ(policy.place(g.request)->victims, std::vector<InstanceId>{InstanceId(6)});
}

TEST(ShepherdPlacement, EqualLossesGoToTheServerWithTheFasterTier) {
  BothGpusBusy g;
  ShepherdPlacement policy({}, g.b.context);
  // Both instances idle: freeing either loses nothing; server 0 has the checkpoint in DRAM.
  const std::vector<InstanceView> idle{{InstanceId(5), ModelId(3), s0, 1, 0, 0, 0, 0, -1},
                                       {InstanceId(6), ModelId(3), s1, 1, 0, 0, 0, 0, -1}};
  g.request.movable = idle;
  g.request.waiting_input_tokens = 1;
  const auto placement = policy.place(g.request);
  ASSERT_TRUE(placement);
  EXPECT_EQ(placement->server, s0);
  EXPECT_EQ(placement->victims, std::vector<InstanceId>{InstanceId(5)});
}

TEST(ShepherdPlacement, AStartWithNoRequestWaitingMakesNoRoom) {
  BothGpusBusy g;
  ShepherdPlacement policy({}, g.b.context);
  const std::vector<InstanceView> idle{{InstanceId(5), ModelId(3), s0, 1, 0, 0, 0, 0, -1}};
  g.request.movable = idle;
  g.request.waiting_requests = 0;  // a start ahead of demand: even an idle instance keeps its GPU
  EXPECT_FALSE(policy.place(g.request));
  g.request.waiting_requests = 1;
  EXPECT_TRUE(policy.place(g.request));
}

// Instance 11 holds 512 prompt tokens, 12 holds 256: 11 gets the request while its load is within
// either bound of the least loaded (10); with 10 requests at 11 against 2 at 10 it is past both
// (10 − 2 > 4 and 10 > 1.5 · 2) and least-outstanding takes over; past one bound only it is not.
TEST(Routing, PrefixAwareTakesTheLongestCachedPrefixUntilItsLoadIsPastBothBounds) {
  RoutingPolicy::Context context{RandomStream(3)};
  PrefixAwareRouting::Params p;
  p.balance_abs_requests = 4;
  p.balance_rel = 1.5;
  PrefixAwareRouting prefix(p, context);
  EXPECT_TRUE(prefix.reads_cached_prefixes());
  EXPECT_EQ(
      prefix.route(
          m0, std::vector<RouteCandidate>{{InstanceId(10), 2, 0}, {InstanceId(11), 6, 512}, {InstanceId(12), 3, 256}}),
      1u);
  EXPECT_EQ(
      prefix.route(
          m0, std::vector<RouteCandidate>{{InstanceId(10), 2, 0}, {InstanceId(11), 10, 512}, {InstanceId(12), 3, 256}}),
      0u);
  // 20 − 12 > 4 but 20 < 1.5 · 14: still the prefix.
  EXPECT_EQ(prefix.route(m0, std::vector<RouteCandidate>{{InstanceId(10), 14, 0}, {InstanceId(11), 20, 512}}), 1u);
  // Nothing cached anywhere: least-outstanding's choice, ties to the earliest started.
  EXPECT_EQ(
      prefix.route(m0,
                   std::vector<RouteCandidate>{{InstanceId(10), 3, 0}, {InstanceId(11), 1, 0}, {InstanceId(12), 1, 0}}),
      1u);
}

TEST(Routing, LeastOutstandingRoundRobinAndRandom) {
  RoutingPolicy::Context context{RandomStream(3)};
  const std::vector<RouteCandidate> ready{{InstanceId(10), 4}, {InstanceId(11), 2}, {InstanceId(12), 2}};
  LeastOutstandingRouting least({}, context);
  EXPECT_EQ(least.route(m0, ready), 1u);
  RoundRobinRouting turns({}, context);
  EXPECT_EQ(turns.route(m0, ready), 0u);
  EXPECT_EQ(turns.route(m1, ready), 0u);  // each model has its own turn
  EXPECT_EQ(turns.route(m0, ready), 1u);
  EXPECT_EQ(turns.route(m0, ready), 2u);
  EXPECT_EQ(turns.route(m0, ready), 0u);
  RandomRouting a({}, context), b({}, context);
  for (int i = 0; i < 20; ++i) {
    const size_t pick = a.route(m0, ready);
    EXPECT_LT(pick, ready.size());
    EXPECT_EQ(pick, b.route(m0, ready));  // same stream, same draws
  }
}

}  // namespace
}  // namespace slsim
