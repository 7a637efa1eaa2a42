#include "sim/engine/batching_policy.h"

#include <stdexcept>

#include "sim/engine/vllm_v0_batching.h"
#include "sim/engine/vllm_v1_batching.h"

namespace slsim {

namespace {

using MakeBatchingPolicy = std::unique_ptr<BatchingPolicy> (*)(const EngineParams&, const EngineCapacity&);

template <class Policy>
std::unique_ptr<BatchingPolicy> make(const EngineParams& params, const EngineCapacity& capacity) {
  return std::make_unique<Policy>(params, capacity);
}

struct Registration {
  BatchingPolicyKind kind;
  MakeBatchingPolicy make;
};

constexpr Registration kBatchingPolicies[] = {
    {BatchingPolicyKind::vllm_v0, &make<VllmV0Batching>},
    {BatchingPolicyKind::vllm_v1, &make<VllmV1Batching>},
};

}  // namespace

std::unique_ptr<BatchingPolicy> make_batching_policy(BatchingPolicyKind kind, const EngineParams& params,
                                                     const EngineCapacity& capacity) {
  for (const Registration& r : kBatchingPolicies)
    if (r.kind == kind) return r.make(params, capacity);
  throw std::logic_error("a batching policy kind without a registration");
}

}  // namespace slsim
