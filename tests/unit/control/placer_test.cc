// Placement, waiting for GPUs and reservations on one-GPU servers with two models.

#include <gtest/gtest.h>

#include "tests/unit/control/control_bench.h"

namespace slsim {
namespace {

using testing::ControlBench;

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

}  // namespace
}  // namespace slsim
