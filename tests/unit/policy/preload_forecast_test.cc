// The forecast preloader, fed hand-built idle-time histories through its hooks. With the
// default parameters (1-minute bins over 4 hours, head percentile 5, margin 10%, 10 samples)
// an idle time of t seconds falls in bin floor(t / 60), the head is that bin's lower edge, and
// the preloader acts 0.9 × head after the model goes idle.

#include <gtest/gtest.h>

#include "sim/policy/preload/preload.h"
#include "tests/unit/loading/test_loading.h"

namespace slsim {
namespace {

Time at_s(double s) { return Time::from_seconds(s); }

// The preloader ignores the cluster and loader it is given; they exist only because its
// Context needs them.
struct Bench {
  Bench()
      : cluster({testing::round_servers(1, 1)}, 1.0),
        topology(cluster, testing::no_latency()),
        network(sim, topology),
        loader(sim, cluster, topology, network, testing::transfer_only(), CheckpointFormat{}, &testing::lru_eviction,
               &testing::lru_eviction),
        context{cluster, loader, {1'000'000'000, 1'000'000'000}} {}

  std::unique_ptr<PreloadPolicy> make(Json params = Json::object()) {
    const auto& registry = preload_policies();
    return registry.make(registry.resolve(PolicyChoice{"forecast", std::move(params)}, "test"), context);
  }

  Simulator sim;
  Cluster cluster;
  Topology topology;
  FlowNetwork network;
  Loader loader;
  PreloadPolicy::Context context;
};

// Feeds `model` idle periods of the given lengths, each followed by a 5 s busy spell, starting
// at `t`; returns the time the last request arrived. Drains what the policy planned meanwhile.
double feed(PreloadPolicy& policy, ModelId model, double t, const std::vector<double>& idle_s) {
  std::vector<PreloadAction> ignored;
  for (const double idle : idle_s) {
    policy.on_idle(model, at_s(t));
    t += idle;
    policy.on_request(model, at_s(t));
    policy.plan(at_s(t), ignored);
    t += 5;
  }
  return t;
}

std::vector<PreloadAction> planned(PreloadPolicy& policy, Time now) {
  std::vector<PreloadAction> actions;
  policy.plan(now, actions);
  return actions;
}

TEST(ForecastPreload, DoesNothingUntilItHasMinSamplesIdleTimes) {
  Bench b;
  const auto policy = b.make();
  // Nine finished idle periods: the tenth going idle still sees only nine samples.
  const double t = feed(*policy, ModelId(0), 0, std::vector<double>(9, 630));
  policy->on_idle(ModelId(0), at_s(t));
  EXPECT_TRUE(planned(*policy, at_s(t)).empty());
  // A tenth idle time (the arrival ending the idle spell above) makes ten: the next idle acts.
  policy->on_request(ModelId(0), at_s(t + 630));
  policy->on_idle(ModelId(0), at_s(t + 640));
  EXPECT_EQ(planned(*policy, at_s(t + 640)).size(), 1u);
}

TEST(ForecastPreload, LoadsIntoDramAtTheHeadOfTheIdleHistogramLessTheMargin) {
  Bench b;
  const auto policy = b.make();
  // Ten idle times of 630 s, all in bin 10 = [600, 660): head 600 s, less 10% = 540 s.
  const double t = feed(*policy, ModelId(1), 0, std::vector<double>(10, 630));
  policy->on_idle(ModelId(1), at_s(t));
  const auto actions = planned(*policy, at_s(t));
  ASSERT_EQ(actions.size(), 1u);
  EXPECT_EQ(actions[0].target, PreloadAction::Target::dram);
  EXPECT_EQ(actions[0].model, ModelId(1));
  EXPECT_EQ(actions[0].server, ServerId::none());  // wherever placement would put it
  EXPECT_EQ(actions[0].at, at_s(t + 540));
  // Planning hands each action over once.
  EXPECT_TRUE(planned(*policy, at_s(t + 1)).empty());
}

TEST(ForecastPreload, TheHeadPercentileSkipsRareShortIdleTimes) {
  // 5% of the samples must lie below the head. One 30 s idle time among 40 (2.5%) is not
  // enough: 5% of 40 = 2 samples, reached only in bin 10 (head 600 s, act after 540 s). Two
  // among 20 (10%) are: 5% of 20 = 1 sample, reached in bin 0 (head 0 s, act at once).
  Bench b;
  {
    const auto policy = b.make();
    std::vector<double> history(39, 630);
    history.push_back(30);
    const double t = feed(*policy, ModelId(0), 0, history);
    policy->on_idle(ModelId(0), at_s(t));
    const auto actions = planned(*policy, at_s(t));
    ASSERT_EQ(actions.size(), 1u);
    EXPECT_EQ(actions[0].at, at_s(t + 540));
  }
  {
    const auto policy = b.make();
    std::vector<double> history(18, 630);
    history.insert(history.begin() + 3, 30);
    history.insert(history.begin() + 11, 45);
    const double t = feed(*policy, ModelId(0), 0, history);
    policy->on_idle(ModelId(0), at_s(t));
    const auto actions = planned(*policy, at_s(t));
    ASSERT_EQ(actions.size(), 1u);
    EXPECT_EQ(actions[0].at, at_s(t));
  }
}

TEST(ForecastPreload, InstanceTargetStartsAnInstanceWithItsKeepAlive) {
  Bench b;
  // Bins of 100 s, margin 50%: idle times of 250 s fall in bin 2 = [200, 300), so the instance
  // starts 0.5 × 200 = 100 s after the model goes idle and may wait 40 s for its request.
  const auto policy = b.make(
      {{"target", "instance"}, {"bin_s", 100}, {"margin", 0.5}, {"min_samples", 3}, {"instance_keep_alive_s", 40}});
  const double t = feed(*policy, ModelId(0), 1000, {250, 250, 250});
  policy->on_idle(ModelId(0), at_s(t));
  const auto actions = planned(*policy, at_s(t));
  ASSERT_EQ(actions.size(), 1u);
  EXPECT_EQ(actions[0].target, PreloadAction::Target::instance);
  EXPECT_EQ(actions[0].at, at_s(t + 100));
  EXPECT_EQ(actions[0].keep_alive, at_s(40));
}

TEST(ForecastPreload, EachModelIsForecastFromItsOwnHistory) {
  Bench b;
  const auto policy = b.make({{"min_samples", 2}});
  // Model 0 idles 630 s (head 600 s, act after 540 s), model 1 idles 150 s (bin 2, head 120 s,
  // act after 108 s); their histories interleave in time but never mix.
  std::vector<PreloadAction> ignored;
  double t = 0;
  for (int i = 0; i < 2; ++i) {
    policy->on_idle(ModelId(0), at_s(t));
    policy->on_idle(ModelId(1), at_s(t));
    policy->on_request(ModelId(1), at_s(t + 150));
    policy->on_request(ModelId(0), at_s(t + 630));
    policy->plan(at_s(t + 630), ignored);
    t += 700;
  }
  policy->on_idle(ModelId(0), at_s(t));
  policy->on_idle(ModelId(1), at_s(t + 1));
  // A third model with no history goes idle too: it has no samples, so nothing for it.
  policy->on_idle(ModelId(2), at_s(t + 2));
  const auto actions = planned(*policy, at_s(t + 2));
  ASSERT_EQ(actions.size(), 2u);
  EXPECT_EQ(actions[0].model, ModelId(0));
  EXPECT_EQ(actions[0].at, at_s(t + 540));
  EXPECT_EQ(actions[1].model, ModelId(1));
  EXPECT_EQ(actions[1].at, at_s(t + 1 + 108));
}

}  // namespace
}  // namespace slsim
