#pragma once
// What an engine's step does: which waiting requests it admits, which running ones decode or
// continue their prefill, which swapped ones come back, and which are preempted when blocks
// run out. An engine asks its policy once per step; the policy composes the shared operations
// of EngineBatch. A policy is one class plus one line in make_batching_policy's table.

#include <cstdint>
#include <memory>

#include "sim/engine/engine_batch.h"
#include "sim/engine/engine_params.h"

namespace slsim {

// What a planned step holds besides the batch's shape.
struct StepPlan {
  bool prefilling = false;  // some running group may have prompt tokens to compute in this step
  bool preempted = false;
};

class BatchingPolicy {
 public:
  virtual ~BatchingPolicy() = default;
  // Plans the next step in `batch`: grown groups add their decode tokens to batch.shape, and
  // prefilling groups carry their chunk.
  virtual StepPlan plan_step(EngineBatch& batch) = 0;
};

enum class BatchingPolicyKind : uint8_t { vllm_v0, vllm_v1 };

std::unique_ptr<BatchingPolicy> make_batching_policy(BatchingPolicyKind kind, const EngineParams& params,
                                                     const EngineCapacity& capacity);

}  // namespace slsim
