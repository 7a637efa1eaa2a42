#include <gtest/gtest.h>

#include "sim/policy/autoscale/autoscaler.h"
#include "sim/policy/autoscale/knative.h"
#include "sim/policy/autoscale/predictive.h"

namespace slsim {
namespace {
std::unique_ptr<Autoscaler> make(const char* name, Json params = Json::object(), int64_t models = 1) {
  Autoscaler::Context context{models};
  const auto& registry = autoscale_policies();
  return registry.make(registry.resolve(PolicyChoice{name, params}, "test"), context);
}
Time at_s(double s) { return Time::from_seconds(s); }
ModelDemand demand(double now_s, int64_t ready, int64_t outstanding, int64_t queued = 0) {
  ModelDemand d;
  d.now = at_s(now_s);
  d.ready_instances = ready;
  d.outstanding_requests = outstanding;
  d.queued_requests = queued;
  return d;
}
}  // namespace

TEST(OnDemandAutoscaler, StartsOneInstanceOnlyWhenNoneIsUpOrStarting) {
  const auto a = make("on-demand");
  EXPECT_EQ(a->tick_interval(), Time::zero());
  EXPECT_EQ(a->instances_to_start(demand(0, 0, 0, 3)), 1);
  EXPECT_EQ(a->instances_to_start(demand(0, 1, 0, 3)), 0);
}

TEST(FixedAutoscaler, WantsItsInstancesWhateverTheDemand) {
  const auto a = make("fixed", {{"instances", 3}});
  EXPECT_EQ(a->desired_instances(demand(0, 0, 0)), 3);
  EXPECT_EQ(a->desired_instances(demand(500, 3, 1000)), 3);
  EXPECT_EQ(a->floor_instances(), 3);
}

TEST(KpaAutoscaler, DefaultsAreKnatives) {
  const Json p = autoscale_policies().resolve(PolicyChoice{"kpa", Json::object()}, "t").params;
  EXPECT_EQ(p["stable_window_s"], 60);
  EXPECT_EQ(p["panic_window_percentage"], 10);
  EXPECT_EQ(p["panic_threshold_percentage"], 200);
  EXPECT_EQ(p["scale_to_zero_grace_period_s"], 30);
  EXPECT_EQ(p["target_concurrency"], 100);
  EXPECT_EQ(p["target_utilization_percentage"], 70);
  EXPECT_EQ(p["tick_s"], 2);
}

TEST(KpaAutoscaler, StepInConcurrencyPanicScalesWithinThePanicWindow) {
  // Target 100 x 70% = 70 per instance. 60 s at concurrency 10 (one instance), then 300.
  Autoscaler::Context context{1};
  KpaAutoscaler kpa(KpaAutoscaler::Params{}, context);
  for (int t = 0; t < 60; t += 2) EXPECT_EQ(kpa.desired_instances(demand(t, 1, 10)), 1);
  EXPECT_FALSE(kpa.panicking(ModelId(0)));
  // t = 60: panic window (6 s) holds 10, 10, 300 -> 106.7 / 70 -> 2 instances = 200% of one.
  EXPECT_EQ(kpa.desired_instances(demand(60, 1, 300)), 2);
  EXPECT_TRUE(kpa.panicking(ModelId(0)));
  // t = 62: 10, 300, 300 -> 203.3 / 70 -> 3; t = 64: 300 x 3 -> 300 / 70 -> 5. The stable
  // window alone (27 x 10 + 3 x 300) / 30 = 39 would still want 1.
  EXPECT_EQ(kpa.desired_instances(demand(62, 2, 300)), 3);
  EXPECT_EQ(kpa.desired_instances(demand(64, 3, 300)), 5);
}

TEST(KpaAutoscaler, PanicNeverScalesDownUntilAStableWindowPassesCalm) {
  Autoscaler::Context context{1};
  KpaAutoscaler kpa(KpaAutoscaler::Params{}, context);
  EXPECT_EQ(kpa.desired_instances(demand(0, 1, 700)), 10);  // 700 / 70, and 10 / 1 >= 200%
  EXPECT_TRUE(kpa.panicking(ModelId(0)));
  // Demand drops to nothing: the panic window empties at once, but panic holds the 10.
  for (int t = 2; t <= 60; t += 2) EXPECT_EQ(kpa.desired_instances(demand(t, 10, 0)), 10) << t;
  // 62 s > 60 s after the last over-threshold tick: panic ends. The stable window (2, 62]
  // holds only zeros, so demand asks for zero and the grace period keeps one instance.
  EXPECT_EQ(kpa.desired_instances(demand(62, 10, 0)), 1);
  EXPECT_FALSE(kpa.panicking(ModelId(0)));
}

TEST(KpaAutoscaler, ScaleToZeroWaitsForTheGracePeriodAndNeverStartsFromIt) {
  Autoscaler::Context context{1};
  KpaAutoscaler kpa(KpaAutoscaler::Params{}, context);
  EXPECT_EQ(kpa.desired_instances(demand(0, 0, 0)), 0);  // nothing up: the grace keeps nothing
  EXPECT_EQ(kpa.desired_instances(demand(2, 1, 0)), 1);
  EXPECT_EQ(kpa.desired_instances(demand(28, 1, 0)), 1);
  EXPECT_EQ(kpa.desired_instances(demand(30, 1, 0)), 0);  // 30 s since demand first asked for zero
}

// Ticks may be skipped through a quiet stretch only once a decision no longer changes: every
// sample in the window zero, no panic, the grace period over.
TEST(KpaAutoscaler, SettlesOnlyWhenTheWindowIsAllZeroAndTheGraceIsOver) {
  const auto a = make("kpa");
  const ModelId m(0);
  EXPECT_EQ(a->desired_instances(demand(0, 1, 5)), 1);
  for (double t = 2; t <= 58; t += 2) EXPECT_EQ(a->desired_instances(demand(t, 1, 0)), 1);
  EXPECT_EQ(a->settled_window(m, at_s(58)), std::nullopt);  // the sample of 5 at 0 is in the window
  // At 60 it leaves the window: demand asks for zero, and the grace period (30 s) keeps the
  // last instance until 90.
  for (double t = 60; t <= 88; t += 2) EXPECT_EQ(a->desired_instances(demand(t, 1, 0)), 1);
  EXPECT_EQ(a->settled_window(m, at_s(88)), std::nullopt);
  EXPECT_EQ(a->desired_instances(demand(90, 1, 0)), 0);
  EXPECT_EQ(a->settled_window(m, at_s(90)), at_s(60));  // the stable window
  EXPECT_EQ(make("fixed")->settled_window(m, at_s(0)), Time::zero());
  EXPECT_EQ(make("on-demand")->settled_window(m, at_s(0)), std::nullopt);
  EXPECT_EQ(make("predictive")->settled_window(m, at_s(0)), std::nullopt);
}

TEST(RpsAutoscaler, ArrivalsSinceTheLastTickKeepItUnsettled) {
  const auto a = make("rps");
  const ModelId m(0);
  for (double t = 0; t <= 100; t += 2) a->desired_instances(demand(t, 0, 0));
  EXPECT_EQ(a->settled_window(m, at_s(100)), at_s(60));
  a->on_arrival(m, at_s(101));
  EXPECT_EQ(a->settled_window(m, at_s(101)), std::nullopt);
}

TEST(RpsAutoscaler, TargetsArrivalsPerSecondPerInstance) {
  const auto a = make("rps", {{"target_rps", 10}, {"target_utilization_percentage", 100}});
  // 50 arrivals in one 2 s tick: 25/s over a one-sample window -> 3 instances (panic too).
  for (int i = 0; i < 50; ++i) a->on_arrival(ModelId(0), at_s(1));
  EXPECT_EQ(a->desired_instances(demand(2, 1, 0)), 3);
}

TEST(RpsAutoscaler, StepInArrivalRatePanicScalesWithinThePanicWindow) {
  // Target 10/s at 100%: 5 requests/s for a minute on one instance, then 50/s.
  Autoscaler::Context context{1};
  RpsAutoscaler::Params params;
  params.target_rps = 10;
  params.windows.target_utilization_percentage = 100;
  RpsAutoscaler rps(params, context);
  const auto tick = [&](int t, int per_s) {
    for (int i = 0; i < 2 * per_s; ++i) rps.on_arrival(ModelId(0), at_s(t - 1));
    return rps.desired_instances(demand(t, 1, 0));
  };
  for (int t = 2; t <= 60; t += 2) EXPECT_EQ(tick(t, 5), 1);
  EXPECT_FALSE(rps.panicking(ModelId(0)));
  // First tick after the step: the 6 s panic window holds 5, 5, 50 -> 20/s -> 2 instances,
  // 200% of the one ready: panic. Two ticks later it holds only 50s -> 5 instances, while the
  // 60 s stable window ((27 x 5 + 3 x 50) / 30 = 9.5/s) would still want 1.
  EXPECT_EQ(tick(62, 50), 2);
  EXPECT_TRUE(rps.panicking(ModelId(0)));
  EXPECT_EQ(tick(64, 50), 4);
  EXPECT_EQ(tick(66, 50), 5);
}

TEST(PredictiveAutoscaler, SeasonalForecastStartsAheadOfAPeriodicArrival) {
  // One arrival at t = 0 with a 60 s period, 5 s bins, cold start 10 s, tick 2 s: the
  // horizon [now, now + 12 s] reaches the next occurrence of bin 0 from t = 48 s on.
  const auto a = make("predictive", {{"period_s", 60}, {"bin_s", 5}, {"cold_start_s", 10}, {"cold_start_weight", 0}});
  a->on_arrival(ModelId(0), at_s(0));
  EXPECT_EQ(a->desired_instances(demand(30, 0, 0)), 0);
  EXPECT_EQ(a->desired_instances(demand(44, 0, 0)), 0);  // bins 8..11 (40-60 s): empty
  EXPECT_EQ(a->desired_instances(demand(48, 0, 0)), 1);  // bins 9, 10, 11 and 0
  EXPECT_EQ(a->desired_instances(demand(66, 1, 0)), 0);  // the bin has passed
}

TEST(PredictiveAutoscaler, LearnsTheLeadFromObservedLoads) {
  Autoscaler::Context context{1};
  PredictiveAutoscaler::Params params;
  params.cold_start_s = 10;
  params.cold_start_weight = 0.5;
  PredictiveAutoscaler a(params, context);
  a.on_load(ModelId(0), at_s(30));
  EXPECT_DOUBLE_EQ(a.expected_cold_start_s(ModelId(0)), 20);
}

TEST(PredictiveAutoscaler, EwmaRateSetsInstancesFromTheTarget) {
  // Half-life equal to the tick: each tick moves the rate halfway to what it saw.
  const auto a = make("predictive", {{"forecast", "ewma"}, {"half_life_s", 2}, {"target_rps", 2}});
  for (int i = 0; i < 40; ++i) a->on_arrival(ModelId(0), at_s(1));  // 20/s -> rate 10 -> 5 instances
  EXPECT_EQ(a->desired_instances(demand(2, 0, 0)), 5);
  EXPECT_EQ(a->desired_instances(demand(4, 5, 0)), 3);  // rate 5 -> 2.5 -> 3
}

}  // namespace slsim
