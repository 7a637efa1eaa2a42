#pragma once
// How long one engine step takes. An instance asks this for every step it runs. Two
// implementations: `roofline` estimates from the hardware profile (compute-bound prefill,
// memory-bound decode, ring all-reduce over the GPU interconnect for tensor parallelism);
// `calibrated` sums measured kernel tables (docs/calibration.md) and falls back to the
// roofline, part by part, where a shape was not measured, and says so in estimates().

#include <algorithm>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "sim/cluster/hardware.h"
#include "sim/core/fields.h"
#include "sim/core/time.h"
#include "sim/engine/expert_routing.h"
#include "sim/engine/model_spec.h"
#include "sim/engine/startup_profile.h"

namespace slsim {

// The work in one step, summed over the sequences it serves.
struct StepShape {
  int64_t prefill_tokens = 0;
  // Σ over the prompt chunks prefilled of their causal attention's query-key pairs.
  double prefill_attention_pairs = 0;
  int64_t prefill_sequences = 0;
  int64_t decode_sequences = 0;
  // Σ tokens in the KV cache of each decoding sequence, its new token included.
  int64_t decode_context_tokens = 0;
};

class LatencyModel {
 public:
  virtual ~LatencyModel() = default;
  virtual Time step_time(const StepShape& shape) const = 0;
  // The times of `steps` decode steps, each one token per sequence longer than the one before
  // (its decode_context_tokens grows by decode_sequences), written to times[0, steps); returns
  // their sum. Each is step_time of its shape: a fast-forwarded run asks for a step time per
  // step, so an implementation may keep what the steps share out of the loop. (A buffer the
  // caller reuses, not a vector to append to: resizing one zeroed every run's times first.)
  virtual Time run_step_times(StepShape shape, int64_t steps, Time* times) const;
  // Which parts of the step time are estimates rather than measurements, one line each.
  virtual std::vector<std::string> estimates() const { return {}; }
};

struct RooflineParams {
  double compute_efficiency = 0.6;
  double memory_efficiency = 0.8;
  double step_overhead_ms = 1.0;

  template <class V>
  void visit(V& v) {
    v.field("compute_efficiency", compute_efficiency,
            "share of dense fp16 peak that GEMMs reach (prefill is compute-bound)", between(0.01, 1));
    v.field("memory_efficiency", memory_efficiency, "share of HBM peak that decode reaches (FACTS.md: 55-85% on H100)",
            between(0.01, 1));
    v.field("step_overhead_ms", step_overhead_ms, "fixed cost of a step: scheduling, sampling, kernel launches, ms",
            at_least(0));
  }
};

// Ring all-reduce of `bytes` over `tensor_parallel` GPUs: each sends and receives
// 2 (p - 1) / p of the data over its link.
double all_reduce_seconds(double bytes, int64_t tensor_parallel, double interconnect_gbytes_per_s);
// All-to-all of `bytes` in all, spread evenly over `gpus` GPUs: each sends the (p - 1) / p of
// its 1 / p share that is bound for the others, over its own link.
double all_to_all_seconds(double bytes, int64_t gpus, double interconnect_gbytes_per_s);

// The bytes a step exchanges between the GPUs of an instance, per token: two all-reduces of
// hidden_size 16-bit values per layer under tensor parallelism; with expert parallelism, an
// MoE layer's FFN instead dispatches each token to its top-k experts and combines their
// outputs by all-to-all.
struct CommunicationBytes {
  double all_reduce_per_token = 0;
  double all_to_all_per_token = 0;

  // The time a step of `tokens` spends exchanging them among `gpus` GPUs.
  double seconds(double tokens, int64_t gpus, double interconnect_gbytes_per_s) const {
    return all_reduce_seconds(all_reduce_per_token * tokens, gpus, interconnect_gbytes_per_s) +
           all_to_all_seconds(all_to_all_per_token * tokens, gpus, interconnect_gbytes_per_s);
  }
};
CommunicationBytes communication_bytes(const ModelSpec& model, bool expert_parallel);

class RooflineLatency final : public LatencyModel {
 public:
  // `expert_parallel`: an MoE model's experts are whole on each GPU, reached by all-to-all.
  RooflineLatency(const ModelSpec& model, const GpuProfile& gpu, int64_t tensor_parallel, const RooflineParams& params,
                  bool expert_parallel = false);
  Time step_time(const StepShape& shape) const override;
  Time run_step_times(StepShape shape, int64_t steps, Time* times) const override;
  std::vector<std::string> estimates() const override { return {"all parts: roofline"}; }

 private:
  double communication_seconds(double tokens) const;
  // The weight bytes a step of `tokens` reads: all but the routed experts, and of those the
  // ones its tokens are expected to touch.
  double weight_bytes(double tokens) const {
    if (!routing_) return weight_bytes_;
    return weight_bytes_ + routed_expert_bytes_all_layers_ * routing_->expected_distinct_experts(tokens);
  }
  // Whether the bytes term is max()'s answer at a step of `tokens` and `context`, by a margin
  // that no rounding of either quotient can close.
  bool clearly_memory_bound(double tokens, double context, double prefill_attention_pairs, double weights) const {
    const double flops =
        linear_flops_per_token_ * tokens + attention_flops_per_pair_ * (prefill_attention_pairs + context);
    const double bytes = weights + kv_bytes_per_token_ * (context + tokens);
    return flops / flops_per_s_ < bytes / bytes_per_s_ * (1 - 1e-9);
  }
  // step_time's arithmetic, one definition for both callers so that they agree to the bit.
  Time time_of(double tokens, double context, double prefill_attention_pairs, double communication,
               double weights) const {
    const double flops =
        linear_flops_per_token_ * tokens + attention_flops_per_pair_ * (prefill_attention_pairs + context);
    // Every step streams the weights once; decode also reads each sequence's KV cache, and
    // every processed token writes its keys and values.
    const double bytes = weights + kv_bytes_per_token_ * (context + tokens);
    return Time::from_seconds(std::max(flops / flops_per_s_, bytes / bytes_per_s_) + communication) + overhead_;
  }
  // time_of where the bytes term is known to be max()'s answer: the same value.
  Time memory_bound_time_of(double tokens, double context, double communication, double weights) const {
    const double bytes = weights + kv_bytes_per_token_ * (context + tokens);
    return Time::from_seconds(bytes / bytes_per_s_ + communication) + overhead_;
  }
  // A lone request's decode steps (one sequence, no prefill) by context length, filled on first
  // use: in serverless serving an instance mostly decodes one request at a time, and every such
  // step of every request at a given context takes the same time, so a run of them looks its
  // steps up instead of timing each again. The values are time_of's, computed once.
  static constexpr int64_t kMaxTabulatedContext = int64_t{1} << 20;
  mutable std::vector<Time> lone_decode_by_context_;  // negative: not computed yet
  // All weights but the routed experts (a dense model's checkpoint), read by every step.
  double weight_bytes_;
  std::optional<ExpertRouting> routing_;  // MoE models only
  // One routed expert's bytes in every MoE layer: what each distinct expert touched adds.
  double routed_expert_bytes_all_layers_ = 0;
  double linear_flops_per_token_;
  double attention_flops_per_pair_;
  double kv_bytes_per_token_;
  double flops_per_s_;
  double bytes_per_s_;
  CommunicationBytes communication_bytes_;
  int64_t tensor_parallel_;
  double interconnect_gbytes_per_s_;
  Time overhead_;
};

// Measured kernel times on one GPU type: models/calibration/<gpu>.json (docs/calibration.md).
struct GemmTable {
  std::string model;
  std::string layer;
  int64_t in_features = 0;
  int64_t out_features = 0;
  std::vector<double> tokens;
  std::vector<double> us;

  template <class V>
  void visit(V& v) {
    v.field("model", model, "the model the shape was measured for (informational)");
    v.field("layer", layer, "qkv_proj, o_proj, fc1, fc2, gate_up_proj, down_proj or lm_head (informational)");
    v.required("in_features", in_features, "GEMM input width", at_least(1));
    v.required("out_features", out_features, "GEMM output width", at_least(1));
    v.required("tokens", tokens, "token counts measured, ascending");
    v.required("us", us, "time per GEMM at each token count, microseconds");
  }
};

// The routed experts of one MoE layer on one GPU as a grouped GEMM: `experts` weight matrices of
// in x out, rows = the token copies routed to them (a token's top-k copies that land on this
// GPU's experts), sorted by expert; routing uniform (kernels/gemm/moe_gemm_bench.py).
struct GroupedGemmTable {
  std::string model;
  std::string layer;
  std::string dtype = "bf16";
  int64_t experts = 0;
  int64_t in_features = 0;
  int64_t out_features = 0;
  std::vector<double> assignments;
  std::vector<double> us;

  template <class V>
  void visit(V& v) {
    v.field("model", model, "the models the shape was measured for (informational)");
    v.field("layer", layer, "experts.gate_up_proj or experts.down_proj (informational)");
    v.choice("dtype", dtype, "the experts' weight type: bf16 (any 16-bit type) or fp8", {"bf16", "fp8"});
    v.required("experts", experts, "experts on the GPU (all, or an expert-parallel share)", at_least(1));
    v.required("in_features", in_features, "GEMM input width", at_least(1));
    v.required("out_features", out_features, "GEMM output width per expert", at_least(1));
    v.required("assignments", assignments, "routed rows measured (tokens x top-k reaching these experts), ascending");
    v.required("us", us, "time of the grouped GEMM at each row count, microseconds");
  }
};

struct AttentionTable {
  int64_t q_heads = 0;
  int64_t kv_heads = 0;
  int64_t head_dim = 0;
  int64_t block_size = 0;
  std::string dtype = "f16";
  std::vector<double> batch;
  std::vector<double> context;
  std::vector<double> us;

  template <class V>
  void visit(V& v) {
    v.required("q_heads", q_heads, "query heads per GPU", at_least(1));
    v.required("kv_heads", kv_heads, "key/value heads per GPU", at_least(1));
    v.required("head_dim", head_dim, "dimension of one head", at_least(1));
    v.field("block_size", block_size, "KV block size, tokens (paged attention; 0 for prefill)", at_least(0));
    v.field("dtype", dtype, "f16 or bf16 (informational: 16-bit types are taken as equally fast)");
    v.required("batch", batch, "batch sizes measured, ascending");
    v.required("context", context, "context lengths (decode) or prompt lengths (prefill) measured, ascending");
    v.required("us", us, "time per call of one layer, microseconds, row-major [batch][context]");
  }
};

// GPU time of one decoder layer's kernels other than its GEMMs and attention (norms, rotary,
// K/V cache writes, activation, residual adds), by token count.
struct ElementwiseTable {
  std::string model;
  int64_t hidden_size = 0;
  int64_t ffn_size = 0;
  std::string ffn_kind = "mlp";
  std::vector<double> tokens;
  std::vector<double> us;

  template <class V>
  void visit(V& v) {
    v.field("model", model, "the model the layer was measured for (informational)");
    v.required("hidden_size", hidden_size, "the layer's hidden size", at_least(1));
    v.required("ffn_size", ffn_size, "the layer's FFN width", at_least(1));
    v.choice("ffn_kind", ffn_kind, "mlp or gated, as the catalogue's architecture", {"mlp", "gated"});
    v.required("tokens", tokens, "token counts measured, ascending");
    v.required("us", us, "GPU time per layer at each token count, microseconds");
  }
};

// A named way of running the same kernels that changes a step's fixed costs and its elementwise
// kernels: `graph-captured` replays a decode step as one CUDA graph of fused kernels (vLLM's
// decode), measured on a serving engine. It applies to steps of decode only with at most
// max_batch sequences, and to steps with prompt tokens where it has prefill tables (the
// engine's prompts run together in graphs of fused kernels too); other steps run as the base
// tables say. The base tables are the profile named `eager`.
struct EngineProfile {
  std::string name;
  std::string source;
  int64_t max_batch = 256;
  double step_overhead_us = 0;
  double per_sequence_us = 0;
  std::vector<ElementwiseTable> elementwise;
  std::vector<ElementwiseTable> prefill_elementwise;
  // A graph is captured per token count: a step with prompts replays the smallest one that holds
  // its tokens, padding included, so its GEMMs and fused kernels run the padded count.
  std::vector<int64_t> prefill_token_buckets;

  // The token count a step of `tokens` with prompts runs its GEMMs and fused kernels at: the
  // smallest bucket that holds it; unpadded without buckets or past the largest (such a step
  // runs as several graphs of the largest, or eagerly).
  double padded_prefill_tokens(double tokens) const {
    const auto bucket = std::lower_bound(prefill_token_buckets.begin(), prefill_token_buckets.end(), tokens,
                                         [](int64_t b, double t) { return static_cast<double>(b) < t; });
    return bucket == prefill_token_buckets.end() ? tokens : static_cast<double>(*bucket);
  }

  template <class V>
  void visit(V& v) {
    v.required("name", name, "the name engine.profile selects (not \"eager\": the base tables)");
    v.field("source", source, "what the profile was derived from");
    v.field("max_batch", max_batch, "the largest decode batch captured; larger ones run as the base tables",
            at_least(1));
    v.field("step_overhead_us", step_overhead_us, "fixed cost per step beyond the kernels, microseconds", at_least(0));
    v.field("per_sequence_us", per_sequence_us, "host cost per decoding sequence (inputs, block tables), microseconds",
            at_least(0));
    v.list("elementwise", elementwise, "per-layer time of the fused kernels besides GEMMs and attention, by tokens");
    v.list("prefill_elementwise", prefill_elementwise,
           "the same in steps with prompt tokens, by the step's tokens (routing and its permutation included for "
           "MoE models); empty: such steps run as the base tables");
    v.field("prefill_token_buckets", prefill_token_buckets,
            "token counts the engine captures prefill graphs at, ascending: a step with prompts runs its GEMMs and "
            "fused kernels padded up to the smallest that holds its tokens (unpadded past the largest); empty: "
            "unpadded");
  }
};

// Refuses a bucket list that does not ascend from 1 up, naming path[i]: the profile's loader and
// `slsim calibrate` check every list so.
void check_prefill_token_buckets(const std::vector<int64_t>& buckets, const std::string& path);

inline constexpr const char* kEagerProfile = "eager";

struct CalibrationProfile {
  std::string gpu;
  std::string source;
  double step_overhead_us = 0;
  std::vector<GemmTable> gemm;
  std::vector<GemmTable> fp8_gemm;
  std::vector<GroupedGemmTable> grouped_gemm;
  std::vector<AttentionTable> paged_attention;
  std::vector<AttentionTable> prefill_attention;
  std::vector<ElementwiseTable> elementwise;
  std::vector<EngineProfile> engine_profiles;
  std::string default_engine_profile = kEagerProfile;
  StartupProfile startup;

  template <class V>
  void visit(V& v) {
    v.required("gpu", gpu, "GPU profile name the measurements were taken on");
    v.field("source", source, "what produced the file");
    v.field("step_overhead_us", step_overhead_us, "fixed cost per step beyond the kernels, microseconds", at_least(0));
    v.list("gemm", gemm, "GEMM time by token count per linear-layer shape");
    v.list("fp8_gemm", fp8_gemm, "the same for fp8 (e4m3) weights and activations, bf16 out");
    v.list("grouped_gemm", grouped_gemm, "MoE experts' grouped GEMM time by routed rows per GPU expert set");
    v.list("paged_attention", paged_attention, "decode attention time by batch and context");
    v.list("prefill_attention", prefill_attention, "prefill attention time by batch and prompt length");
    v.list("elementwise", elementwise, "per-layer time of the kernels besides GEMMs and attention, by token count");
    v.list("engine_profiles", engine_profiles, "named profiles besides the base tables (`eager`)");
    v.field("default_engine_profile", default_engine_profile,
            "the profile a run takes when engine.profile is empty: eager or a name in engine_profiles");
    v.object("startup", startup, "measured start-up phases of a serving instance by model size");
  }
  // The profile named `name` ("" = default_engine_profile); null for the base tables (`eager`).
  // An unknown name is a ConfigError at `path` listing the valid names and `file`.
  const EngineProfile* engine_profile(const std::string& name, const std::string& path, const std::string& file) const;
};

// Reads and checks a calibration file (tables sorted, sizes consistent); errors name the file
// and the JSON path.
CalibrationProfile load_calibration(const std::string& path);

// Interpolation in a measured table: log-log linear between measured points; below the first,
// the first value (a floor: small calls are launch-bound); above the last, linear in x from
// the last point (the kernels are throughput-bound there).
double interpolate_loglog(const std::vector<double>& xs, const std::vector<double>& ys, double x);
// The same in two dimensions over a row-major grid, first along `cols`, then along `rows`;
// except that below the first column the time is proportional to the column (attention
// reads K/V in proportion to the context), not below the table's smallest time.
double interpolate_grid(const std::vector<double>& rows, const std::vector<double>& cols,
                        const std::vector<double>& values, double row, double col);

class CalibratedLatency final : public LatencyModel {
 public:
  // `block_size`: the engine's KV block size, which picks the paged-attention table;
  // `engine_profile`: a name profile.engine_profile() accepts.
  CalibratedLatency(const ModelSpec& model, const GpuProfile& gpu, int64_t tensor_parallel, int64_t block_size,
                    const RooflineParams& roofline, const CalibrationProfile& profile,
                    const std::string& engine_profile = kEagerProfile, bool expert_parallel = false);
  CalibratedLatency(const CalibratedLatency&) = delete;
  CalibratedLatency& operator=(const CalibratedLatency&) = delete;
  Time step_time(const StepShape& shape) const override;
  // step_time with the GEMMs, fused kernels and routed experts run at `run_tokens` tokens (a
  // graph's padded count) and the rest as `shape` says: what step_time does for a prompt step
  // under an engine profile's buckets, for `slsim calibrate` to fit tables the way runs read them.
  Time step_time_running(const StepShape& shape, double run_tokens) const;
  std::vector<std::string> estimates() const override { return estimates_; }

 private:
  struct Linear {
    const GemmTable* table = nullptr;  // null: roofline
    double scale = 1;                  // measured unsplit, divided over tensor-parallel GPUs
    double in = 0, out = 0;            // the shape one GPU computes
    double count = 1;                  // layers it is in (1 for the output head)
    double weight_bytes_per_value = 2;
  };
  struct Elementwise {
    const ElementwiseTable* table = nullptr;  // null: left out
    double scale = 1;                         // another model's table, by hidden size
  };
  double linear_us(const Linear& l, double tokens) const;
  double roofline_gemm_us(double in, double out, double tokens, double weight_bytes_per_value) const;
  // The routed experts of one MoE layer: the measured grouped GEMMs where both are, else the
  // roofline over the experts touched.
  double routed_experts_us(double tokens) const;
  Elementwise choose_elementwise(const std::vector<ElementwiseTable>& tables, const Architecture& a,
                                 const std::string& what);

  std::vector<Linear> layer_linears_;
  Linear lm_head_;
  std::optional<ExpertRouting> routing_;  // MoE models only
  double routed_expert_layers_ = 0;
  double routed_expert_weights_per_gpu_ = 0;
  double routed_expert_bytes_per_gpu_ = 0;
  double routed_expert_width_ = 0;
  int64_t routing_experts_per_token_ = 0;
  const GroupedGemmTable* experts_gate_up_ = nullptr;  // both or neither
  const GroupedGemmTable* experts_down_ = nullptr;
  double expert_rows_per_token_ = 0;  // the token copies one GPU's experts take
  const AttentionTable* decode_table_ = nullptr;
  const AttentionTable* prefill_table_ = nullptr;
  Elementwise elementwise_;
  CalibrationProfile profile_;
  const EngineProfile* graph_ = nullptr;  // null: every step as the base tables
  Elementwise graph_elementwise_;
  Elementwise graph_prefill_elementwise_;  // null table: steps with prompts run as the base tables
  double layers_;
  double kv_bytes_per_token_per_gpu_per_layer_;
  double attention_flops_per_pair_per_gpu_per_layer_;
  double flops_per_s_;
  double bytes_per_s_;
  double bytes_per_value_;
  CommunicationBytes communication_bytes_;
  int64_t tensor_parallel_;
  double interconnect_gbytes_per_s_;
  double overhead_us_;
  std::vector<std::string> estimates_;
};

}  // namespace slsim
