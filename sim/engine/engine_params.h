#pragma once
// An engine's parameters (vLLM's engine arguments where vLLM has them) and the request shape
// it schedules. Modes are enums bound to their config names by name tables.

#include <algorithm>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "sim/core/fields.h"
#include "sim/core/ids.h"
#include "sim/engine/block_manager.h"
#include "sim/engine/latency_model.h"

namespace slsim {

// Which vLLM engine an instance behaves as. The mode picks the scheduler and what an absent
// enable_chunked_prefill or prefix_retention resolves to; a field set explicitly wins.
enum class EngineMode : uint8_t { vllm_v1, vllm_v0 };
inline constexpr EnumNames<EngineMode, 2> kEngineModeNames{
    {{EngineMode::vllm_v1, "vllm_v1"}, {EngineMode::vllm_v0, "vllm_v0"}}};

enum class PreemptionMode : uint8_t { recompute, swap };
inline constexpr EnumNames<PreemptionMode, 2> kPreemptionModeNames{
    {{PreemptionMode::recompute, "recompute"}, {PreemptionMode::swap, "swap"}}};

inline constexpr EnumNames<KvAllocatorKind, 2> kKvAllocatorNames{
    {{KvAllocatorKind::paged, "paged"}, {KvAllocatorKind::contiguous, "contiguous"}}};

inline constexpr EnumNames<PrefixRetention, 2> kPrefixRetentionNames{
    {{PrefixRetention::while_referenced, "while_referenced"}, {PrefixRetention::lru, "lru"}}};

enum class ContiguousReservation : uint8_t { max_context, exact };
inline constexpr EnumNames<ContiguousReservation, 2> kContiguousReservationNames{
    {{ContiguousReservation::max_context, "max_context"}, {ContiguousReservation::exact, "exact"}}};

enum class LatencyModelKind : uint8_t { roofline, calibrated };
inline constexpr EnumNames<LatencyModelKind, 2> kLatencyModelNames{
    {{LatencyModelKind::roofline, "roofline"}, {LatencyModelKind::calibrated, "calibrated"}}};

struct EngineParams {
  EngineMode mode = EngineMode::vllm_v1;
  int64_t max_num_seqs = 256;
  int64_t max_num_batched_tokens = 8192;
  double gpu_memory_utilization = 0.9;
  int64_t activation_reserve_bytes = int64_t{2} << 30;
  std::optional<int64_t> kv_cache_memory_bytes;
  int64_t block_size = 16;
  KvAllocatorKind kv_allocator = KvAllocatorKind::paged;
  ContiguousReservation contiguous_reservation = ContiguousReservation::max_context;
  double watermark = 0.01;
  std::optional<PrefixRetention> prefix_retention;
  PreemptionMode preemption_mode = PreemptionMode::recompute;
  std::optional<bool> enable_chunked_prefill;
  bool fast_forward = true;
  LatencyModelKind latency_model = LatencyModelKind::roofline;
  std::string calibration_dir;
  std::string profile;
  RooflineParams roofline;
  std::optional<bool> expert_parallel;

  // What the two mode-dependent fields come to: set, their value; absent, the mode's.
  bool chunked_prefill() const { return enable_chunked_prefill.value_or(mode == EngineMode::vllm_v1); }
  PrefixRetention retention() const {
    return prefix_retention.value_or(mode == EngineMode::vllm_v1 ? PrefixRetention::lru
                                                                 : PrefixRetention::while_referenced);
  }

  template <class V>
  void visit(V& v) {
    v.choice("mode", mode,
             "vllm_v1: every step shares one token budget between decodes (running requests first) and prompt "
             "chunks, chunked prefill on, freed prompt blocks kept for reuse (LRU); vllm_v0: vLLM v0's scheduler "
             "(without chunked prefill a step prefills admitted prompts alone), freed prompt blocks forgotten. "
             "Gives the defaults of enable_chunked_prefill and prefix_retention",
             kEngineModeNames);
    v.field("max_num_seqs", max_num_seqs, "most sequences in one batch (vLLM default 256)", at_least(1));
    v.field("max_num_batched_tokens", max_num_batched_tokens,
            "most tokens in one step; without chunked prefill a longer prompt runs alone", at_least(1));
    v.field("gpu_memory_utilization", gpu_memory_utilization,
            "share of GPU memory the engine may use (vLLM default 0.9)", between(0.05, 1));
    v.field("activation_reserve_bytes", activation_reserve_bytes,
            "memory per instance kept for activations, not KV cache, bytes", at_least(0));
    v.field("kv_cache_memory_bytes", kv_cache_memory_bytes,
            "KV cache of each GPU of an instance, bytes, whatever the model's weights (vLLM's kv_cache_memory_bytes; "
            "the testbed's --kv-gb); weights + KV must fit the GPU's memory_bytes; null: GPU memory x "
            "gpu_memory_utilization less weights and activation_reserve_bytes. Not with elastic-kv",
            positive());
    // Bounded because a run keeps per-block-slot counters (counted decoding's phases) and sizes
    // blocks in bytes; vLLM itself offers 8 to 128.
    v.field("block_size", block_size, "tokens per KV block (vLLM default 16; at most 65,536)", between(1, 65536));
    v.choice("kv_allocator", kv_allocator,
             "paged: blocks taken as tokens arrive, shared copy-on-write (vLLM); contiguous: each sequence "
             "reserves the model's max context at admission and shares nothing (Orca, FasterTransformer)",
             kKvAllocatorNames);
    v.choice("contiguous_reservation", contiguous_reservation,
             "what the contiguous allocator reserves per sequence: max_context (Orca (Max)) or exact, the request's "
             "own input + output tokens, known in advance (Orca (Oracle))",
             kContiguousReservationNames);
    v.field("watermark", watermark, "share of KV blocks kept free when admitting prompts (vLLM default 0.01)",
            between(0, 0.5));
    v.choice("prefix_retention", prefix_retention,
             "how long a cached prompt block stays: while_referenced (vLLM v0: forgotten when its last sequence "
             "frees it) or lru (vLLM v1: kept, counted as free, until its memory is needed, least recently freed "
             "evicted first); absent: lru under vllm_v1, while_referenced under vllm_v0 (filled in when resolved)",
             kPrefixRetentionNames);
    v.choice("preemption_mode", preemption_mode,
             "what preempting a running request does: recompute (vLLM default) frees its blocks and prefills it "
             "again; swap moves its blocks to host memory",
             kPreemptionModeNames);
    v.optional("enable_chunked_prefill", enable_chunked_prefill,
               "decode first, then fill the step's token budget with prompt chunks (vLLM's chunked prefill); "
               "absent: true under vllm_v1, false under vllm_v0 (filled in when resolved)");
    v.field("fast_forward", fast_forward,
            "advance consecutive decode steps in one event when nothing can change the batch; results are identical");
    v.choice("latency_model", latency_model,
             "roofline: from the hardware profile; calibrated: measured tables in calibration_dir/<gpu>.json",
             kLatencyModelNames);
    v.field("calibration_dir", calibration_dir,
            "folder of calibration profiles; empty: the catalogue's calibration/ (filled in when resolved)");
    v.field("profile", profile,
            "with the calibrated model, the engine profile of calibration_dir/<gpu>.json: eager (the kernel "
            "tables), graph-captured (decode as a serving engine's CUDA graphs) or another name the file lists; "
            "empty: the file's default_engine_profile");
    v.object("roofline", roofline, "the roofline latency model's efficiencies (also the calibrated model's fallback)");
    v.optional("expert_parallel", expert_parallel,
               "MoE models: each GPU of an instance holds whole routed experts and tokens reach them by "
               "all-to-all over the GPU interconnect (vLLM's --enable-expert-parallel); absent or false: every "
               "expert is split over the tensor-parallel GPUs like a dense FFN");
  }
};

struct EngineRequest {
  RequestId id;
  int64_t input_tokens = 0;
  int64_t output_tokens = 0;
  int64_t samples = 1;
  int64_t beam_width = 1;
  std::vector<uint64_t> prefix_blocks;

  // Sequences decoded in parallel once the prompt is in.
  int64_t width() const { return std::max(samples, beam_width); }
};

// KV tokens a request may need at once with nothing shared but its prompt's growth counted
// per sequence: what an instance must hold for it to ever run.
int64_t kv_footprint_tokens(const EngineParams& params, int64_t max_context, const EngineRequest& request);

// What an instance holds: its KV blocks, the model's longest sequence (which the contiguous
// allocator reserves) and the bytes of one token's keys and values (what a swap moves).
struct EngineCapacity {
  int64_t kv_blocks = 0;
  int64_t max_context = 0;
  int64_t kv_bytes_per_token = 0;
};

}  // namespace slsim
