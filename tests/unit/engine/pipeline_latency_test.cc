// A pipeline over stages on several servers (PipelineLatency): a step takes the model's step time
// plus its tokens' activations over every stage boundary, computed by hand. The inner model's
// step takes 1 ms whatever its shape; 4 stages over 1.25 GB/s boundaries of a 4096-wide fp16
// model: 8,192 B per token per boundary, 6,553.6 ns, 19,660.8 ns over the 3 boundaries.

#include "sim/engine/pipeline_latency.h"

#include <gtest/gtest.h>

#include <vector>

namespace slsim {
namespace {

struct FixedStep : LatencyModel {
  Time step_time(const StepShape&) const override { return Time::from_ns(1'000'000); }
};

constexpr double kBoundariesSPerToken = 3 * 4096 * 2 / 1.25e9;

TEST(PipelineLatency, APrefillStepAddsItsTokensOverEveryBoundary) {
  const FixedStep inner;
  const PipelineLatency pipeline(inner, kBoundariesSPerToken);
  StepShape shape;
  shape.prefill_tokens = 1000;
  shape.prefill_sequences = 1;
  // 1 ms + 1000 x 19,660.8 ns = 1 ms + 19.6608 ms
  EXPECT_EQ(pipeline.step_time(shape).ns(), 1'000'000 + 19'660'800);
}

TEST(PipelineLatency, EachDecodeStepOfARunAddsOneTokenPerSequence) {
  const FixedStep inner;
  const PipelineLatency pipeline(inner, kBoundariesSPerToken);
  StepShape shape;
  shape.decode_sequences = 10;
  shape.decode_context_tokens = 1000;
  std::vector<Time> times(5);
  const Time total = pipeline.run_step_times(shape, 5, times.data());
  // 10 tokens x 19,660.8 ns = 196,608 ns per step.
  for (const Time t : times) EXPECT_EQ(t.ns(), 1'000'000 + 196'608);
  EXPECT_EQ(total.ns(), 5 * (1'000'000 + 196'608));
}

TEST(PipelineLatency, ConsolidatedItTakesTheModelsStepTime) {
  const FixedStep inner;
  PipelineLatency pipeline(inner, kBoundariesSPerToken);
  EXPECT_TRUE(pipeline.pipelined());
  pipeline.consolidate();
  EXPECT_FALSE(pipeline.pipelined());
  StepShape shape;
  shape.prefill_tokens = 1000;
  EXPECT_EQ(pipeline.step_time(shape).ns(), 1'000'000);
}

}  // namespace
}  // namespace slsim
