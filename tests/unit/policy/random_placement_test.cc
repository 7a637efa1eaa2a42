// The `random` placement policy on four two-GPU servers, some of whose GPUs are taken.

#include <gtest/gtest.h>

#include <array>
#include <cmath>

#include "sim/policy/scheduler/placement.h"
#include "tests/unit/loading/test_loading.h"

namespace slsim {
namespace {

struct Bench {
  // Free GPUs after `taken`: server 0 has 2, server 1 has 1, server 2 has 0, server 3 has 2.
  Bench()
      : cluster({testing::round_servers(4, 2)}, 1.0),
        topology(cluster, testing::no_latency()),
        network(sim, topology),
        loader(sim, cluster, topology, network, testing::transfer_only(), CheckpointFormat{}, &testing::lru_eviction,
               &testing::lru_eviction) {
    cluster.take_gpus(ServerId(1), 1);
    cluster.take_gpus(ServerId(2), 2);
  }

  std::unique_ptr<PlacementPolicy> make(uint64_t seed) {
    PlacementPolicy::Context context{cluster, loader, RandomStream(seed)};
    const auto& registry = placement_policies();
    return registry.make(registry.resolve(PolicyChoice{"random", Json::object()}, "test"), context);
  }

  static PlacementRequest needing(int64_t gpus) {
    return PlacementRequest{ModelId(0), gpus, 1'000'000, {}, false, {}, {}, 0, 0};
  }

  Simulator sim;
  Cluster cluster;
  Topology topology;
  FlowNetwork network;
  Loader loader;
};

TEST(RandomPlacement, ChoosesOnlyServersWithEnoughFreeGpus) {
  Bench b;
  const auto policy = b.make(1);
  std::array<int, 4> two_gpu_picks{}, one_gpu_picks{};
  for (int i = 0; i < 200; ++i) {
    const auto two = policy->place(Bench::needing(2));
    ASSERT_TRUE(two);
    ++two_gpu_picks.at(two->server.index());
    EXPECT_TRUE(two->victims.empty());
    EXPECT_LT(two->estimated_start_s, 0);  // it estimates nothing
    const auto one = policy->place(Bench::needing(1));
    ASSERT_TRUE(one);
    ++one_gpu_picks.at(one->server.index());
  }
  // Two GPUs fit only on servers 0 and 3; one GPU also on server 1. Over 200 draws, a fitting
  // server is missed with probability (1/2)^200 or (2/3)^200: never, for any working seed.
  EXPECT_EQ(two_gpu_picks[1], 0);
  EXPECT_EQ(two_gpu_picks[2], 0);
  EXPECT_GT(two_gpu_picks[0], 0);
  EXPECT_GT(two_gpu_picks[3], 0);
  EXPECT_EQ(one_gpu_picks[2], 0);
  EXPECT_GT(one_gpu_picks[0], 0);
  EXPECT_GT(one_gpu_picks[1], 0);
  EXPECT_GT(one_gpu_picks[3], 0);
}

TEST(RandomPlacement, WaitsWhenNoServerHasEnoughFreeGpus) {
  Bench b;
  const auto policy = b.make(1);
  EXPECT_FALSE(policy->place(Bench::needing(3)));
  b.cluster.take_gpus(ServerId(0), 2);
  b.cluster.take_gpus(ServerId(3), 1);
  EXPECT_FALSE(policy->place(Bench::needing(2)));
}

TEST(RandomPlacement, TheSameSeedGivesTheSameChoices) {
  Bench b;
  const auto first = b.make(7);
  const auto again = b.make(7);
  const auto other = b.make(8);
  bool seeds_differ = false;
  for (int i = 0; i < 100; ++i) {
    const ServerId pick = first->place(Bench::needing(1))->server;
    EXPECT_EQ(pick, again->place(Bench::needing(1))->server);
    seeds_differ |= pick != other->place(Bench::needing(1))->server;
  }
  // Another seed agreeing on all 100 draws among three servers would have odds of about 3^-100
  // if the seed were used; agreement means it is ignored.
  EXPECT_TRUE(seeds_differ);
}

TEST(RandomPlacement, ChoosesUniformlyAmongFittingServers) {
  // One GPU fits on servers 0, 1 and 3. Over n = 30,000 draws each count is Binomial(n, 1/3):
  // mean 10,000, σ = sqrt(n · 1/3 · 2/3) ≈ 81.6. A count beyond 5σ has probability below
  // 6 × 10^-7 per server, so a failure means the choice is not uniform.
  Bench b;
  const auto policy = b.make(2024);
  constexpr int n = 30'000;
  std::array<int, 4> picks{};
  for (int i = 0; i < n; ++i) ++picks.at(policy->place(Bench::needing(1))->server.index());
  const double sigma = std::sqrt(n * (1.0 / 3) * (2.0 / 3));
  EXPECT_EQ(picks[2], 0);
  for (const size_t s : {0u, 1u, 3u}) EXPECT_NEAR(picks[s], n / 3.0, 5 * sigma) << "server " << s;
}

}  // namespace
}  // namespace slsim
