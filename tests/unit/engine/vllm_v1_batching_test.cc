#include "sim/engine/vllm_v1_batching.h"

#include <gtest/gtest.h>

#include <memory>

namespace slsim {
namespace {

EngineParams v1_params(int64_t max_num_batched_tokens) {
  EngineParams p;
  p.mode = EngineMode::vllm_v1;
  p.max_num_batched_tokens = max_num_batched_tokens;
  p.watermark = 0;
  return p;
}

void enqueue(EngineBatch& batch, uint64_t id, int64_t input_tokens, int64_t output_tokens) {
  SequenceGroup g;
  g.request = EngineRequest{RequestId(id), input_tokens, output_tokens};
  g.prompt = input_tokens;
  batch.waiting.push_back(std::move(g));
}

// What the engine does between steps: chunks computed (a finished prompt gives its first
// token) and a fresh shape for the next step.
void finish_step(EngineBatch& batch) {
  for (const uint32_t slot : batch.running) {
    SequenceGroup& g = batch.slots[slot];
    g.computed += g.chunk;
    g.chunk = 0;
    if (g.computed >= g.prompt) g.generated = 1;
  }
  batch.shape = StepShape{};
}

const SequenceGroup& running(const EngineBatch& batch, size_t i) { return batch.slots[batch.running.at(i)]; }

}  // namespace

TEST(EngineMode, ChunkedPrefillAndRetentionComeFromTheModeUnlessSet) {
  EngineParams p;
  EXPECT_EQ(p.mode, EngineMode::vllm_v1);
  EXPECT_TRUE(p.chunked_prefill());
  EXPECT_EQ(p.retention(), PrefixRetention::lru);
  p.mode = EngineMode::vllm_v0;
  EXPECT_FALSE(p.chunked_prefill());
  EXPECT_EQ(p.retention(), PrefixRetention::while_referenced);
  p.enable_chunked_prefill = true;
  p.prefix_retention = PrefixRetention::lru;
  EXPECT_TRUE(p.chunked_prefill());
  EXPECT_EQ(p.retention(), PrefixRetention::lru);
  p.mode = EngineMode::vllm_v1;
  p.enable_chunked_prefill = false;
  p.prefix_retention = PrefixRetention::while_referenced;
  EXPECT_FALSE(p.chunked_prefill());
  EXPECT_EQ(p.retention(), PrefixRetention::while_referenced);
}

TEST(VllmV1Batching, ARunningDecodeAndAPromptShareEachStepsTokenBudget) {
  // A budget of 8 tokens. A's 4-token prompt is prefilled first; then B's 12-token prompt
  // arrives. Each step decodes A first (1 token) and gives B the rest: 7 tokens, then its last
  // 5; after that both decode.
  const EngineParams p = v1_params(8);
  const EngineCapacity c{100, 4096, 1};
  EngineBatch batch(p, c);
  VllmV1Batching policy(p, c);
  enqueue(batch, 1, 4, 10);
  policy.plan_step(batch);
  ASSERT_EQ(batch.running.size(), 1u);
  EXPECT_EQ(running(batch, 0).chunk, 4);
  finish_step(batch);

  enqueue(batch, 2, 12, 10);
  for (const int64_t chunk : {7, 5}) {
    const StepPlan plan = policy.plan_step(batch);
    EXPECT_TRUE(plan.prefilling);
    EXPECT_FALSE(plan.preempted);
    EXPECT_EQ(batch.shape.decode_sequences, 1);
    ASSERT_EQ(batch.running.size(), 2u);
    EXPECT_EQ(running(batch, 1).chunk, chunk);
    finish_step(batch);
  }
  policy.plan_step(batch);
  EXPECT_EQ(batch.shape.decode_sequences, 2);
  EXPECT_EQ(running(batch, 1).chunk, 0);
}

TEST(VllmV1Batching, WithoutChunkingAWholePromptStillJoinsTheDecodes) {
  // vLLM v1 has no prefill-only steps: with chunked prefill off, B's 12-token prompt goes whole
  // into the step that decodes A. vLLM v0 prefills B alone and decodes A in the next step.
  for (const EngineMode mode : {EngineMode::vllm_v1, EngineMode::vllm_v0}) {
    EngineParams p = v1_params(100);
    p.mode = mode;
    p.enable_chunked_prefill = false;
    const EngineCapacity c{100, 4096, 1};
    EngineBatch batch(p, c);
    const std::unique_ptr<BatchingPolicy> policy = make_batching_policy(
        mode == EngineMode::vllm_v1 ? BatchingPolicyKind::vllm_v1 : BatchingPolicyKind::vllm_v0, p, c);
    enqueue(batch, 1, 4, 10);
    policy->plan_step(batch);
    finish_step(batch);
    enqueue(batch, 2, 12, 10);
    policy->plan_step(batch);
    ASSERT_EQ(batch.running.size(), 2u);
    EXPECT_EQ(running(batch, 1).chunk, 12);
    EXPECT_EQ(batch.shape.decode_sequences, mode == EngineMode::vllm_v1 ? 1 : 0);
  }
}

TEST(VllmV1Batching, AStepThatPreemptsAdmitsNothingNew) {
  // 4 blocks of 4 tokens. A and B prefill 8 tokens each (2 blocks apiece, none left). A's first
  // decode needs a fifth block: B, the latest admitted, is swapped out, freeing 2; A takes 1.
  // C's 1-token prompt, first in the waiting queue, fits the block left over: vLLM v0's chunked
  // schedule admits it in the same step, v1 admits nothing in a step that preempted.
  for (const EngineMode mode : {EngineMode::vllm_v1, EngineMode::vllm_v0}) {
    EngineParams p = v1_params(100);
    p.mode = mode;
    p.enable_chunked_prefill = true;
    p.block_size = 4;
    p.preemption_mode = PreemptionMode::swap;
    const EngineCapacity c{4, 64, 1};
    EngineBatch batch(p, c);
    const std::unique_ptr<BatchingPolicy> policy = make_batching_policy(
        mode == EngineMode::vllm_v1 ? BatchingPolicyKind::vllm_v1 : BatchingPolicyKind::vllm_v0, p, c);
    enqueue(batch, 1, 8, 4);
    enqueue(batch, 2, 8, 4);
    policy->plan_step(batch);
    ASSERT_EQ(batch.running.size(), 2u);
    finish_step(batch);
    enqueue(batch, 3, 1, 4);
    EXPECT_TRUE(policy->plan_step(batch).preempted);
    EXPECT_EQ(batch.swapped.size(), 1u);
    EXPECT_EQ(running(batch, 0).request.id, RequestId(1));
    const bool v1 = mode == EngineMode::vllm_v1;
    EXPECT_EQ(batch.running.size(), v1 ? 1u : 2u);
    EXPECT_EQ(batch.waiting.size(), v1 ? 1u : 0u);
    EXPECT_EQ(batch.free_blocks(), v1 ? 1 : 0);
  }
}

TEST(BatchingPolicy, TheVllmV1KindMakesVllmV1Batching) {
  const std::unique_ptr<BatchingPolicy> policy =
      make_batching_policy(BatchingPolicyKind::vllm_v1, EngineParams{}, EngineCapacity{10, 64, 1});
  EXPECT_NE(dynamic_cast<VllmV1Batching*>(policy.get()), nullptr);
}

}  // namespace slsim
