// The per-model counts through an instance's life, driven by the registry's named transitions.

#include <gtest/gtest.h>

#include "tests/unit/control/control_bench.h"

namespace slsim {
namespace {

using testing::ControlBench;

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

}  // namespace
}  // namespace slsim
