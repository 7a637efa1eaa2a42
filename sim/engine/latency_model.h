#pragma once
// How long one engine step takes. An instance asks this for every step it runs; the roofline
// implementation estimates from the hardware profile (compute-bound prefill, memory-bound
// decode), and measured tables replace it where they exist.

#include <cstdint>
#include <memory>

#include "sim/cluster/hardware.h"
#include "sim/core/fields.h"
#include "sim/core/time.h"
#include "sim/engine/model_spec.h"

namespace slsim {

// The work in one step, summed over the sequences it serves.
struct StepShape {
  int64_t prefill_tokens = 0;
  // Σ n²/2 over the prompts prefilled: causal attention's query-key pairs.
  double prefill_attention_pairs = 0;
  int64_t decode_sequences = 0;
  // Σ tokens already in the KV cache of each decoding sequence.
  int64_t decode_context_tokens = 0;
};

class LatencyModel {
 public:
  virtual ~LatencyModel() = default;
  virtual Time step_time(const StepShape& shape) const = 0;
};

struct RooflineParams {
  double compute_efficiency = 0.6;
  double memory_efficiency = 0.8;
  double step_overhead_ms = 1.0;

  template <class V>
  void visit(V& v) {
    v.field("compute_efficiency", compute_efficiency,
            "share of dense fp16 peak that GEMMs reach (prefill is compute-bound)", between(0.01, 1));
    v.field("memory_efficiency", memory_efficiency,
            "share of HBM peak that decode reaches (FACTS.md: 55-85% on H100)", between(0.01, 1));
    v.field("step_overhead_ms", step_overhead_ms,
            "fixed cost of a step: scheduling, sampling, kernel launches, ms", at_least(0));
  }
};

class RooflineLatency final : public LatencyModel {
 public:
  RooflineLatency(const ModelSpec& model, const GpuProfile& gpu, int64_t tensor_parallel,
                  const RooflineParams& params);
  Time step_time(const StepShape& shape) const override;

 private:
  double weight_bytes_;
  double linear_flops_per_token_;
  double attention_flops_per_pair_;
  double kv_bytes_per_token_;
  double flops_per_s_;
  double bytes_per_s_;
  Time overhead_;
};

}  // namespace slsim
