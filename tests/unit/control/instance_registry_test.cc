// The per-model counts through an instance's life, driven by the registry's named transitions.

#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "tests/unit/control/control_bench.h"

namespace slsim {
namespace {

using testing::ControlBench;
using testing::round_servers;

TEST(InstanceRegistry, CountsFollowStartLoadLiveMigrationAndRelease) {
  ControlBench<> b(2);
  // Two starts of model 0, one instance on each server's only GPU.
  b.instances.start_requested(ModelId(0));
  b.instances.start_requested(ModelId(0));
  const InstanceId a =
      b.instances.add(ModelId(0), ServerId(0), b.cluster.take_gpus(ServerId(0), 1), StartReason{}, -1, Time::zero());
  b.instances.set_state(a, InstanceState::loading);
  const ModelState& m = b.instances.model(ModelId(0));
  EXPECT_EQ(m.starting(), 2);
  EXPECT_EQ(m.ready(), 0);
  EXPECT_TRUE(m.route_index().empty());  // loading instances take no requests
  b.loaded(a);                           // one start became a ready instance
  EXPECT_EQ(m.starting(), 1);
  EXPECT_EQ(m.ready(), 1);
  EXPECT_EQ(m.route_index().size(), 1u);
  EXPECT_EQ(m.last_server, ServerId(0));
  // `a` moves live to server 1: while it moves it counts as starting (ready 1 - 1, starting 1 + 1)…
  b.instances.migration_started(ModelId(0));
  EXPECT_EQ(m.ready(), 0);
  EXPECT_EQ(m.starting(), 2);
  // …the second start's load is the destination (starting 2 - 1, ready 0 + 1)…
  const InstanceId d =
      b.instances.add(ModelId(0), ServerId(1), b.cluster.take_gpus(ServerId(1), 1), StartReason{}, -1, Time::zero());
  b.instances.set_state(d, InstanceState::loading);
  b.loaded(d);
  EXPECT_EQ(m.starting(), 1);
  EXPECT_EQ(m.ready(), 1);
  // …the switch counts `a` again beside the destination, and its release takes it back.
  b.instances.migration_switched(ModelId(0));
  EXPECT_EQ(m.ready(), 2);
  b.instances.retire(a);
  EXPECT_EQ(m.ready(), 1);
  EXPECT_EQ(m.instances(), std::vector<InstanceId>{d});
  EXPECT_EQ(b.cluster.server(ServerId(0)).free_gpus, 1);
  EXPECT_EQ(b.instances.instance(a).state, InstanceState::released);
  EXPECT_EQ(m.route_index().size(), 1u);
  EXPECT_EQ(m.route_index().best(), d);
}

TEST(InstanceRegistry, RequestsOutstandingRiseOnDispatchAndFallWhenTheyLeave) {
  ControlBench<> b(1);
  b.instances.request_dispatched(ModelId(0));
  b.instances.request_dispatched(ModelId(0));
  b.instances.request_left(ModelId(0));
  EXPECT_EQ(b.instances.model(ModelId(0)).outstanding(), 1);
}

TEST(InstanceRegistry, ARetiredSlotIsReusedWithAFreshRouteOrder) {
  ControlBench<> b(1);
  const InstanceId first =
      b.instances.add(ModelId(0), ServerId(0), b.cluster.take_gpus(ServerId(0), 1), StartReason{}, -1, Time::zero());
  b.instances.start_requested(ModelId(0));
  b.loaded(first);
  b.instances.retire(first);
  const InstanceId second =
      b.instances.add(ModelId(0), ServerId(0), b.cluster.take_gpus(ServerId(0), 1), StartReason{}, -1, Time::zero());
  EXPECT_EQ(second, first);                                                // the freed slot
  EXPECT_EQ(b.instances.instance(second).route_order, 1u);                 // the model's second placement
  EXPECT_EQ(b.instances.instance(second).state, InstanceState::released);  // until set_state()
}

ServerGroupSpec gpus_of(int64_t memory_bytes) {
  ServerGroupSpec g = round_servers(1, 1);
  g.gpu.name = g.server.gpu = "gpu-" + std::to_string(memory_bytes);
  g.gpu.memory_bytes = memory_bytes;
  return g;
}

TEST(InstanceRegistry, AModelRunsOnlyWhereAFullContextFitsAndAdmitsWhatItsSmallestSuchInstanceHolds) {
  // Servers of 80 GiB, 3 GiB and 2 GiB GPUs. The engine keeps 0.9 of a GPU's memory, less 2 GiB
  // for activations and the weights W: on 2 GiB (1.8 GiB usable) nothing is left, on 3 GiB
  // 0.7 GiB − W, on 80 GiB far more. The small model's keys and values take 2 × 2 layers × 4
  // heads × 64 × 2 bytes = 2,048 bytes per token, 32 KiB per block of 16, so a full context of
  // 2,048 tokens needs 4 MiB: the 80 and 3 GiB servers hold it, the 2 GiB one does not.
  ControlBench<> b({gpus_of(int64_t{80} << 30), gpus_of(int64_t{3} << 30), gpus_of(int64_t{2} << 30)}, 1);
  const ModelState& m = b.instances.model(ModelId(0));
  ASSERT_EQ(m.served.spec.kv_bytes_per_token(), 2048);
  EXPECT_EQ(m.holds_by_server, (std::vector<uint8_t>{1, 1, 0}));
  // What a request may take is the 3 GiB server's cache, the smaller of the two.
  const double usable = 0.9 * static_cast<double>(int64_t{3} << 30) - static_cast<double>(int64_t{2} << 30) -
                        static_cast<double>(m.checkpoint_bytes);
  EXPECT_EQ(m.fit_tokens, static_cast<int64_t>(std::floor(usable / (2048.0 * 16))) * 16);
}

TEST(InstanceRegistry, WhereNoServerHoldsAFullContextOnlyTheLargestCachesServe) {
  // As above with the 3 GiB server replaced by one whose cache holds 64 blocks (1,024 tokens,
  // half a context): (2 GiB + W + 64 blocks + 1 KiB of slack) / 0.9. With no server holding a full
  // context, the model runs where its cache is largest, and admits what that cache holds.
  ControlBench<> probe(1);
  const auto weights = static_cast<double>(probe.instances.model(ModelId(0)).checkpoint_bytes);
  const auto memory = static_cast<int64_t>(
      std::ceil((static_cast<double>(int64_t{2} << 30) + weights + 64 * 2048.0 * 16 + 1024) / 0.9));
  ControlBench<> b({gpus_of(int64_t{2} << 30), gpus_of(memory)}, 1);
  const ModelState& m = b.instances.model(ModelId(0));
  EXPECT_EQ(m.holds_by_server, (std::vector<uint8_t>{0, 1}));
  EXPECT_EQ(m.fit_tokens, 64 * 16);
}

}  // namespace
}  // namespace slsim
