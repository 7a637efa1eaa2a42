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
  b.router.hold(ModelId(0), RequestId(5));
  b.router.hold(ModelId(0), RequestId(7));
  b.router.hold_first(ModelId(0), RequestId(3));  // taken back from a preempted instance
  EXPECT_EQ(b.router.pop(ModelId(0)), RequestId(3));
  EXPECT_EQ(b.router.pop(ModelId(0)), RequestId(5));
  EXPECT_EQ(b.router.pop(ModelId(0)), RequestId(7));
  EXPECT_FALSE(b.router.holds_any(ModelId(0)));
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
