#include "sim/engine/vllm_v1_batching.h"

#include <cstdint>

namespace slsim {

StepPlan VllmV1Batching::plan_step(EngineBatch& batch) {
  int64_t budget = step_token_budget();
  StepPlan plan;
  plan.preempted = schedule_running(batch, budget);
  if (!plan.preempted) {
    schedule_swapped(batch);
    schedule_prefills(batch, budget);
  }
  plan.prefilling = true;  // continued chunks and admissions alike
  return plan;
}

}  // namespace slsim
