// LiveScaling's bookkeeping on two loaded instances of one model (a bench of two one-GPU
// servers): which instance reads which source, the shares on a source and the count it audits.

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <stdexcept>
#include <string>

#include "sim/control/live_scaling.h"
#include "tests/unit/control/control_bench.h"

namespace slsim {
namespace {

using testing::ControlBench;

// Instances 0 and 1 of model 0, both loaded and idle.
void two_serving(ControlBench<>& b) {
  b.placer.start(ModelId(0), StartReason{});
  b.placer.start(ModelId(0), StartReason{});
  for (const InstanceId id : b.instances.model(ModelId(0)).instances()) b.loaded(id);
}

std::string audit_failure(const LiveScaling& live) {
  try {
    live.audit();
  } catch (const std::logic_error& e) {
    return e.what();
  }
  return "";
}

TEST(LiveScaling, ASourceStepsOnePlusTheSharesOfItsReadersTimesSlower) {
  ControlBench<> b(2);
  two_serving(b);
  LiveScaling live(b.instances);
  EXPECT_FALSE(live.any());
  live.begin(InstanceId(1), InstanceId(0));
  live.set_share(InstanceId(1), LiveScaling::step_share(0.75));  // a quarter of its layers still on 0
  EXPECT_TRUE(live.any());
  EXPECT_TRUE(live.live(InstanceId(1)));
  EXPECT_DOUBLE_EQ(live.source_factor(InstanceId(0)), 1.25);
  EXPECT_DOUBLE_EQ(live.source_factor(InstanceId(1)), 1.0);  // nobody reads the reader
  EXPECT_EQ(audit_failure(live), "");
}

TEST(LiveScaling, EndingDropsTheShareAndTheCount) {
  ControlBench<> b(2);
  two_serving(b);
  LiveScaling live(b.instances);
  live.begin(InstanceId(1), InstanceId(0));
  live.set_share(InstanceId(1), 0.5);
  live.end(InstanceId(1));
  EXPECT_FALSE(live.any());
  EXPECT_FALSE(live.live(InstanceId(1)));
  EXPECT_EQ(b.instances.instance(InstanceId(1)).source_share, 0);
  EXPECT_DOUBLE_EQ(live.source_factor(InstanceId(0)), 1.0);
}

TEST(LiveScaling, ReadsOnlyASourceThatServesItsModelItself) {
  ControlBench<> b(2);
  two_serving(b);
  LiveScaling live(b.instances);
  EXPECT_TRUE(live.can_read(InstanceId(1), InstanceId(0)));
  live.begin(InstanceId(1), InstanceId(0));
  EXPECT_FALSE(live.can_read(InstanceId(0), InstanceId(1)));  // 1 is itself loading
}

TEST(LiveScaling, AuditCatchesAnInstanceServingWhileLoadingUncounted) {
  ControlBench<> b(2);
  two_serving(b);
  LiveScaling live(b.instances);
  b.instances.instance(InstanceId(1)).live_source = InstanceId(0);  // set behind the class's back
  EXPECT_THAT(audit_failure(live),
              ::testing::HasSubstr("1 instances serve while loading, but the control plane counts 0"));
}

}  // namespace
}  // namespace slsim
