#pragma once
// vLLM v0's scheduler. Admission is FCFS, bounded by max_num_seqs, max_num_batched_tokens and
// the free KV blocks above a watermark. Without chunked prefill a step prefills the requests it
// admits alone and decodes only when it admits none; with it, a step decodes first, swaps in,
// and fills the rest of its token budget with prompt chunks. When a running sequence needs a
// block and none is free, the latest-admitted running request is preempted: by recompute or by
// swap (preemption_mode); requests with several sequences are always swapped and shadows always
// recomputed.

#include <cstdint>

#include "sim/engine/batching_policy.h"

namespace slsim {

class VllmV0Batching : public BatchingPolicy {
 public:
  VllmV0Batching(const EngineParams& params, const EngineCapacity& capacity);
  StepPlan plan_step(EngineBatch& batch) override;

 protected:
  // vLLM v1 plans its steps from the same admission, growth and preemption rules.
  bool may_take(const EngineBatch& batch, int64_t blocks) const;
  // Admits waiting requests; returns whether it admitted any.
  bool schedule_prefills(EngineBatch& batch, int64_t& token_budget) const;
  // Returns whether it preempted.
  bool schedule_running(EngineBatch& batch, int64_t& token_budget) const;
  void schedule_swapped(EngineBatch& batch) const;
  void preempt(EngineBatch& batch, SequenceGroup g) const;
  int64_t step_token_budget() const { return max_num_batched_tokens_; }

 private:
  int64_t max_num_seqs_;
  int64_t max_num_batched_tokens_;
  bool chunked_prefill_;
  PreemptionMode preemption_mode_;
  int64_t watermark_blocks_;
};

}  // namespace slsim
