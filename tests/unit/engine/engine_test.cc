#include "sim/engine/engine.h"

#include <gtest/gtest.h>

namespace slsim {
namespace {

// Every step takes 10 ms; prefill steps 20 ms, so the two kinds can be told apart.
struct FixedLatency : LatencyModel {
  mutable std::vector<StepShape> shapes;
  Time step_time(const StepShape& s) const override {
    shapes.push_back(s);
    return Time::from_ms(s.prefill_tokens > 0 ? 20 : 10);
  }
};

EngineParams params(int64_t max_seqs = 256, int64_t max_batched = 8192) {
  EngineParams p;
  p.max_num_seqs = max_seqs;
  p.max_num_batched_tokens = max_batched;
  return p;
}

}  // namespace

TEST(Engine, PrefillYieldsTheFirstTokenThenOneTokenPerDecodeStep) {
  FixedLatency latency;
  Engine engine(latency, params(), 1000);
  engine.enqueue({7, 100, 3});
  EXPECT_EQ(engine.begin_step(), Time::from_ms(20));
  EXPECT_EQ(engine.finish_step().first_tokens, std::vector<RequestId>{7});
  EXPECT_EQ(engine.begin_step(), Time::from_ms(10));
  EXPECT_TRUE(engine.finish_step().finished.empty());
  EXPECT_EQ(engine.begin_step(), Time::from_ms(10));
  EXPECT_EQ(engine.finish_step().finished, std::vector<RequestId>{7});
  EXPECT_FALSE(engine.begin_step().has_value());
  EXPECT_TRUE(engine.idle());
  ASSERT_EQ(latency.shapes.size(), 3u);
  EXPECT_EQ(latency.shapes[1].decode_context_tokens, 101);
  EXPECT_EQ(latency.shapes[2].decode_context_tokens, 102);
}

TEST(Engine, SingleTokenRequestFinishesWithItsPrefill) {
  FixedLatency latency;
  Engine engine(latency, params(), 1000);
  engine.enqueue({1, 10, 1});
  engine.begin_step();
  const StepResult& r = engine.finish_step();
  EXPECT_EQ(r.first_tokens, std::vector<RequestId>{1});
  EXPECT_EQ(r.finished, std::vector<RequestId>{1});
  EXPECT_EQ(engine.kv_reserved_tokens(), 0);
}

TEST(Engine, NewArrivalsArePrefilledBeforeTheRunningBatchDecodes) {
  FixedLatency latency;
  Engine engine(latency, params(), 1000);
  engine.enqueue({1, 10, 5});
  engine.begin_step();
  engine.finish_step();
  engine.enqueue({2, 20, 5});
  engine.begin_step();
  EXPECT_EQ(latency.shapes.back().prefill_tokens, 20);
  EXPECT_EQ(engine.finish_step().first_tokens, std::vector<RequestId>{2});
  engine.begin_step();
  EXPECT_EQ(latency.shapes.back().decode_sequences, 2);
}

TEST(Engine, AdmissionRespectsMaxNumSeqsAndBatchedTokens) {
  FixedLatency latency;
  Engine engine(latency, params(2, 100), 10000);
  for (RequestId i = 0; i < 3; ++i) engine.enqueue({i, 60, 4});
  engine.begin_step();
  // 60 + 60 > 100 batched tokens: one prompt per prefill step.
  EXPECT_EQ(latency.shapes.back().prefill_tokens, 60);
  engine.finish_step();
  engine.begin_step();
  EXPECT_EQ(latency.shapes.back().prefill_tokens, 60);
  engine.finish_step();
  engine.begin_step();
  // max_num_seqs = 2: the third waits, the two running decode.
  EXPECT_EQ(latency.shapes.back().decode_sequences, 2);
  EXPECT_EQ(engine.outstanding(), 3);
}

TEST(Engine, RequestWaitsUntilTheKvCacheHasRoomForItsWholeSequence) {
  FixedLatency latency;
  Engine engine(latency, params(), 90);
  engine.enqueue({1, 50, 2});
  engine.enqueue({2, 40, 2});  // 52 + 42 > 90
  engine.begin_step();
  EXPECT_EQ(latency.shapes.back().prefill_tokens, 50);
  EXPECT_EQ(engine.kv_reserved_tokens(), 52);
  engine.finish_step();
  engine.begin_step();
  EXPECT_EQ(latency.shapes.back().decode_sequences, 1);
  EXPECT_EQ(engine.finish_step().finished, std::vector<RequestId>{1});
  EXPECT_EQ(engine.kv_reserved_tokens(), 0);
  engine.begin_step();
  EXPECT_EQ(latency.shapes.back().prefill_tokens, 40);
}

TEST(Engine, RefusesARequestThatCanNeverFit) {
  FixedLatency latency;
  Engine engine(latency, params(), 100);
  EXPECT_FALSE(engine.fits({1, 90, 20}));
  EXPECT_THROW(engine.enqueue({1, 90, 20}), std::logic_error);
}

TEST(RooflineLatency, DecodeIsMemoryBoundAndPrefillComputeBound) {
  ModelSpec m;
  m.architecture = Architecture{};
  m.architecture.layers = 32;
  m.architecture.hidden_size = 4096;
  m.architecture.attention_heads = 32;
  m.architecture.kv_heads = 32;
  m.architecture.head_dim = 128;
  m.architecture.ffn_size = 11008;
  m.architecture.ffn_kind = "gated";
  m.architecture.vocab_size = 32000;
  GpuProfile gpu;
  gpu.hbm_bandwidth_gbps = 1000;
  gpu.dense_fp16_tflops = 100;
  RooflineParams p{1.0, 1.0, 0.0};
  const RooflineLatency latency(m, gpu, 1, p);
  StepShape decode;
  decode.decode_sequences = 1;
  decode.decode_context_tokens = 0;
  // One token: the weights dominate; time = bytes / 1000 GB/s.
  const double expected_decode = (static_cast<double>(m.checkpoint_bytes()) + m.kv_bytes_per_token()) / 1e12;
  EXPECT_NEAR(latency.step_time(decode).seconds(), expected_decode, 1e-9);
  StepShape prefill;
  prefill.prefill_tokens = 4096;
  const double expected_prefill = 2.0 * static_cast<double>(m.linear_parameters()) * 4096 / 100e12;
  EXPECT_NEAR(latency.step_time(prefill).seconds(), expected_prefill, 1e-9);
}

}  // namespace slsim
