#include "sim/workload/generators.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>

#include "sim/core/errors.h"
#include "sim/workload/factory.h"
#include "sim/workload/model_assigner.h"
#include "sim/workload/trace_source.h"

namespace slsim {
using ::testing::HasSubstr;

namespace {
struct Moments {
  double mean = 0, cv = 0;
};
Moments gap_moments(const GapDistribution& gaps, int n) {
  RandomStream r = RandomStreams(3).stream("test");
  double sum = 0, sum2 = 0;
  for (int i = 0; i < n; ++i) {
    const double x = gaps.draw(r);
    sum += x;
    sum2 += x * x;
  }
  const double mean = sum / n;
  return {mean, std::sqrt(sum2 / n - mean * mean) / mean};
}
ModelCatalogue three_models() { return {{"a", "b", "c"}, {4096, 4096, 2048}}; }

// A source that replays fixed arrival times (seconds), for the transformations.
class FixedSource final : public RequestSource {
 public:
  explicit FixedSource(std::vector<double> times) : times_(std::move(times)) {}
  std::optional<Request> next() override {
    if (i_ == times_.size()) return std::nullopt;
    Request r;
    r.arrival = Time::from_seconds(times_[i_++]);
    return r;
  }

 private:
  std::vector<double> times_;
  size_t i_ = 0;
};
std::vector<double> arrivals_of(RequestSource& s) {
  std::vector<double> out;
  while (auto r = s.next()) out.push_back(r->arrival.seconds());
  return out;
}
}  // namespace

TEST(GapDistribution, GammaAndWeibullHaveTheRequestedRateAndCv) {
  for (const auto family : {GapDistribution::Family::gamma, GapDistribution::Family::weibull}) {
    for (const double cv : {0.5, 1.0, 3.0}) {
      const Moments m = gap_moments(GapDistribution(family, 5.0, cv), 400000);
      EXPECT_NEAR(m.mean, 0.2, 0.2 * 0.02) << cv;
      EXPECT_NEAR(m.cv, cv, cv * 0.05) << cv;
    }
  }
}

TEST(GapDistribution, WeibullShapeOneIsExponentialAndAGivenShapeIsKept) {
  EXPECT_NEAR(weibull_shape_for_cv(1.0), 1.0, 1e-9);
  EXPECT_NEAR(weibull_shape_for_cv(std::sqrt(4 / M_PI - 1)), 2.0, 1e-9);  // Rayleigh
  const GapDistribution given(GapDistribution::Family::weibull, 2.0, 1.0, 0.5);
  EXPECT_EQ(given.shape(), 0.5);
  EXPECT_NEAR(gap_moments(given, 400000).mean, 0.5, 0.5 * 0.03);
}

TEST(TimeWarp, OnOffBurstsSkipTheOffPeriods) {
  SourceSpec spec;
  spec.on_s = 10;
  spec.off_s = 30;
  const TimeWarp warp(spec);
  EXPECT_DOUBLE_EQ(warp(5), 5);
  EXPECT_DOUBLE_EQ(warp(15), 45);  // the second on period starts at 40
  EXPECT_DOUBLE_EQ(warp(25), 85);
}

// With rate·(1 + a·sin(2πt/T)), the expected arrivals by t are t + (aT/2π)(1 − cos(2πt/T)).
TEST(TimeWarp, DiurnalModulationInvertsTheCumulativeRate) {
  SourceSpec spec;
  spec.diurnal_amplitude = 0.5;
  spec.diurnal_period_s = 100;
  const TimeWarp warp(spec);
  for (const double t : {0.0, 10.0, 25.0, 50.0, 99.0, 170.0}) {
    const double u = t + 0.5 * 100 / (2 * M_PI) * (1 - std::cos(2 * M_PI * t / 100));
    EXPECT_NEAR(warp(u), t, 1e-6) << t;
  }
}

TEST(Lengths, CappedToTheContextWindowLeavingRoomForOneOutputToken) {
  using Lengths = std::pair<int64_t, int64_t>;
  EXPECT_EQ(cap_to_context(5000, 100, 4096), Lengths(4095, 1));
  EXPECT_EQ(cap_to_context(100, 5000, 2048), Lengths(100, 1948));
  EXPECT_EQ(cap_to_context(100, 50, 2048), Lengths(100, 50));
}

TEST(Lengths, TableRowsAreDrawnUniformly) {
  SourceSpec spec;
  spec.lengths.kind = "table";
  const auto table = std::filesystem::path(SLSIM_SOURCE_DIR) / "traces/lengths/gsm8k_llama2_tokenizer.csv";
  LengthSampler lengths(spec, table, RandomStreams(1).stream("lengths"));
  double in = 0, out = 0;
  const int n = 100000;
  for (int i = 0; i < n; ++i) {
    const auto [a, b] = lengths.draw(1 << 20);
    in += a;
    out += b;
  }
  EXPECT_NEAR(in / n, 66, 1.5);  // traces/README.md: input mean 66, output mean 130
  EXPECT_NEAR(out / n, 130, 2.5);
}

TEST(Lengths, LognormalHasTheGivenMedian) {
  SourceSpec spec;
  spec.lengths.kind = "lognormal";
  spec.input_tokens = 1000;
  spec.lengths.input_sigma = 0.8;
  LengthSampler lengths(spec, "", RandomStreams(1).stream("lengths"));
  int below = 0;
  const int n = 40000;
  for (int i = 0; i < n; ++i) below += lengths.draw(1 << 20).first < 1000;
  EXPECT_NEAR(below / double(n), 0.5, 0.015);
}

TEST(ModelAssigner, RoundRobinFollowsFirstAppearanceOfIds) {
  SourceSpec spec;
  spec.models = {"a", "b"};
  spec.mapping.model_field = "fn";
  ModelAssigner assign(spec, three_models(), RandomStream(1), "s");
  std::string error;
  EXPECT_EQ(assign.for_id("x", error), ModelId(0));
  EXPECT_EQ(assign.for_id("y", error), ModelId(1));
  EXPECT_EQ(assign.for_id("z", error), ModelId(0));
  EXPECT_EQ(assign.for_id("y", error), ModelId(1));
}

TEST(ModelAssigner, ZipfGivesTheFirstListedModelTheLargestShare) {
  SourceSpec spec;
  spec.models = {"a", "b", "c"};
  spec.assign = "zipf";
  spec.zipf_exponent = 1;
  ModelAssigner assign(spec, three_models(), RandomStreams(1).stream("models"), "s");
  std::vector<int> counts(3);
  const int n = 110000;
  for (int i = 0; i < n; ++i) ++counts[assign.for_request().index()];
  EXPECT_NEAR(counts[0], 60000, 900);  // 1 : 1/2 : 1/3 of 11/6
  EXPECT_NEAR(counts[2], 20000, 900);
}

TEST(ModelAssigner, ExplicitMapAndNamesRefuseUnknownIds) {
  SourceSpec spec;
  spec.assign = "map";
  spec.mapping.model_field = "fn";
  spec.model_map = {{"f1", "c"}, {"f2", "a"}};
  ModelAssigner assign(spec, three_models(), RandomStream(1), "s");
  std::string error;
  EXPECT_EQ(assign.for_id("f1", error), ModelId(2));
  EXPECT_EQ(assign.for_id("f2", error), ModelId(0));
  EXPECT_FALSE(assign.for_id("f3", error));
  EXPECT_EQ(error, "id \"f3\" is not in model_map");
  spec.model_map = {{"f1", "nope"}};
  EXPECT_THROW(ModelAssigner(spec, three_models(), RandomStream(1), "s"), ConfigError);
  SourceSpec by_name;
  by_name.mapping.model_field = "model";
  ModelAssigner names(by_name, three_models(), RandomStream(1), "s");
  EXPECT_EQ(names.for_id("b", error), ModelId(1));
  EXPECT_FALSE(names.for_id("d", error));
}

// The Poisson source draws exactly what the foundation's did: gaps exponential(rate) from
// the stream arrivals/<index>, fixed lengths, so existing configs replay identically.
TEST(GeneratedSource, PoissonKeepsTheFoundationsStream) {
  SourceSpec spec;
  spec.kind = "poisson";
  spec.model = "b";
  spec.rate_per_s = 2;
  spec.requests = 50;
  spec.input_tokens = 100;
  spec.output_tokens = 7;
  const RandomStreams streams(9);
  const auto source = make_source(spec, three_models(), streams, 4);
  RandomStream reference = streams.stream("arrivals/4");
  double clock = 0;
  int n = 0;
  while (auto r = source->next()) {
    clock += reference.exponential(2);
    EXPECT_EQ(r->arrival, Time::from_seconds(clock));
    EXPECT_EQ(r->model, ModelId(1));
    EXPECT_EQ(r->input_tokens, 100);
    ++n;
  }
  EXPECT_EQ(n, 50);
}

TEST(GeneratedSource, LengthsAreCappedByTheRequestsModel) {
  SourceSpec spec;
  spec.kind = "gamma";
  spec.models = {"a", "c"};
  spec.requests = 10;
  spec.input_tokens = 3000;
  spec.output_tokens = 3000;
  const auto source = make_source(spec, three_models(), RandomStreams(1), 0);
  while (auto r = source->next()) {
    EXPECT_EQ(r->input_tokens, r->model == ModelId(0) ? 3000 : 2047);  // c's window is 2048
    EXPECT_EQ(r->input_tokens + r->output_tokens, r->model == ModelId(0) ? 4096 : 2048);
  }
}

TEST(TransformedSource, WindowShiftsToZeroAndCompressionDividesTime) {
  TransformedSource s(std::make_unique<FixedSource>(std::vector<double>{1, 2, 3, 4, 5}), 2, 2.5, 2, 1, RandomStream(1));
  EXPECT_EQ(arrivals_of(s), (std::vector<double>{0, 0.5, 1}));  // 2, 3, 4 kept; 4.5 is the end
}

TEST(TransformedSource, RateScaleRepeatsOrThinsArrivals) {
  std::vector<double> times;
  for (int i = 0; i < 10000; ++i) times.push_back(i);
  TransformedSource doubled(std::make_unique<FixedSource>(times), 0, std::nullopt, 1, 2, RandomStream(1));
  const auto twice = arrivals_of(doubled);
  ASSERT_EQ(twice.size(), 20000u);
  EXPECT_EQ(twice[2], 1);
  EXPECT_EQ(twice[3], 1);
  TransformedSource thinned(std::make_unique<FixedSource>(times), 0, std::nullopt, 1, 0.25, RandomStream(1));
  EXPECT_NEAR(arrivals_of(thinned).size(), 2500, 150);
}

}  // namespace slsim
