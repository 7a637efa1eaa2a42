// Placement, waiting for GPUs and reservations on one-GPU servers with two models.

#include <gtest/gtest.h>

#include "sim/policy/scheduler/shepherd.h"
#include "tests/unit/control/control_bench.h"

namespace slsim {
namespace {

using testing::ControlBench;
using testing::round_servers;

TEST(InstancePlacer, AStartWithoutRoomWaitsAndIsPlacedWhenGpusComeBack) {
  ControlBench<> b(1, 2);
  b.placer.start(ModelId(0), StartReason{});
  b.placer.start(ModelId(1), StartReason{});  // the only GPU is taken, and no migration can free it
  EXPECT_EQ(b.instances.instances_in(ModelId(0), InstanceState::loading), 1);
  EXPECT_EQ(b.instances.instances_in(ModelId(1), InstanceState::loading), 0);
  EXPECT_EQ(b.placer.waiting_for_gpus(), 1u);
  EXPECT_EQ(b.instances.model(ModelId(1)).starting(), 1);  // counted while it waits
  const InstanceId first = b.instances.model(ModelId(0)).instances().front();
  b.loaded(first);
  b.instances.retire(first);
  b.placer.place_waiting();
  EXPECT_EQ(b.placer.waiting_for_gpus(), 0u);
  EXPECT_EQ(b.instances.instances_in(ModelId(1), InstanceState::loading), 1);
}

TEST(InstancePlacer, WithdrawingTakesTheModelsLatestWaitingStartsOnly) {
  ControlBench<> b(1, 2);
  b.placer.start(ModelId(0), StartReason{});  // placed
  b.placer.start(ModelId(0), StartReason{});  // waits
  b.placer.start(ModelId(1), StartReason{});  // waits
  b.placer.start(ModelId(0), StartReason{});  // waits
  // Model 0 has two starts waiting; asked for three, two are withdrawn; model 1's stays.
  EXPECT_EQ(b.placer.withdraw_waiting(ModelId(0), 3), 2);
  EXPECT_EQ(b.instances.model(ModelId(0)).starting(), 1);
  EXPECT_EQ(b.placer.waiting_for_gpus(), 1u);
}

TEST(InstancePlacer, AReservationHoldsTheServerUntilItsVictimLeaves) {
  ControlBench<PreemptMigration> b(1, 2);
  b.placer.start(ModelId(0), StartReason{});
  const InstanceId victim = b.instances.model(ModelId(0)).instances().front();
  b.loaded(victim);
  // No GPU is free, so least-loaded places nothing; the cheapest room is server 0 once the idle
  // instance of model 0 leaves. It is idle, so the placer asks for its release.
  b.placer.start(ModelId(1), StartReason{});
  EXPECT_EQ(b.victims.released, std::vector<InstanceId>{victim});
  EXPECT_TRUE(b.victims.preempted.empty());
  EXPECT_EQ(b.placer.reservations(), 1u);  // the test's handler let the victim stay
  EXPECT_EQ(b.placer.waiting_for_gpus(), 0u);
  EXPECT_EQ(b.instances.model(ModelId(1)).starting(), 1);
  b.instances.retire(victim);
  b.placer.fill_reservations(ServerId(0));
  EXPECT_EQ(b.placer.reservations(), 0u);
  EXPECT_EQ(b.instances.instances_in(ModelId(1), InstanceState::loading), 1);
}

TEST(InstancePlacer, AnInstanceGoesOnlyToServersThatHoldItAndWaitsWhenTheyAreFull) {
  // Server 0's GPU (2 GiB) is too small for the engine (0.9 × 2 GiB < its 2 GiB activation
  // reserve); server 1's (80 GiB) holds the model. Least-loaded would take server 0 on the tie.
  ServerGroupSpec small = round_servers(1, 1);
  small.gpu.name = small.server.gpu = "small-gpu";
  small.gpu.memory_bytes = int64_t{2} << 30;
  ControlBench<> b({small, round_servers(1, 1)}, 1);
  b.placer.start(ModelId(0), StartReason{});
  ASSERT_EQ(b.instances.model(ModelId(0)).instances().size(), 1u);
  EXPECT_EQ(b.instances.instance(b.instances.model(ModelId(0)).instances().front()).server, ServerId(1));
  // Server 0's GPU is still free, but a second instance waits for server 1's.
  b.placer.start(ModelId(0), StartReason{});
  EXPECT_EQ(b.placer.waiting_for_gpus(), 1u);
  EXPECT_EQ(b.cluster.server(ServerId(0)).free_gpus, 1);
}

// `none` with the former behaviour: idle instances keep their GPUs.
struct IdleKeepsGpus final : MigrationPolicy {
  struct Params {
    template <class V>
    void visit(V&) {}
  };
  IdleKeepsGpus(const Params&, Context&) {}
  MigrationMethod method() const override { return MigrationMethod::none; }
  bool idle_instances_yield() const override { return false; }
};

TEST(InstancePlacer, WithoutMigrationAnIdleInstanceYieldsOnlyToAStartWithRequestsWaiting) {
  ControlBench<> b(1, 2);
  b.placer.start(ModelId(0), StartReason{});
  const InstanceId idle = b.instances.model(ModelId(0)).instances().front();
  b.loaded(idle);
  // Model 1 has no request waiting (a start ahead of demand): it waits for the GPU.
  b.placer.start(ModelId(1), StartReason{});
  EXPECT_TRUE(b.victims.released.empty());
  EXPECT_EQ(b.placer.waiting_for_gpus(), 1u);
  // Once a request of model 1 waits at the router, the waiting start takes the idle GPU.
  b.hold(ModelId(1), RequestId(7), 10);
  b.placer.place_waiting();
  EXPECT_EQ(b.victims.released, std::vector<InstanceId>{idle});
  EXPECT_EQ(b.placer.waiting_for_gpus(), 0u);
  EXPECT_EQ(b.placer.reservations(), 1u);
}

TEST(InstancePlacer, AnIdleInstanceKeepsItsGpuWhenTheMigrationPolicySaysSo) {
  ControlBench<IdleKeepsGpus> b(1, 2);
  b.placer.start(ModelId(0), StartReason{});
  b.loaded(b.instances.model(ModelId(0)).instances().front());
  b.hold(ModelId(1), RequestId(7), 10);
  b.placer.start(ModelId(1), StartReason{});
  EXPECT_TRUE(b.victims.released.empty());
  EXPECT_EQ(b.placer.waiting_for_gpus(), 1u);
}

TEST(InstancePlacer, WithoutMigrationABusyInstanceIsNeverAVictim) {
  ControlBench<> b(1, 2);
  b.placer.start(ModelId(0), StartReason{});
  const InstanceId busy = b.instances.model(ModelId(0)).instances().front();
  b.loaded(busy);
  EngineRequest request;
  request.input_tokens = 10;
  request.output_tokens = 2;
  b.instances.instance(busy).engine->enqueue(request);  // in flight, not yet stepped
  b.hold(ModelId(1), RequestId(7), 10);
  b.placer.start(ModelId(1), StartReason{});
  EXPECT_TRUE(b.victims.released.empty());
  EXPECT_TRUE(b.victims.preempted.empty());
  EXPECT_EQ(b.placer.waiting_for_gpus(), 1u);
}

// A busy instance of model 0 holding 10 tokens (a request of 10 input tokens, not yet
// stepped) on the only GPU, and a start of model 1: under `shepherd` (λ = 2) it is restarted only
// once the requests waiting for model 1 hold at least 2 × 10 = 20 input tokens.
struct BusyGpu {
  BusyGpu() {
    b.placer.start(ModelId(0), StartReason{});
    busy = b.instances.model(ModelId(0)).instances().front();
    b.loaded(busy);
    EngineRequest request;
    request.input_tokens = 10;
    request.output_tokens = 2;
    b.instances.instance(busy).engine->enqueue(request);
  }
  ControlBench<PreemptMigration, ShepherdPlacement> b{1, 2};
  InstanceId busy;
};

TEST(InstancePlacer, AStartThatThePolicyDeclinesToMakeRoomForWaitsWithoutPreempting) {
  BusyGpu g;
  g.b.hold(ModelId(1), RequestId(7), 19);  // 19 < 20
  g.b.placer.start(ModelId(1), StartReason{});
  // `preemption` (least-loaded) would have the placer restart the busy instance; shepherd's gate holds.
  EXPECT_TRUE(g.b.victims.preempted.empty());
  EXPECT_EQ(g.b.placer.waiting_for_gpus(), 1u);
  EXPECT_EQ(g.b.placer.reservations(), 0u);
}

TEST(InstancePlacer, AWaitingStartIsWeighedAgainWhenItsModelsQueueGrows) {
  BusyGpu g;
  g.b.hold(ModelId(1), RequestId(7), 15);
  g.b.placer.start(ModelId(1), StartReason{});
  EXPECT_EQ(g.b.placer.waiting_for_gpus(), 1u);
  // Another model's queue growing changes nothing.
  g.b.placer.queue_grew(ModelId(0));
  EXPECT_TRUE(g.b.victims.preempted.empty());
  // 15 + 5 = 20 ≥ 2 × 10: the busy instance is restarted and the start reserves its GPU.
  g.b.hold(ModelId(1), RequestId(8), 5);
  g.b.placer.queue_grew(ModelId(1));
  EXPECT_EQ(g.b.victims.preempted, std::vector<InstanceId>{g.busy});
  EXPECT_EQ(g.b.placer.waiting_for_gpus(), 0u);
  EXPECT_EQ(g.b.placer.reservations(), 1u);
}

}  // namespace
}  // namespace slsim
