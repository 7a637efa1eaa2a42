// Admission, the router queue's order, and least-outstanding routing over the registry's index.

#include <gtest/gtest.h>

#include "tests/unit/control/control_bench.h"

namespace slsim {
namespace {

using testing::ControlBench;

Request request(uint64_t id, int64_t input_tokens, int64_t output_tokens) {
  Request r;
  r.id = RequestId(id);
  r.input_tokens = input_tokens;
  r.output_tokens = output_tokens;
  return r;
}

TEST(Router, QueueIsFirstInFirstOutWithPreemptedRequestsAhead) {
  ControlBench<> b(1);
  for (const uint64_t id : {3, 5, 7}) b.in_flight.insert(RequestId(id), testing::in_flight_of(request(id, 10, 1)));
  b.router.hold(ModelId(0), RequestId(5));
  b.router.hold(ModelId(0), RequestId(7));
  b.router.hold_first(ModelId(0), RequestId(3));  // taken back from a preempted instance
  EXPECT_EQ(b.router.pop(ModelId(0)), RequestId(3));
  EXPECT_EQ(b.router.pop(ModelId(0)), RequestId(5));
  EXPECT_EQ(b.router.pop(ModelId(0)), RequestId(7));
  EXPECT_FALSE(b.router.holds_any(ModelId(0)));
}

TEST(Router, CountsTheInputTokensItHoldsPerModel) {
  ControlBench<> b(1, 2);
  b.in_flight.insert(RequestId(1), testing::in_flight_of(request(1, 100, 5)));
  Request other_model = request(2, 30, 5);
  other_model.model = ModelId(1);
  b.in_flight.insert(RequestId(2), testing::in_flight_of(other_model));
  b.in_flight.insert(RequestId(3), testing::in_flight_of(request(3, 40, 5)));
  b.router.hold(ModelId(0), RequestId(1));
  b.router.hold(ModelId(1), RequestId(2));
  b.router.hold_first(ModelId(0), RequestId(3));
  // Input tokens only (outputs are not yet generated): 100 + 40 for model 0, 30 for model 1.
  EXPECT_EQ(b.router.queued_input_tokens(ModelId(0)), 140);
  EXPECT_EQ(b.router.queued_input_tokens(ModelId(1)), 30);
  EXPECT_EQ(b.router.pop(ModelId(0)), RequestId(3));
  EXPECT_EQ(b.router.queued_input_tokens(ModelId(0)), 100);
  b.router.hold_first(ModelId(0), RequestId(3));  // back, so that the audit sees every request in flight queued
  b.counts.arrived = 3;
  b.audit();
}

TEST(Router, RefusesARequestLongerThanTheContextWindow) {
  ControlBench<> b(1);
  // The small model's window is 2,048 tokens: 2,000 + 48 fits, 2,000 + 49 does not.
  EXPECT_EQ(b.router.refusal(request(1, 2000, 48)), nullptr);
  EXPECT_STREQ(b.router.refusal(request(2, 2000, 49)), "longer than the model's context window");
}

TEST(Router, RoutesToTheFewestOutstandingAndTheEarliestPlacedOnTies) {
  ControlBench<> b(2);
  for (const ServerId s : ids_below<ServerId>(2)) {
    b.instances.start_requested(ModelId(0));
    b.loaded(b.instances.add(ModelId(0), s, b.cluster.take_gpus(s, 1), StartReason{}, -1, Time::zero()));
  }
  // Instances 0 and 1 hold 0 and 0: the tie goes to 0; then 1 (0 < 1); then 0 again (1, 1).
  std::vector<InstanceId> chosen;
  for (uint64_t id = 1; id <= 3; ++id) {
    b.in_flight.insert(RequestId(id), testing::in_flight_of(request(id, 10, 1)));
    chosen.push_back(b.router.route(RequestId(id), false));
  }
  EXPECT_EQ(chosen, (std::vector<InstanceId>{InstanceId(0), InstanceId(1), InstanceId(0)}));
  EXPECT_EQ(b.instances.model(ModelId(0)).outstanding(), 3);
  EXPECT_EQ(b.in_flight.at(RequestId(2)).server, ServerId(1));
}

}  // namespace
}  // namespace slsim
