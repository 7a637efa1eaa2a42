// The control plane's audit accepts a consistent state and names what a broken one breaks.

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <stdexcept>
#include <string>

#include "tests/unit/control/control_bench.h"

namespace slsim {
namespace {

using testing::ControlBench;

std::string audit_failure(const ControlBench<>& b) {
  try {
    b.audit();
  } catch (const std::logic_error& e) {
    return e.what();
  }
  return "";
}

// One ready instance on server 0 holding one routed request.
void serve_one_request(ControlBench<>& b) {
  b.placer.start(ModelId(0), StartReason{});
  b.loaded(b.instances.model(ModelId(0)).instances().front());
  Request r;
  r.id = RequestId(1);
  r.input_tokens = 10;
  r.output_tokens = 1;
  b.in_flight.insert(r.id, testing::in_flight_of(r));
  ++b.counts.arrived;
  b.router.route(r.id, false);
}

TEST(ControlPlaneAudit, AcceptsAConsistentState) {
  ControlBench<> b(1);
  serve_one_request(b);
  EXPECT_EQ(audit_failure(b), "");
}

TEST(ControlPlaneAudit, CatchesAGpuHeldByAnInstanceButMarkedFree) {
  ControlBench<> b(1);
  serve_one_request(b);
  b.cluster.give_back_gpus(ServerId(0), b.instances.instance(InstanceId(0)).gpus);
  EXPECT_THAT(audit_failure(b), ::testing::HasSubstr("instance 0 holds GPU 0 of server 0, which is marked free"));
}

TEST(ControlPlaneAudit, CatchesAnOutstandingCountThatDisagreesWithTheEngines) {
  ControlBench<> b(1);
  serve_one_request(b);
  b.instances.request_left(ModelId(0));  // a stray transition: the engine still holds the request
  EXPECT_THAT(audit_failure(b),
              ::testing::HasSubstr("model 0 counts 0 requests outstanding, but its instances' engines hold 1"));
}

TEST(ControlPlaneAudit, CatchesAnInstanceServingWhileLoadingFromOneThatDoesNotServe) {
  ControlBench<> b(1);
  serve_one_request(b);
  b.instances.instance(InstanceId(0)).live_source = InstanceId(0);  // its own source, itself live
  EXPECT_THAT(audit_failure(b),
              ::testing::HasSubstr("instance 0 serves while loading from instance 0, which does not serve its model"));
}

TEST(ControlPlaneAudit, CatchesAShareOnASourceWithoutALiveStep) {
  ControlBench<> b(1);
  serve_one_request(b);
  b.instances.instance(InstanceId(0)).source_share = 0.5;
  EXPECT_THAT(audit_failure(b),
              ::testing::HasSubstr("instance 0 puts a share of a step on a source without a live step"));
}

TEST(ControlPlaneAudit, CatchesARequestCountedNowhere) {
  ControlBench<> b(1);
  serve_one_request(b);
  ++b.counts.arrived;  // arrived, but neither in flight, finished nor rejected
  EXPECT_THAT(audit_failure(b), ::testing::HasSubstr("2 requests arrived, but 0 finished"));
}

}  // namespace
}  // namespace slsim
