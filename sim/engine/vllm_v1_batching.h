#pragma once
// vLLM v1's scheduler: no prefill or decode phases. Every step has one token budget
// (max_num_batched_tokens); running requests take theirs first, in admission order (one token
// per decoding sequence, the next chunk of a prompt still being prefilled), then waiting
// requests are admitted FCFS with what is left, their prompts chunked to fit (or whole, with
// chunked prefill off). A step that had to preempt admits nothing new. Admission, block growth
// and preemption follow the same rules as vLLM v0 (VllmV0Batching).

#include "sim/engine/vllm_v0_batching.h"

namespace slsim {

class VllmV1Batching final : public VllmV0Batching {
 public:
  using VllmV0Batching::VllmV0Batching;
  StepPlan plan_step(EngineBatch& batch) override;
};

}  // namespace slsim
