#include "sim/policy/keepalive/keepalive.h"

#include <gtest/gtest.h>

#include "sim/policy/idle_histogram.h"

namespace slsim {
namespace {
std::unique_ptr<KeepAlivePolicy> make(const char* name, Json params = Json::object()) {
  KeepAlivePolicy::Context context;
  const auto& registry = keepalive_policies();
  return registry.make(registry.resolve(PolicyChoice{name, params}, "test"), context);
}
Time at_s(double s) { return Time::from_seconds(s); }
}  // namespace

TEST(IdleHistogram, HeadAndTailPercentilesAreBinEdges) {
  IdleHistogram h(60, 3600);
  for (int i = 0; i < 95; ++i) h.add(150);  // bin 2: [120, 180)
  for (int i = 0; i < 5; ++i) h.add(610);   // bin 10
  EXPECT_EQ(h.head_s(5), 120);
  EXPECT_EQ(h.tail_s(99), 660);
  EXPECT_GT(h.bin_count_cv(), 2);
}

TEST(FixedKeepAlive, KeepsForItsTtl) {
  const auto p = make("fixed", {{"ttl_s", 30}});
  const KeepAliveDecision d = p->decide(ModelId(0), Time::zero());
  EXPECT_EQ(d.keep_alive, at_s(30));
  EXPECT_EQ(d.prewarm_after, Time::zero());
}

TEST(HistogramKeepAlive, FallsBackToTheFixedWindowWithFewSamples) {
  const auto p = make("histogram");
  p->on_idle(ModelId(0), at_s(0));
  p->on_request(ModelId(0), at_s(150));
  EXPECT_EQ(p->decide(ModelId(0), at_s(200)).keep_alive, at_s(4 * 3600));
}

TEST(HistogramKeepAlive, PeriodicIdleTimesGivePrewarmAndKeepAliveWindows) {
  // Every idle period lasts 10.5 minutes: all samples in bin 10 = [600, 660) s. Pre-warm at the
  // head (600 s) less 10% = 540 s; keep alive until the tail (660 s) plus 10% = 726 s, i.e. for
  // 186 s after the pre-warm.
  const auto p = make("histogram");
  double t = 0;
  for (int i = 0; i < 20; ++i) {
    p->on_idle(ModelId(0), at_s(t));
    t += 630;
    p->on_request(ModelId(0), at_s(t));
    t += 5;
  }
  const KeepAliveDecision d = p->decide(ModelId(0), at_s(t));
  EXPECT_EQ(d.prewarm_after, at_s(540));
  EXPECT_EQ(d.keep_alive, at_s(726 - 540));
}

TEST(HistogramKeepAlive, IdleTimesBeyondTheRangeUseTheForecast) {
  // Idle times of 5 hours, beyond the 4-hour range: pre-warm at 85% of the forecast.
  const auto p = make("histogram");
  double t = 0;
  for (int i = 0; i < 12; ++i) {
    p->on_idle(ModelId(0), at_s(t));
    t += 5 * 3600;
    p->on_request(ModelId(0), at_s(t));
  }
  const KeepAliveDecision d = p->decide(ModelId(0), at_s(t));
  EXPECT_EQ(d.prewarm_after, at_s(0.85 * 5 * 3600));
  EXPECT_EQ(d.keep_alive, at_s(0.30 * 5 * 3600));
}

}  // namespace slsim
