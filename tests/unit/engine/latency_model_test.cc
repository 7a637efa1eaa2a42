#include "sim/engine/latency_model.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>

#include "sim/config/experiment_config.h"
#include "sim/core/errors.h"
#include "sim/engine/engine.h"
#include "tests/unique_temp_dir.h"

namespace slsim {
namespace {

const std::string kTestGpuFile = std::string(SLSIM_SOURCE_DIR) + "/tests/testdata/calibration/test-gpu.json";

// Matches the synthetic table: every linear layer measured except the output head.
ModelSpec tiny_model() {
  ModelSpec m;
  m.name = "tiny";
  m.architecture.layers = 2;
  m.architecture.hidden_size = 8;
  m.architecture.attention_heads = 2;
  m.architecture.kv_heads = 2;
  m.architecture.head_dim = 4;
  m.architecture.ffn_size = 16;
  m.architecture.vocab_size = 32;
  m.architecture.max_context = 128;
  return m;
}

GpuProfile test_gpu() {
  GpuProfile gpu;
  gpu.name = "test-gpu";
  gpu.memory_bytes = int64_t{1} << 30;
  gpu.hbm_bandwidth_gbytes_per_s = 1000;
  gpu.dense_fp16_tflops = 100;
  gpu.interconnect_gbytes_per_s = 100;
  return gpu;
}

}  // namespace

TEST(Interpolation, IsLogLogLinearInsideFlatBelowAndLinearAbove) {
  const std::vector<double> xs = {1, 16};
  const std::vector<double> ys = {10, 40};
  EXPECT_NEAR(interpolate_loglog(xs, ys, 4), 20, 1e-9);  // halfway in log x: sqrt(10 × 40)
  EXPECT_EQ(interpolate_loglog(xs, ys, 0.5), 10);
  EXPECT_NEAR(interpolate_loglog(xs, ys, 32), 80, 1e-9);
  EXPECT_NEAR(interpolate_grid({1, 4}, {16, 64}, {5, 10, 8, 20}, 2, 32),
              std::sqrt(std::sqrt(5.0 * 10) * std::sqrt(8.0 * 20)), 1e-9);
  EXPECT_NEAR(interpolate_grid({1, 4}, {16, 64}, {5, 10, 8, 20}, 8, 64), 40, 1e-9);
}

TEST(Interpolation, BelowTheFirstContextAttentionIsProportionalDownToTheSmallestTime) {
  // Batch 4 at context 12: 8 µs × 12/16; at context 8 the proportional 4 µs is under the
  // table's smallest time, 5 µs.
  EXPECT_NEAR(interpolate_grid({1, 4}, {16, 64}, {5, 10, 8, 20}, 4, 12), 6, 1e-9);
  EXPECT_NEAR(interpolate_grid({1, 4}, {16, 64}, {5, 10, 8, 20}, 4, 8), 5, 1e-9);
}

TEST(CalibratedLatency, SumsMeasuredKernelsAndTheOverhead) {
  const CalibrationProfile profile = load_calibration(kTestGpuFile);
  const CalibratedLatency latency(tiny_model(), test_gpu(), 1, 16, RooflineParams{1, 1, 0}, profile);
  StepShape decode;
  decode.decode_sequences = 4;
  decode.decode_context_tokens = 4 * 64;
  // 4 GEMMs of 20 µs (4 tokens), attention of 20 µs (batch 4, context 64) and elementwise
  // kernels of sqrt(2 × 8) = 4 µs, per layer, two layers; 7 µs overhead; the output head's
  // roofline is under a nanosecond.
  EXPECT_NEAR(latency.step_time(decode).seconds() * 1e6, 2 * (4 * 20 + 20 + 4) + 7, 0.002);
}

TEST(CalibratedLatency, TakesTheElementwiseTableOfTheSameFfnKind) {
  ModelSpec gated = tiny_model();
  gated.architecture.ffn_kind = "gated";
  const CalibratedLatency latency(gated, test_gpu(), 1, 16, RooflineParams{1, 1, 0}, load_calibration(kTestGpuFile));
  StepShape decode;
  decode.decode_sequences = 4;
  decode.decode_context_tokens = 4 * 64;
  // qkv, o and down measured (20 µs each), gate_up and the head roofline (0.83 ns each, three
  // of them), attention 20 µs, the gated layer's elementwise 100 µs; two layers and 7 µs overhead.
  EXPECT_NEAR(latency.step_time(decode).seconds() * 1e6, 2 * (3 * 20 + 20 + 100) + 7, 0.003);
}

TEST(CalibratedLatency, ScalesTheNearestElementwiseTableByHiddenSize) {
  ModelSpec wider = tiny_model();
  wider.architecture.hidden_size = 16;
  wider.architecture.ffn_size = 32;
  const CalibratedLatency latency(wider, test_gpu(), 1, 16, RooflineParams{}, load_calibration(kTestGpuFile));
  const std::vector<std::string> estimates = latency.estimates();
  // Hidden 16 is nearer tiny's 8 than wide's 32.
  EXPECT_NE(std::find(estimates.begin(), estimates.end(), "elementwise kernels: tiny's layer x 2 (hidden size ratio)"),
            estimates.end());
}

TEST(CalibratedLatency, TheGraphCapturedProfileTimesDecodeStepsUpToItsLargestBatch) {
  CalibrationProfile profile = load_calibration(kTestGpuFile);
  EngineProfile graph;
  graph.name = "graph-captured";
  graph.max_batch = 4;
  graph.step_overhead_us = 50;
  graph.per_sequence_us = 10;
  graph.elementwise.push_back(ElementwiseTable{"tiny", 8, 16, "mlp", {1, 16}, {1, 1}});
  profile.engine_profiles.push_back(graph);
  const CalibratedLatency eager(tiny_model(), test_gpu(), 1, 16, RooflineParams{1, 1, 0}, profile);
  const CalibratedLatency replayed(tiny_model(), test_gpu(), 1, 16, RooflineParams{1, 1, 0}, profile, "graph-captured");
  StepShape decode;
  decode.decode_sequences = 4;
  decode.decode_context_tokens = 4 * 64;
  // As SumsMeasuredKernelsAndTheOverhead, with the fused elementwise kernels at 1 µs a layer,
  // and 50 µs + 4 x 10 µs of host time instead of the 7 µs overhead.
  EXPECT_NEAR(replayed.step_time(decode).seconds() * 1e6, 2 * (4 * 20 + 20 + 1) + 50 + 4 * 10, 0.002);
  // A batch above the largest captured one, and any step with a prompt, runs as the base tables.
  StepShape larger = decode;
  larger.decode_sequences = 5;
  larger.decode_context_tokens = 5 * 64;
  EXPECT_EQ(replayed.step_time(larger), eager.step_time(larger));
  StepShape prefill;
  prefill.prefill_tokens = 64;
  prefill.prefill_sequences = 1;
  prefill.prefill_attention_pairs = 64.0 * 64 / 2;
  EXPECT_EQ(replayed.step_time(prefill), eager.step_time(prefill));
  // An empty name takes the file's default, here the base tables.
  const CalibratedLatency by_default(tiny_model(), test_gpu(), 1, 16, RooflineParams{1, 1, 0}, profile, "");
  EXPECT_EQ(by_default.step_time(decode), eager.step_time(decode));
}

namespace {

// `profile` with a graph-captured engine profile of 50 µs + 10 µs a sequence of host time and
// tiny's fused kernels at 1 µs a layer (decode) and 3 µs at 16 tokens, 12 at 64 (prefill).
CalibrationProfile with_graph_prefill_tables(CalibrationProfile profile) {
  EngineProfile graph;
  graph.name = "graph-captured";
  graph.step_overhead_us = 50;
  graph.per_sequence_us = 10;
  graph.elementwise.push_back(ElementwiseTable{"tiny", 8, 16, "mlp", {1, 16}, {1, 1}});
  graph.prefill_elementwise.push_back(ElementwiseTable{"tiny", 8, 16, "mlp", {16, 64}, {3, 12}});
  profile.engine_profiles.push_back(graph);
  return profile;
}

}  // namespace

TEST(CalibratedLatency, TheGraphCapturedProfileTimesStepsWithPromptsByItsPrefillTables) {
  CalibrationProfile profile = with_graph_prefill_tables(load_calibration(kTestGpuFile));
  const CalibratedLatency eager(tiny_model(), test_gpu(), 1, 16, RooflineParams{1, 1, 0}, profile);
  const CalibratedLatency captured(tiny_model(), test_gpu(), 1, 16, RooflineParams{1, 1, 0}, profile, "graph-captured");
  StepShape prefill;
  prefill.prefill_tokens = 16;
  prefill.prefill_sequences = 2;
  prefill.prefill_attention_pairs = 2 * 8.0 * 8 / 2;
  // The same GEMMs and attention; the prefill table's 3 µs a layer instead of the base table's
  // 8 µs (tiny at 16 tokens), and 50 µs + 2 x 10 µs of host time instead of the 7 µs overhead.
  EXPECT_NEAR((captured.step_time(prefill) - eager.step_time(prefill)).seconds() * 1e6, 2 * (3 - 8) + (50 + 2 * 10 - 7),
              0.002);
  // Without prefill tables, steps with prompts run as the base tables.
  profile.engine_profiles.front().prefill_elementwise.clear();
  const CalibratedLatency decode_only(tiny_model(), test_gpu(), 1, 16, RooflineParams{1, 1, 0}, profile,
                                      "graph-captured");
  EXPECT_EQ(decode_only.step_time(prefill), eager.step_time(prefill));
}

// The engine replays a prefill graph captured at the smallest bucket that holds the step's
// tokens: 20 tokens under buckets 16 and 64 cost the GEMMs and fused kernels of 64, with the
// attention of the 20 they hold; at a bucket, or past the largest, nothing is padded.
TEST(CalibratedLatency, APromptStepRunsItsGemmsAndFusedKernelsPaddedToTheCapturedBucket) {
  CalibrationProfile profile = with_graph_prefill_tables(load_calibration(kTestGpuFile));
  const CalibratedLatency unpadded(tiny_model(), test_gpu(), 1, 16, RooflineParams{1, 1, 0}, profile, "graph-captured");
  profile.engine_profiles.front().prefill_token_buckets = {16, 64};
  const CalibratedLatency padded(tiny_model(), test_gpu(), 1, 16, RooflineParams{1, 1, 0}, profile, "graph-captured");
  const auto prompt = [](int64_t tokens, double attention_tokens) {
    StepShape s;
    s.prefill_tokens = tokens;
    s.prefill_sequences = 1;
    s.prefill_attention_pairs = attention_tokens * attention_tokens / 2;
    return s;
  };
  EXPECT_EQ(padded.step_time(prompt(20, 20)), unpadded.step_time(prompt(64, 20)));
  EXPECT_GT(padded.step_time(prompt(20, 20)), unpadded.step_time(prompt(20, 20)));
  EXPECT_EQ(padded.step_time(prompt(64, 64)), unpadded.step_time(prompt(64, 64)));
  EXPECT_EQ(padded.step_time(prompt(100, 100)), unpadded.step_time(prompt(100, 100)));
  StepShape decode;
  decode.decode_sequences = 3;
  decode.decode_context_tokens = 3 * 40;
  EXPECT_EQ(padded.step_time(decode), unpadded.step_time(decode));
  // With a measured prefill attention table (by prompt length), padding still adds only the
  // GEMMs' and fused kernels' difference: the attention is the 20 tokens' on both sides.
  profile.prefill_attention.push_back(AttentionTable{2, 2, 4, 0, "f16", {1}, {16, 64}, {2, 30}});
  const CalibratedLatency padded_measured(tiny_model(), test_gpu(), 1, 16, RooflineParams{1, 1, 0}, profile,
                                          "graph-captured");
  profile.engine_profiles.front().prefill_token_buckets.clear();
  const CalibratedLatency unpadded_measured(tiny_model(), test_gpu(), 1, 16, RooflineParams{1, 1, 0}, profile,
                                            "graph-captured");
  EXPECT_NEAR((padded_measured.step_time(prompt(20, 20)) - unpadded_measured.step_time(prompt(20, 20))).seconds(),
              (padded.step_time(prompt(20, 20)) - unpadded.step_time(prompt(20, 20))).seconds(), 1e-12);
}

TEST(CalibratedLatency, BucketsOutOfOrderNameTheirPath) {
  const auto path = testing_support::unique_temp_dir("calibration") / "buckets.json";
  std::ofstream(path) << R"({"gpu": "x", "engine_profiles": [{"name": "graph-captured",
                             "prefill_token_buckets": [64, 32]}]})";
  try {
    load_calibration(path.string());
    FAIL() << "expected an error";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("engine_profiles[0].prefill_token_buckets[1]: expected ascending values"),
              std::string::npos)
        << e.what();
  }
}

TEST(CalibratedLatency, AnUnknownEngineProfileNamesTheKeyTheFileAndTheValidNames) {
  CalibrationProfile profile = load_calibration(kTestGpuFile);
  profile.engine_profiles.push_back(EngineProfile{"graph-captured", "", 256, 0, 0, {}, {}, {}});
  try {
    profile.engine_profile("graph", "engine.profile", "cal/test-gpu.json");
    FAIL() << "expected a ConfigError";
  } catch (const ConfigError& e) {
    EXPECT_EQ(e.path(), "engine.profile");
    EXPECT_NE(std::string(e.what()).find("cal/test-gpu.json; expected one of: eager, graph-captured"),
              std::string::npos)
        << e.what();
  }
}

TEST(CalibratedLatency, SaysWhichPartsAreRooflineEstimates) {
  const CalibrationProfile profile = load_calibration(kTestGpuFile);
  const CalibratedLatency latency(tiny_model(), test_gpu(), 1, 16, RooflineParams{}, profile);
  const std::vector<std::string> expected = {"lm_head 8x32: roofline (shape not measured)",
                                             "prefill attention 2/2 heads x 4: roofline (not measured)"};
  EXPECT_EQ(latency.estimates(), expected);
  // Another block size has no paged-attention table.
  const CalibratedLatency other(tiny_model(), test_gpu(), 1, 32, RooflineParams{}, profile);
  EXPECT_EQ(other.estimates().size(), 3u);
}

TEST(CalibratedLatency, SplitsUnmeasuredTensorParallelShapesOverTheGpus) {
  const CalibrationProfile profile = load_calibration(kTestGpuFile);
  const CalibratedLatency latency(tiny_model(), test_gpu(), 2, 16, RooflineParams{1, 1, 0}, profile);
  EXPECT_EQ(latency.estimates().front(), "qkv_proj 8x24: the unsplit shape's time / 2 GPUs");
  StepShape decode;
  decode.decode_sequences = 16;
  decode.decode_context_tokens = 16 * 16;
  const double gemms_us = 2 * 4 * 40 / 2.0;
  // One kv head per GPU: no table, so attention is the roofline; compare without it.
  EXPECT_GT(latency.step_time(decode).seconds() * 1e6, gemms_us + 7);
}

TEST(CalibratedLatency, MalformedTablesNameTheFileAndThePath) {
  const auto path = testing_support::unique_temp_dir("calibration") / "bad_calibration.json";
  std::ofstream(path)
      << R"({"gpu": "x", "gemm": [{"in_features": 8, "out_features": 8, "tokens": [1, 2], "us": [1]}]})";
  try {
    load_calibration(path.string());
    FAIL() << "expected an error";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find(path.string()), std::string::npos);
    EXPECT_NE(std::string(e.what()).find("gemm[0].us: expected 2 values, got 1"), std::string::npos);
  }
  EXPECT_THROW(load_calibration("/nonexistent/calibration.json"), InputError);
}

// The calibration file goes through the project's JSON reader: a repeated key or nesting past
// the depth limit is refused with the file and the JSON path, as in an experiment config.
TEST(CalibratedLatency, RepeatedKeysAndDeepNestingNameTheFileAndThePath) {
  const auto folder = testing_support::unique_temp_dir("calibration");
  const auto repeated = folder / "repeated.json";
  std::ofstream(repeated) << R"({"gpu": "x", "gemm": [{"in_features": 8, "in_features": 8}]})";
  try {
    load_calibration(repeated.string());
    FAIL() << "expected an error";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find(repeated.string() + ": gemm[0].in_features: the key appears twice"),
              std::string::npos)
        << e.what();
  }
  const auto deep = folder / "deep.json";
  std::ofstream(deep) << R"({"gpu": )" << std::string(1000, '[') << std::string(1000, ']') << "}";
  try {
    load_calibration(deep.string());
    FAIL() << "expected an error";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("nested deeper than"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find(deep.string()), std::string::npos) << e.what();
  }
}

TEST(LatencyModelFactory, BuildsTheConfiguredModel) {
  EngineParams params;
  EXPECT_EQ(make_latency_model(tiny_model(), test_gpu(), 1, params)->estimates(),
            std::vector<std::string>{"all parts: roofline"});
  params.latency_model = LatencyModelKind::calibrated;
  params.calibration_dir = std::string(SLSIM_SOURCE_DIR) + "/tests/testdata/calibration";
  EXPECT_EQ(make_latency_model(tiny_model(), test_gpu(), 1, params)->estimates().size(), 2u);
}

TEST(LatencyModel, ARunsStepTimesAreEachStepsTimeWithOneMoreTokenPerSequence) {
  EngineParams params;
  params.calibration_dir = std::string(SLSIM_SOURCE_DIR) + "/tests/testdata/calibration";
  for (const LatencyModelKind kind : {LatencyModelKind::roofline, LatencyModelKind::calibrated}) {
    params.latency_model = kind;
    for (const int64_t tensor_parallel : {1, 4}) {
      const auto model = make_latency_model(tiny_model(), test_gpu(), tensor_parallel, params);
      StepShape shape;
      shape.decode_sequences = 7;
      shape.decode_context_tokens = 7 * 90;
      std::vector<Time> times(42, Time::from_ns(5));  // written to times[1, 41) only
      const Time total = model->run_step_times(shape, 40, times.data() + 1);
      EXPECT_EQ(times.front(), Time::from_ns(5));
      EXPECT_EQ(times.back(), Time::from_ns(5));
      times.pop_back();
      Time sum = Time::zero();
      for (int64_t k = 0; k < 40; ++k) {
        EXPECT_EQ(times[static_cast<size_t>(k) + 1], model->step_time(shape))
            << name_of(kind, kLatencyModelNames) << " step " << k;
        sum += model->step_time(shape);
        shape.decode_context_tokens += shape.decode_sequences;
      }
      EXPECT_EQ(total, sum);
      EXPECT_GT(times.back(), times[1]) << name_of(kind, kLatencyModelNames);  // longer contexts read more
    }
  }
}

// A lone request's decode steps are timed once per context and looked up after: runs that
// overlap ones before, and one at contexts beyond the table, still give step_time at every step.
TEST(LatencyModel, ALoneRequestsStepsAreTheSameWhetherTimedOrLookedUp) {
  const auto model = make_latency_model(tiny_model(), test_gpu(), 1, EngineParams{});
  for (const int64_t first_context : std::vector<int64_t>{100, 150, 40, (int64_t{1} << 20) + 5}) {
    StepShape shape;
    shape.decode_sequences = 1;
    shape.decode_context_tokens = first_context;
    std::vector<Time> times(100);
    const Time total = model->run_step_times(shape, 100, times.data());
    Time sum = Time::zero();
    for (int64_t k = 0; k < 100; ++k) {
      ASSERT_EQ(times[static_cast<size_t>(k)], model->step_time(shape)) << "context " << shape.decode_context_tokens;
      sum += times[static_cast<size_t>(k)];
      ++shape.decode_context_tokens;
    }
    EXPECT_EQ(total, sum);
  }
}

// The roofline skips the flops of a run that is memory-bound by a clear margin at its first and
// last steps; runs from compute-bound to memory-bound (many sequences of short context) and
// near the crossover time both terms. Every step must still be step_time of its shape.
TEST(LatencyModel, ARunsStepTimesEqualStepTimeOnBothSidesOfTheRooflineCrossover) {
  EngineParams params;
  for (const int64_t tensor_parallel : {1, 2}) {
    // A catalogue model, whose weights outweigh the step overhead.
    const auto file = std::filesystem::path(SLSIM_SOURCE_DIR) / "models/llm/llama-2-7b.json";
    ModelSpec seven_b;
    JsonReader::read_struct(load_json_file(file), file.string(), seven_b);
    const auto model = make_latency_model(seven_b, test_gpu(), tensor_parallel, params);
    for (const int64_t sequences : {1, 7, 64, 512, 4096, 32768, 262144}) {
      for (const int64_t context_per_sequence : {1, 2, 17, 300, 4000}) {
        for (const int64_t prefill_tokens : {0, 1000}) {
          StepShape shape;
          shape.prefill_tokens = prefill_tokens;
          shape.prefill_attention_pairs = static_cast<double>(prefill_tokens * prefill_tokens) / 2;
          shape.prefill_sequences = prefill_tokens > 0 ? 1 : 0;
          shape.decode_sequences = sequences;
          shape.decode_context_tokens = sequences * context_per_sequence;
          const int64_t steps = 300;
          std::vector<Time> times(static_cast<size_t>(steps));
          const Time total = model->run_step_times(shape, steps, times.data());
          Time sum = Time::zero();
          for (int64_t k = 0; k < steps; ++k) {
            ASSERT_EQ(times[static_cast<size_t>(k)], model->step_time(shape))
                << sequences << " sequences of " << context_per_sequence << " tokens, step " << k;
            sum += times[static_cast<size_t>(k)];
            shape.decode_context_tokens += shape.decode_sequences;
          }
          EXPECT_EQ(total, sum);
        }
      }
    }
  }
}

}  // namespace slsim

namespace slsim {
namespace {

// One MoE layer: 8 routed experts of 3 x 8 x 4 = 96 weights (192 bytes), top-2. Parameters:
// attention 192, experts 768, router 64, norms 16, embedding and head 160, final norm 8 =
// 1208 (2416 bytes); all but the experts, 880 bytes. KV: 2 x 4 x 2 = 16 bytes a token.
ModelSpec tiny_moe_model() {
  ModelSpec m;
  m.name = "tiny-moe";
  m.architecture.layers = 1;
  m.architecture.hidden_size = 8;
  m.architecture.attention_heads = 2;
  m.architecture.kv_heads = 1;
  m.architecture.head_dim = 4;
  m.architecture.ffn_size = 16;
  m.architecture.ffn_kind = "gated";
  m.architecture.vocab_size = 10;
  m.architecture.max_context = 128;
  m.architecture.norm = "rmsnorm";
  m.dtype = "bf16";
  MoeArchitecture moe;
  moe.routed_experts = 8;
  moe.experts_per_token = 2;
  moe.expert_ffn_size = 4;
  m.architecture.moe = moe;
  return m;
}

// 1 GB/s of memory: a byte read is a nanosecond; compute is far from the bound.
GpuProfile slow_memory_gpu() {
  GpuProfile gpu = test_gpu();
  gpu.hbm_bandwidth_gbytes_per_s = 1;
  return gpu;
}

bool has_estimate(const LatencyModel& latency, const std::string& line) {
  const std::vector<std::string> estimates = latency.estimates();
  return std::find(estimates.begin(), estimates.end(), line) != estimates.end();
}

}  // namespace

TEST(RooflineLatency, AnMoeDecodeStepReadsOnlyTheExpertsItsTokensTouch) {
  const ModelSpec m = tiny_moe_model();
  ASSERT_EQ(m.shared_weight_bytes(), 880);
  ASSERT_EQ(m.routed_expert_bytes(), 192);
  const RooflineLatency latency(m, slow_memory_gpu(), 1, RooflineParams{1, 1, 0});
  StepShape one;
  one.decode_sequences = 1;
  one.decode_context_tokens = 1;
  // 880 + 2 experts x 192 + KV 16 x (1 read + 1 written).
  EXPECT_EQ(latency.step_time(one).ns(), 880 + 2 * 192 + 16 * 2);
  StepShape four;
  four.decode_sequences = 4;
  four.decode_context_tokens = 4;
  // 8 (1 − (3/4)^4) = 5.46875 experts touched: 1050 bytes.
  EXPECT_EQ(latency.step_time(four).ns(), 880 + 1050 + 16 * 8);
  // A run of steps sees the same expert bytes.
  std::vector<Time> times(3);
  latency.run_step_times(four, 3, times.data());
  EXPECT_EQ(times[0], latency.step_time(four));
}

TEST(RooflineLatency, SkewedRoutingTouchesFewerExperts) {
  ModelSpec skewed = tiny_moe_model();
  skewed.architecture.moe->expert_skew = 1.5;
  const RooflineLatency uniform(tiny_moe_model(), slow_memory_gpu(), 1, RooflineParams{1, 1, 0});
  const RooflineLatency imbalanced(skewed, slow_memory_gpu(), 1, RooflineParams{1, 1, 0});
  StepShape four;
  four.decode_sequences = 4;
  four.decode_context_tokens = 4;
  const double touched = ExpertRouting(8, 2, 1.5).expected_distinct_experts(4);
  EXPECT_LT(touched, 5.46875);
  EXPECT_NEAR(static_cast<double>(imbalanced.step_time(four).ns()), 880 + touched * 192 + 16 * 8, 1);
  EXPECT_LT(imbalanced.step_time(four), uniform.step_time(four));
}

TEST(RooflineLatency, QuantizedWeightsReadFewerBytes) {
  ModelSpec m = tiny_moe_model();
  m.expert_dtype = "mxfp4";
  // An expert is 96 x 4.25 / 8 = 51 bytes; the rest stays 880.
  const RooflineLatency latency(m, slow_memory_gpu(), 1, RooflineParams{1, 1, 0});
  StepShape one;
  one.decode_sequences = 1;
  one.decode_context_tokens = 1;
  EXPECT_EQ(latency.step_time(one).ns(), 880 + 2 * 51 + 16 * 2);
}

TEST(CalibratedLatency, QuantizedLayersAreRooflineEstimatesNotBf16Measurements) {
  ModelSpec quantized = tiny_model();
  quantized.linear_dtype = "int4";
  const CalibrationProfile profile = load_calibration(kTestGpuFile);
  const CalibratedLatency latency(quantized, test_gpu(), 1, 16, RooflineParams{1, 1, 0}, profile);
  EXPECT_TRUE(has_estimate(latency, "qkv_proj 8x24 int4: roofline (no int4 GEMM measured)"));
  EXPECT_TRUE(has_estimate(latency, "fc2 16x8 int4: roofline (no int4 GEMM measured)"));
  StepShape decode;
  decode.decode_sequences = 4;
  decode.decode_context_tokens = 4 * 64;
  // Without the four measured 20 µs GEMMs a layer, only attention, elementwise and the overhead
  // stay measured: 2 x (20 + 4) + 7; the roofline GEMMs of these tiny shapes take nanoseconds.
  EXPECT_NEAR(latency.step_time(decode).seconds() * 1e6, 2 * (20 + 4) + 7, 0.01);
}

TEST(CalibratedLatency, RoutedExpertsAndTheRouterAreRooflineEstimates) {
  ModelSpec moe = tiny_model();
  moe.name = "tiny-with-experts";  // not the dense model whose elementwise table it borrows
  moe.architecture.moe = MoeArchitecture{4, 2, 1, 16, 0, false, 0};
  const CalibrationProfile profile = load_calibration(kTestGpuFile);
  const CalibratedLatency latency(moe, test_gpu(), 1, 16, RooflineParams{1, 1, 0}, profile);
  EXPECT_TRUE(has_estimate(
      latency,
      "routed experts (2 of 4 per GPU, 8x16 fp16): roofline over the experts touched (grouped GEMM not measured)"));
  EXPECT_TRUE(has_estimate(latency, "router 8x4: roofline (shape not measured)"));
  EXPECT_TRUE(
      has_estimate(latency, "elementwise kernels: a dense layer's stand in for MoE layers (routing not measured)"));
  StepShape decode;
  decode.decode_sequences = 4;
  decode.decode_context_tokens = 4 * 64;
  // The shared expert is one FFN of width 16, measured as fc1 and fc2: as a dense layer's
  // 4 x 20 µs + attention 20 µs + elementwise 4 µs per layer, plus 7 µs; the routed experts'
  // roofline (3.75 experts of 256 fp16 weights) and the router's take nanoseconds.
  EXPECT_NEAR(latency.step_time(decode).seconds() * 1e6, 2 * (4 * 20 + 20 + 4) + 7, 0.02);
}

TEST(CalibratedLatency, RoutedExpertsTakeTheMeasuredGroupedGemmsAtTheirRoutedRows) {
  ModelSpec moe = tiny_model();
  moe.name = "tiny-moe";
  moe.architecture.moe = MoeArchitecture{8, 2, 0, 16, 0, false, 0};
  const CalibrationProfile profile = load_calibration(kTestGpuFile);
  const CalibratedLatency latency(moe, test_gpu(), 1, 16, RooflineParams{1, 1, 0}, profile);
  const std::vector<std::string> estimates = latency.estimates();
  EXPECT_FALSE(std::any_of(estimates.begin(), estimates.end(),
                           [](const std::string& e) { return e.starts_with("routed experts"); }));
  StepShape decode;
  decode.decode_sequences = 4;
  decode.decode_context_tokens = 4 * 64;
  // 4 tokens x top-2 = 8 rows: gate+up 4 x 8/2 = 16 µs, down 2 x 8/2 = 8 µs (the tables are
  // linear between 2 and 32 rows). Per layer besides: q/k/v, o and the router (8x8, o's shape)
  // 20 µs each, attention 20, elementwise 4; two layers and 7 µs of overhead.
  EXPECT_NEAR(latency.step_time(decode).seconds() * 1e6, 2 * (3 * 20 + 20 + 4 + 16 + 8) + 7, 0.02);
}

TEST(CalibratedLatency, ExpertParallelGpusTakeTheirShareOfTheRoutedRowsOnTheirExperts) {
  ModelSpec moe = tiny_model();
  moe.name = "wide-moe";
  moe.architecture.moe = MoeArchitecture{8, 2, 0, 32, 0, false, 0};
  const CalibrationProfile measured = load_calibration(kTestGpuFile);
  CalibrationProfile unmeasured = measured;
  unmeasured.grouped_gemm.clear();
  const CalibratedLatency with(moe, test_gpu(), 2, 16, RooflineParams{1, 1, 0}, measured, kEagerProfile, true);
  const CalibratedLatency without(moe, test_gpu(), 2, 16, RooflineParams{1, 1, 0}, unmeasured, kEagerProfile, true);
  StepShape decode;
  decode.decode_sequences = 4;
  decode.decode_context_tokens = 4 * 64;
  // Each GPU holds 4 of the 8 experts and takes 4 x 2 / 2 = 4 rows: gate+up 8 µs, down 4 µs a
  // layer, two layers; everything else is the same in both (the roofline experts take nanoseconds).
  EXPECT_NEAR((with.step_time(decode) - without.step_time(decode)).seconds() * 1e6, 2 * (8 + 4), 0.02);
}

TEST(CalibratedLatency, Fp8LayersTakeTheFp8TablesNotTheSixteenBitOnes) {
  ModelSpec fp8 = tiny_model();
  fp8.linear_dtype = "fp8";
  const CalibrationProfile profile = load_calibration(kTestGpuFile);
  const CalibratedLatency latency(fp8, test_gpu(), 1, 16, RooflineParams{1, 1, 0}, profile);
  EXPECT_TRUE(has_estimate(latency, "o_proj 8x8: roofline (shape not measured)"));
  StepShape decode;
  decode.decode_sequences = 4;
  decode.decode_context_tokens = 4 * 64;
  // q/k/v from the fp8 table: 5 x (4)^(1/2) = 10 µs at 4 tokens; o, fc1 and fc2 (no fp8 table)
  // take nanoseconds; attention 20 and elementwise 4 a layer; 7 µs of overhead.
  EXPECT_NEAR(latency.step_time(decode).seconds() * 1e6, 2 * (10 + 20 + 4) + 7, 0.02);
}

TEST(CalibratedLatency, AnFp8CacheOrLatentAttentionIsNotTimedBySixteenBitTables) {
  const CalibrationProfile profile = load_calibration(kTestGpuFile);
  ModelSpec fp8_cache = tiny_model();
  fp8_cache.kv_dtype = "fp8";
  const CalibratedLatency latency(fp8_cache, test_gpu(), 1, 16, RooflineParams{}, profile);
  EXPECT_TRUE(
      has_estimate(latency, "paged attention 2/2 heads x 4, fp8 KV cache: roofline (measured for 16-bit caches only)"));
  ModelSpec latent = tiny_model();
  latent.architecture.mla = MlaArchitecture{0, 8, 2, 2, 4};
  const CalibratedLatency mla(latent, test_gpu(), 1, 16, RooflineParams{}, profile);
  EXPECT_TRUE(has_estimate(mla, "paged and prefill attention: roofline (multi-head latent attention not measured)"));
}

}  // namespace slsim

namespace slsim {

TEST(AllToAll, EachGpuSendsTheOthersShareOfItsPart) {
  // 8 GB over 4 GPUs: each holds 2 GB and sends 3/4 of it, 1.5 GB at 100 GB/s.
  EXPECT_DOUBLE_EQ(all_to_all_seconds(8e9, 4, 100), 0.015);
  EXPECT_EQ(all_to_all_seconds(8e9, 1, 100), 0);
}

TEST(RooflineLatency, ExpertParallelTradesTheMoeLayersAllReduceForAnAllToAll) {
  ModelSpec m;
  m.architecture.layers = 1;
  m.architecture.hidden_size = 8;
  m.architecture.attention_heads = 4;
  m.architecture.kv_heads = 4;
  m.architecture.head_dim = 2;
  m.architecture.ffn_size = 16;
  m.architecture.vocab_size = 8;
  m.architecture.max_context = 128;
  m.architecture.moe = MoeArchitecture{8, 2, 0, 4, 0, false, 0};
  GpuProfile gpu = test_gpu();
  gpu.interconnect_gbytes_per_s = 0.001;  // a byte a microsecond
  const RooflineLatency split(m, gpu, 4, RooflineParams{1, 1, 0});
  const RooflineLatency whole(m, gpu, 4, RooflineParams{1, 1, 0}, true);
  StepShape one;
  one.decode_sequences = 1;
  one.decode_context_tokens = 1;
  // Split: two all-reduces of 8 values x 2 bytes, 2 x 3/4 x 32 bytes = 48 µs. Whole: the one
  // after attention, 24 µs, and the top-2 dispatch and combine, 2 x 2 x 16 = 64 bytes of which
  // each GPU sends 64 / 4 x 3/4 = 12: 36 µs. The memory and compute terms are the same.
  EXPECT_EQ((split.step_time(one) - whole.step_time(one)).ns(), 12000);
  EXPECT_EQ(communication_bytes(m, true).all_to_all_per_token, 64);
  // A dense model has nothing to exchange by all-to-all.
  ModelSpec dense = m;
  dense.architecture.moe.reset();
  EXPECT_EQ(communication_bytes(dense, true).all_to_all_per_token, 0);
}

TEST(CalibratedLatency, SaysTheExpertParallelAllToAllIsAnEstimate) {
  ModelSpec moe = tiny_model();
  moe.architecture.moe = MoeArchitecture{4, 2, 0, 16, 0, false, 0};
  const CalibratedLatency latency(moe, test_gpu(), 2, 16, RooflineParams{}, load_calibration(kTestGpuFile),
                                  kEagerProfile, true);
  EXPECT_TRUE(has_estimate(
      latency, "all-to-all: expert-parallel dispatch and combine over the interconnect bandwidth (not measured)"));
}

}  // namespace slsim
