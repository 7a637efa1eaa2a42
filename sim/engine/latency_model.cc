#include "sim/engine/latency_model.h"

#include <algorithm>

namespace slsim {

RooflineLatency::RooflineLatency(const ModelSpec& model, const GpuProfile& gpu, int64_t tensor_parallel,
                                 const RooflineParams& params)
    : weight_bytes_(static_cast<double>(model.checkpoint_bytes())),
      linear_flops_per_token_(2.0 * static_cast<double>(model.linear_parameters())),
      // QK^T and AV, two FLOPs per multiply-add, for every layer.
      attention_flops_per_pair_(4.0 * static_cast<double>(model.architecture.layers * model.attention_width())),
      kv_bytes_per_token_(static_cast<double>(model.kv_bytes_per_token())),
      flops_per_s_(gpu.dense_fp16_tflops * 1e12 * params.compute_efficiency * static_cast<double>(tensor_parallel)),
      bytes_per_s_(gpu.hbm_bandwidth_gbps * 1e9 * params.memory_efficiency * static_cast<double>(tensor_parallel)),
      overhead_(Time::from_ms(params.step_overhead_ms)) {}

Time RooflineLatency::step_time(const StepShape& shape) const {
  const double tokens = static_cast<double>(shape.prefill_tokens + shape.decode_sequences);
  const double context = static_cast<double>(shape.decode_context_tokens);
  const double flops = linear_flops_per_token_ * tokens +
                       attention_flops_per_pair_ * (shape.prefill_attention_pairs + context);
  // Every step streams the weights once; decode also reads each sequence's KV cache, and
  // every processed token writes its keys and values.
  const double bytes = weight_bytes_ + kv_bytes_per_token_ * (context + tokens);
  return Time::from_seconds(std::max(flops / flops_per_s_, bytes / bytes_per_s_)) + overhead_;
}

}  // namespace slsim
