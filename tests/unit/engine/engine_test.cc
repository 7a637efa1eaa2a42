#include "sim/engine/engine.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <optional>
#include <vector>

#include "sim/core/errors.h"

namespace slsim {
namespace {

constexpr RequestId operator""_r(unsigned long long id) { return RequestId(id); }

// Every step takes 10 ms; prefill steps 20 ms, so the two kinds can be told apart.
struct FixedLatency : LatencyModel {
  mutable std::vector<StepShape> shapes;
  Time step_time(const StepShape& s) const override {
    shapes.push_back(s);
    return Time::from_ms(s.prefill_tokens > 0 ? 20 : 10);
  }
};

// vLLM v0's engine, as these tests were written for; the vllm_v1 tests set their mode.
EngineParams params(int64_t max_seqs = 256, int64_t max_batched = 8192, int64_t block_size = 16) {
  EngineParams p;
  p.mode = EngineMode::vllm_v0;
  p.max_num_seqs = max_seqs;
  p.max_num_batched_tokens = max_batched;
  p.block_size = block_size;
  p.watermark = 0;
  p.fast_forward = false;
  return p;
}

EngineCapacity capacity(int64_t blocks, int64_t max_context = 2048) {
  return EngineCapacity{blocks, max_context, 1000};
}

struct Harness {
  FixedLatency latency;
  Engine engine;
  explicit Harness(const EngineParams& p, const EngineCapacity& c = capacity(100), KvOffload* offload = nullptr)
      : engine(latency, p, c, offload) {}
  // Runs steps until the engine is idle, auditing the blocks after each; returns the steps.
  int run_to_completion(std::vector<RequestId>* finished = nullptr, std::vector<RequestId>* first = nullptr) {
    int steps = 0;
    while (engine.begin_step()) {
      engine.blocks().audit();
      const StepResult& r = engine.finish_step();
      engine.blocks().audit();
      if (finished) finished->insert(finished->end(), r.finished.begin(), r.finished.end());
      if (first) first->insert(first->end(), r.first_tokens.begin(), r.first_tokens.end());
      ++steps;
    }
    return steps;
  }
};

}  // namespace

TEST(Engine, PrefillYieldsTheFirstTokenThenOneTokenPerDecodeStep) {
  Harness h(params());
  h.engine.enqueue({7_r, 100, 3});
  EXPECT_EQ(h.engine.begin_step(), Time::from_ms(20));
  EXPECT_EQ(h.engine.finish_step().first_tokens, std::vector<RequestId>{7_r});
  EXPECT_EQ(h.engine.begin_step(), Time::from_ms(10));
  EXPECT_TRUE(h.engine.finish_step().finished.empty());
  EXPECT_EQ(h.engine.begin_step(), Time::from_ms(10));
  EXPECT_EQ(h.engine.finish_step().finished, std::vector<RequestId>{7_r});
  EXPECT_FALSE(h.engine.begin_step().has_value());
  EXPECT_TRUE(h.engine.idle());
  ASSERT_EQ(h.latency.shapes.size(), 3u);
  EXPECT_EQ(h.latency.shapes[1].decode_context_tokens, 101);
  EXPECT_EQ(h.latency.shapes[2].decode_context_tokens, 102);
  EXPECT_EQ(h.engine.stats().generated_tokens, 3);
}

TEST(Engine, SingleTokenRequestFinishesWithItsPrefillAndFreesItsBlocks) {
  Harness h(params());
  h.engine.enqueue({1_r, 10, 1});
  h.engine.begin_step();
  EXPECT_EQ(h.engine.blocks().used_blocks(), 1);
  const StepResult& r = h.engine.finish_step();
  EXPECT_EQ(r.first_tokens, std::vector<RequestId>{1_r});
  EXPECT_EQ(r.finished, std::vector<RequestId>{1_r});
  EXPECT_EQ(h.engine.blocks().used_blocks(), 0);
}

TEST(Engine, NewArrivalsArePrefilledBeforeTheRunningBatchDecodes) {
  Harness h(params());
  h.engine.enqueue({1_r, 10, 5});
  h.engine.begin_step();
  h.engine.finish_step();
  h.engine.enqueue({2_r, 20, 5});
  h.engine.begin_step();
  EXPECT_EQ(h.latency.shapes.back().prefill_tokens, 20);
  EXPECT_EQ(h.latency.shapes.back().decode_sequences, 0);
  EXPECT_EQ(h.engine.finish_step().first_tokens, std::vector<RequestId>{2_r});
  h.engine.begin_step();
  EXPECT_EQ(h.latency.shapes.back().decode_sequences, 2);
}

TEST(Engine, AdmissionRespectsMaxNumSeqsAndBatchedTokens) {
  Harness h(params(2, 100), capacity(1000));
  for (const RequestId i : ids_below<RequestId>(3)) h.engine.enqueue({i, 60, 4});
  h.engine.begin_step();
  // 60 + 60 > 100 batched tokens: one prompt per prefill step.
  EXPECT_EQ(h.latency.shapes.back().prefill_tokens, 60);
  h.engine.finish_step();
  h.engine.begin_step();
  EXPECT_EQ(h.latency.shapes.back().prefill_tokens, 60);
  h.engine.finish_step();
  h.engine.begin_step();
  // max_num_seqs = 2: the third waits, the two running decode.
  EXPECT_EQ(h.latency.shapes.back().decode_sequences, 2);
  EXPECT_EQ(h.engine.outstanding(), 3);
}

TEST(Engine, BlocksAreTakenAsTokensArriveNotReservedForTheWholeSequence) {
  Harness h(params(), capacity(6));  // 96 token slots
  h.engine.enqueue({1_r, 50, 2});    // 4 blocks for its prompt; its 51st token fits the 4th
  h.engine.enqueue({2_r, 40, 2});    // 3 more blocks: 2 are free, so it waits
  h.engine.begin_step();
  EXPECT_EQ(h.latency.shapes.back().prefill_tokens, 50);
  EXPECT_EQ(h.engine.blocks().used_blocks(), 4);
  h.engine.finish_step();
  h.engine.begin_step();
  EXPECT_EQ(h.latency.shapes.back().decode_sequences, 1);
  EXPECT_EQ(h.engine.blocks().used_blocks(), 4);
  EXPECT_EQ(h.engine.finish_step().finished, std::vector<RequestId>{1_r});
  h.engine.begin_step();
  EXPECT_EQ(h.latency.shapes.back().prefill_tokens, 40);
}

TEST(Engine, WatermarkKeepsBlocksFreeWhenOthersRun) {
  EngineParams p = params();
  p.watermark = 0.2;  // 1 of 5 blocks
  Harness h(p, capacity(5));
  h.engine.enqueue({1_r, 16, 8});
  h.engine.enqueue({2_r, 32, 8});
  h.engine.begin_step();
  // The first takes 1 block; the second's 2 leave 2 free, above the watermark.
  EXPECT_EQ(h.latency.shapes.back().prefill_tokens, 48);
  h.engine.finish_step();
  // 2 blocks would fit the 2 free, but leave none: below the watermark, so it waits and the
  // two running take those blocks for their next tokens.
  h.engine.enqueue({3_r, 20, 8});
  h.engine.begin_step();
  EXPECT_EQ(h.latency.shapes.back().decode_sequences, 2);
  EXPECT_EQ(h.engine.blocks().free_blocks(), 0);
}

TEST(Engine, RefusesARequestThatCanNeverFit) {
  Harness h(params(), capacity(6));
  EXPECT_FALSE(h.engine.fits({RequestId(1), 90, 20}));
  EXPECT_TRUE(h.engine.fits({RequestId(1), 80, 16}));
  EXPECT_FALSE(h.engine.fits({RequestId(1), 40, 16, 2}));  // two samples of 56 tokens: 8 blocks
  EXPECT_THROW(h.engine.enqueue({1_r, 90, 20}), std::logic_error);
  Harness narrow(params(4), capacity(100));
  EXPECT_FALSE(narrow.engine.fits({RequestId(1), 10, 10, 5}));  // five samples, at most four sequences
}

// 6 blocks of 4 tokens; two requests of 8 + 12 tokens. Both prefill (4 blocks), take a
// block each at their 9th token, and at the 13th the first needs a block that is not there.
TEST(Engine, PreemptsTheLatestRequestByRecomputeWhenBlocksRunOut) {
  Harness h(params(256, 8192, 4), capacity(6));
  h.engine.enqueue({1_r, 8, 12});
  h.engine.enqueue({2_r, 8, 12});
  std::vector<RequestId> finished;
  std::vector<RequestId> first;
  h.run_to_completion(&finished, &first);
  EXPECT_EQ(h.engine.stats().preemptions, 1);
  EXPECT_EQ(finished, (std::vector<RequestId>{1_r, 2_r}));
  EXPECT_EQ(first, (std::vector<RequestId>{1_r, 2_r}));  // a recompute yields no second first token
  // Request 2 had its prompt and 5 tokens (1 from the prefill, 4 decoded) when preempted.
  bool reprefilled = false;
  for (const StepShape& s : h.latency.shapes) reprefilled |= s.prefill_tokens == 13;
  EXPECT_TRUE(reprefilled);
  EXPECT_EQ(h.engine.stats().generated_tokens, 24);
  EXPECT_EQ(h.engine.stats().prefilled_tokens, 8 + 8 + 13);
  EXPECT_EQ(h.engine.stats().prefix_lookups.prompt_tokens, 8 + 8);  // each prompt once, not its recompute
  EXPECT_EQ(h.engine.blocks().used_blocks(), 0);
}

TEST(Engine, SwapPreemptionMovesBlocksOverTheHostLinkAndBack) {
  EngineParams p = params(256, 8192, 4);
  p.preemption_mode = PreemptionMode::swap;
  Harness h(p, capacity(6));
  h.engine.enqueue({1_r, 8, 12});
  h.engine.enqueue({2_r, 8, 12});
  std::vector<RequestId> finished;
  h.run_to_completion(&finished);
  EXPECT_EQ(finished, (std::vector<RequestId>{1_r, 2_r}));
  EXPECT_EQ(h.engine.stats().preemptions, 1);
  // Three blocks of 4 tokens × 1000 bytes out, and the same back in.
  EXPECT_EQ(h.engine.stats().swapped_bytes, 2 * 3 * 4 * 1000);
  EXPECT_EQ(h.engine.stats().prefilled_tokens, 16);
  EXPECT_EQ(h.engine.stats().generated_tokens, 24);
}

TEST(Engine, AStepThatSwapsListsItsBytesAndComputesOnlyItsStep) {
  EngineParams p = params(256, 8192, 4);
  p.preemption_mode = PreemptionMode::swap;
  Harness h(p, capacity(6));
  h.engine.enqueue({1_r, 8, 12});
  h.engine.enqueue({2_r, 8, 12});
  std::vector<KvMoves> swapping;
  while (const auto d = h.engine.begin_step()) {
    if (!h.engine.kv_moves().empty()) {
      swapping.push_back(h.engine.kv_moves());
      EXPECT_EQ(*d, Time::from_ms(10));  // the caller moves the bytes; the step is its compute alone
    }
    h.engine.finish_step();
  }
  // Three blocks of 4 tokens × 1000 bytes out in one step, and back in in a later one.
  ASSERT_EQ(swapping.size(), 2u);
  EXPECT_EQ(swapping[0].swap_out_bytes, 12000);
  EXPECT_EQ(swapping[0].swap_in_bytes, 0);
  EXPECT_EQ(swapping[1].swap_out_bytes, 0);
  EXPECT_EQ(swapping[1].swap_in_bytes, 12000);
}

TEST(Engine, TheTimeASwapWaitsForItsBytesCountsAsTheStepsBusyTime) {
  EngineParams p = params(256, 8192, 4);
  p.preemption_mode = PreemptionMode::swap;
  Harness h(p, capacity(6));
  h.engine.enqueue({1_r, 8, 12});
  h.engine.enqueue({2_r, 8, 12});
  Time computed = Time::zero();
  int64_t swaps = 0;
  while (const auto d = h.engine.begin_step()) {
    computed += *d;
    if (!h.engine.kv_moves().empty()) {
      h.engine.kv_moved(Time::from_ms(3));
      ++swaps;
    }
    h.engine.finish_step();
  }
  ASSERT_EQ(swaps, 2);
  // Every step's compute (fast-forwarded runs included) plus 3 ms for each of the two swaps.
  EXPECT_NEAR(h.engine.stats().busy_s, (computed + Time::from_ms(6)).seconds(), 1e-12);
}

TEST(Engine, ParallelSamplesShareThePromptAndCopyItsLastBlockOnWrite) {
  Harness h(params());
  EngineRequest r{1_r, 40, 3};
  r.samples = 4;
  h.engine.enqueue(r);
  h.engine.begin_step();
  EXPECT_EQ(h.engine.blocks().used_blocks(), 3);  // 40 tokens, shared by the four
  h.engine.finish_step();
  h.engine.begin_step();
  // Each sample writes its 41st token into the partial third block: three copy it, the last
  // writes in place.
  EXPECT_EQ(h.latency.shapes.back().decode_sequences, 4);
  EXPECT_EQ(h.engine.blocks().used_blocks(), 6);
  EXPECT_EQ(h.engine.blocks().unshared_blocks(), 12);
  h.engine.finish_step();
  h.run_to_completion();
  EXPECT_EQ(h.engine.stats().generated_tokens, 12);
  EXPECT_GT(h.engine.stats().unshared_token_s, h.engine.stats().allocated_token_s);
}

TEST(Engine, BeamsShareEverythingButTheirLastBlock) {
  Harness h(params(256, 8192, 4));
  EngineRequest r{1_r, 4, 9};
  r.beam_width = 2;
  h.engine.enqueue(r);
  h.engine.begin_step();
  h.engine.finish_step();
  h.engine.begin_step();  // token 5 of each beam: a block each
  EXPECT_EQ(h.engine.blocks().used_blocks(), 3);
  h.engine.finish_step();
  for (int i = 0; i < 3; ++i) {  // tokens 6, 7, 8
    h.engine.begin_step();
    h.engine.finish_step();
  }
  h.engine.begin_step();  // token 9: both beams continue from the first's 8 tokens
  EXPECT_EQ(h.engine.blocks().used_blocks(), 4);
  EXPECT_EQ(h.engine.blocks().unshared_blocks(), 6);
  h.engine.blocks().audit();
}

TEST(Engine, CachedPrefixBlocksAreNeitherStoredNorComputedTwice) {
  Harness h(params());
  EngineRequest a{1_r, 40, 2};
  a.prefix_blocks = {11, 12};
  EngineRequest b = a;
  b.id = 2_r;
  h.engine.enqueue(a);
  h.engine.enqueue(b);
  h.engine.begin_step();
  EXPECT_EQ(h.latency.shapes.back().prefill_tokens, 40 + 8);
  EXPECT_EQ(h.engine.blocks().used_blocks(), 3 + 1);
}

// Two identical 40-token prompts under prefix blocks 11 and 12 (16 tokens each), admitted in one
// step: the first finds nothing cached (40 tokens looked up, 0 hit), the second both blocks (32
// of 40). A third, once both finished, finds nothing: v0 frees cached blocks with their last
// sequence. 32 of 120 prompt tokens hit.
TEST(Engine, PrefixLookupsCountEachPromptOnceAndTheCachedBlocksItFinds) {
  Harness h(params());
  EngineRequest a{1_r, 40, 2};
  a.prefix_blocks = {11, 12};
  EngineRequest b = a;
  b.id = 2_r;
  h.engine.enqueue(a);
  h.engine.enqueue(b);
  h.engine.begin_step();
  h.engine.finish_step();
  EXPECT_EQ(h.engine.stats().prefix_lookups.prompt_tokens, 80);
  EXPECT_EQ(h.engine.stats().prefix_lookups.hits(KvTier::gpu), 32);
  h.run_to_completion();
  EngineRequest c = a;
  c.id = 3_r;
  h.engine.enqueue(c);
  h.run_to_completion();
  EXPECT_EQ(h.engine.stats().prefix_lookups.prompt_tokens, 120);
  EXPECT_EQ(h.engine.stats().prefix_lookups.hits(KvTier::gpu), 32);
}

// The same 40-token prompt twice, the second after the first finished: vLLM v0 forgot the
// prompt's blocks with the first request; v1's lru retention kept them, so the second finds both
// full blocks (32 tokens) and prefills only the 8 after them.
TEST(Engine, LruRetentionLetsABackToBackIdenticalPromptHitAfterTheFirstFinished) {
  for (const PrefixRetention retention : {PrefixRetention::while_referenced, PrefixRetention::lru}) {
    EngineParams p = params();
    p.prefix_retention = retention;
    Harness h(p);
    EngineRequest a{1_r, 40, 2};
    a.prefix_blocks = {11, 12};
    h.engine.enqueue(a);
    h.run_to_completion();
    EngineRequest b = a;
    b.id = 2_r;
    h.engine.enqueue(b);
    h.engine.begin_step();
    const bool lru = retention == PrefixRetention::lru;
    EXPECT_EQ(h.latency.shapes.back().prefill_tokens, lru ? 8 : 40);
    EXPECT_EQ(h.engine.stats().prefix_lookups.hits(KvTier::gpu), lru ? 32 : 0);
    h.engine.finish_step();
    h.run_to_completion();
  }
}

// The same through engine.mode alone: vllm_v1 keeps the freed blocks (lru), vllm_v0 does not.
TEST(Engine, TheV1ModeReusesAFinishedPromptsBlocksAndTheV0ModeDoesNot) {
  for (const EngineMode mode : {EngineMode::vllm_v0, EngineMode::vllm_v1}) {
    EngineParams p = params();
    p.mode = mode;
    Harness h(p);
    EngineRequest a{1_r, 40, 2};
    a.prefix_blocks = {11, 12};
    h.engine.enqueue(a);
    h.run_to_completion();
    EngineRequest b = a;
    b.id = 2_r;
    h.engine.enqueue(b);
    h.engine.begin_step();
    const bool v1 = mode == EngineMode::vllm_v1;
    EXPECT_EQ(h.latency.shapes.back().prefill_tokens, v1 ? 8 : 40);
    EXPECT_EQ(h.engine.stats().prefix_lookups.hits(KvTier::gpu), v1 ? 32 : 0);
    h.engine.finish_step();
    h.run_to_completion();
  }
}

// vLLM v1 with a budget of 8 tokens: A (4-token prompt, 3 tokens out) runs; B's 12-token prompt
// arrives. Steps: A's prompt (4); A's decode + 7 of B; A's decode + B's last 5, B's first token
// and A's last; B decodes twice (one step each, 10 ms).
TEST(Engine, TheV1ModeSharesEachStepsTokenBudgetBetweenDecodesAndPromptChunks) {
  EngineParams p = params(256, 8);
  p.mode = EngineMode::vllm_v1;
  Harness h(p);
  h.engine.enqueue({1_r, 4, 3});
  EXPECT_EQ(h.engine.begin_step(), Time::from_ms(20));
  EXPECT_EQ(h.engine.finish_step().first_tokens, std::vector<RequestId>{1_r});
  h.engine.enqueue({2_r, 12, 3});
  std::vector<RequestId> finished;
  std::vector<RequestId> first;
  EXPECT_EQ(h.run_to_completion(&finished, &first), 4);
  EXPECT_EQ(first, std::vector<RequestId>{2_r});
  EXPECT_EQ(finished, (std::vector<RequestId>{1_r, 2_r}));
  ASSERT_EQ(h.latency.shapes.size(), 5u);
  const std::vector<int64_t> decodes{0, 1, 1, 1, 1};
  const std::vector<int64_t> prefills{4, 7, 5, 0, 0};
  for (size_t i = 0; i < 5; ++i) {
    EXPECT_EQ(h.latency.shapes[i].decode_sequences, decodes[i]) << "step " << i;
    EXPECT_EQ(h.latency.shapes[i].prefill_tokens, prefills[i]) << "step " << i;
  }
}

TEST(Engine, ContiguousAllocatorReservesTheMaxContextPerSequence) {
  EngineParams p = params();
  p.kv_allocator = KvAllocatorKind::contiguous;
  Harness h(p, capacity(20, 64));
  h.engine.enqueue({1_r, 10, 2});
  h.engine.begin_step();
  EXPECT_EQ(h.engine.blocks().used_blocks(), 4);
  h.engine.finish_step();
  h.engine.begin_step();
  h.engine.finish_step();
  // Stored 10 tokens for 20 ms and 11 for 10 ms, in 64 reserved slots throughout.
  const EngineStats& s = h.engine.stats();
  EXPECT_NEAR(s.stored_token_s / s.allocated_token_s, (10 * 0.02 + 11 * 0.01) / (64 * 0.03), 1e-12);
  EXPECT_DOUBLE_EQ(s.unshared_token_s, s.allocated_token_s);
}

TEST(Engine, ExactContiguousReservationHoldsTheRequestsOwnLength) {
  EngineParams p = params();
  p.kv_allocator = KvAllocatorKind::contiguous;
  p.contiguous_reservation = ContiguousReservation::exact;
  Harness h(p, capacity(20, 64));
  h.engine.enqueue({1_r, 10, 30});  // 40 tokens: 3 blocks, not the 4 of a 64-token context
  h.engine.begin_step();
  EXPECT_EQ(h.engine.blocks().used_blocks(), 3);
}

TEST(Engine, ChunkedPrefillSplitsALongPromptOverSteps) {
  EngineParams p = params(256, 64);
  p.enable_chunked_prefill = true;
  Harness h(p);
  h.engine.enqueue({1_r, 100, 2});
  h.engine.begin_step();
  EXPECT_EQ(h.latency.shapes.back().prefill_tokens, 64);
  EXPECT_TRUE(h.engine.finish_step().first_tokens.empty());
  h.engine.enqueue({2_r, 10, 2});
  h.engine.begin_step();
  // The rest of the first prompt and all of the second, within the budget.
  EXPECT_EQ(h.latency.shapes.back().prefill_tokens, 36 + 10);
  EXPECT_DOUBLE_EQ(h.latency.shapes.back().prefill_attention_pairs, (100.0 * 100 - 64 * 64) / 2 + 10 * 10 / 2.0);
  EXPECT_EQ(h.engine.finish_step().first_tokens, (std::vector<RequestId>{1_r, 2_r}));
  h.engine.enqueue({3_r, 200, 2});
  h.engine.begin_step();
  // Decodes first, then a chunk of the new prompt fills the budget.
  EXPECT_EQ(h.latency.shapes.back().decode_sequences, 2);
  EXPECT_EQ(h.latency.shapes.back().prefill_tokens, 62);
}

TEST(Engine, FastForwardRunsDecodeStepsUntilTheNextBlockOrCompletion) {
  EngineParams p = params();
  p.fast_forward = true;
  Harness h(p);
  h.engine.enqueue({1_r, 16, 10});
  EXPECT_EQ(h.engine.begin_step(), Time::from_ms(20));
  h.engine.finish_step();
  // Token 17 opens a second block with room for 15 more; 9 tokens remain: one run of 9 steps.
  EXPECT_EQ(h.engine.begin_step(), Time::from_ms(90));
  // A request arrives 25 ms in: the run stops after the third step, 5 ms later.
  EXPECT_EQ(h.engine.interrupt(Time::from_ms(25)), Time::from_ms(5));
  EXPECT_TRUE(h.engine.finish_step().finished.empty());
  EXPECT_EQ(h.engine.blocks().tokens(0), 19);
  EXPECT_EQ(h.engine.begin_step(), Time::from_ms(60));
  EXPECT_EQ(h.engine.finish_step().finished, std::vector<RequestId>{1_r});
  EXPECT_EQ(h.engine.stats().steps, 1 + 3 + 6);
  EXPECT_EQ(h.engine.stats().generated_tokens, 10);
}

// Two requests of 4 + 12 tokens in 6 blocks of 4: after the prefill each opens its second
// block; their third blocks (tokens 9) take the last 2 free, their fourth (tokens 13) would
// need 2 more, so the run stops before that step, which then preempts.
TEST(Engine, FastForwardCrossesBlockBoundariesOnlyWhileBlocksAreFree) {
  EngineParams p = params(256, 8192, 4);
  p.fast_forward = true;
  Harness h(p, capacity(6));
  h.engine.enqueue({1_r, 4, 12});
  h.engine.enqueue({2_r, 4, 12});
  h.engine.begin_step();
  h.engine.finish_step();
  EXPECT_EQ(h.engine.begin_step(), Time::from_ms(80));  // tokens 5 to 12
  h.engine.finish_step();
  h.engine.blocks().audit();
  EXPECT_EQ(h.engine.blocks().free_blocks(), 0);
  EXPECT_EQ(h.engine.stats().preemptions, 0);
  h.engine.begin_step();
  EXPECT_EQ(h.engine.stats().preemptions, 1);
}

TEST(Engine, SettlingARunFinishesOnlyTheStepsThatEnded) {
  EngineParams p = params();
  p.fast_forward = true;
  Harness h(p);
  h.engine.enqueue({1_r, 16, 10});
  h.engine.begin_step();
  h.engine.finish_step();
  EXPECT_EQ(h.engine.begin_step(), Time::from_ms(90));
  h.engine.settle(Time::from_ms(35));  // three 10 ms steps ended, the fourth had not
  EXPECT_FALSE(h.engine.stepping());
  EXPECT_EQ(h.engine.stats().steps, 1 + 3);
  EXPECT_EQ(h.engine.stats().generated_tokens, 1 + 3);
  EXPECT_EQ(h.engine.blocks().tokens(0), 19);
}

TEST(RooflineLatency, DecodeIsMemoryBoundAndPrefillComputeBound) {
  ModelSpec m;
  m.architecture = Architecture{};
  m.architecture.layers = 32;
  m.architecture.hidden_size = 4096;
  m.architecture.attention_heads = 32;
  m.architecture.kv_heads = 32;
  m.architecture.head_dim = 128;
  m.architecture.ffn_size = 11008;
  m.architecture.ffn_kind = "gated";
  m.architecture.vocab_size = 32000;
  GpuProfile gpu;
  gpu.hbm_bandwidth_gbytes_per_s = 1000;
  gpu.dense_fp16_tflops = 100;
  gpu.interconnect_gbytes_per_s = 100;
  RooflineParams p{1.0, 1.0, 0.0};
  const RooflineLatency latency(m, gpu, 1, p);
  StepShape decode;
  decode.decode_sequences = 1;
  decode.decode_context_tokens = 0;
  // One token: the weights dominate; time = bytes / 1000 GB/s.
  const double expected_decode = (static_cast<double>(m.checkpoint_bytes()) + m.kv_bytes_per_token()) / 1e12;
  EXPECT_NEAR(latency.step_time(decode).seconds(), expected_decode, 1e-9);
  StepShape prefill;
  prefill.prefill_tokens = 4096;
  const double expected_prefill = 2.0 * static_cast<double>(m.linear_parameters()) * 4096 / 100e12;
  EXPECT_NEAR(latency.step_time(prefill).seconds(), expected_prefill, 1e-9);

  // Two GPUs halve compute and add two ring all-reduces per layer of 4096 fp16 values per
  // token: 2 (2 - 1) / 2 × bytes at 100 GB/s.
  const RooflineLatency split(m, gpu, 2, p);
  const double all_reduce = 1.0 * (2.0 * 32 * 4096 * 2 * 4096) / 100e9;
  EXPECT_NEAR(split.step_time(prefill).seconds(), expected_prefill / 2 + all_reduce, 1e-9);
}

namespace {

// Llama-2-7B's shape: 2 (K, V) x 32 layers x 32 KV heads x 128 x 2 bytes = 524,288 KV bytes a
// token, 8,388,608 a 16-token block.
ModelSpec llama_2_7b_shape() {
  ModelSpec m;
  m.name = "llama-2-7b-shape";
  m.architecture.layers = 32;
  m.architecture.hidden_size = 4096;
  m.architecture.attention_heads = 32;
  m.architecture.kv_heads = 32;
  m.architecture.head_dim = 128;
  m.architecture.ffn_size = 11008;
  m.architecture.ffn_kind = "gated";
  m.architecture.vocab_size = 32000;
  return m;
}

}  // namespace

TEST(KvCapacity, AFixedKvCacheSizeGivesItsBlocksWhateverTheWeightsAndTheGpuMemoryLeft) {
  const ModelSpec m = llama_2_7b_shape();
  ASSERT_EQ(m.kv_bytes_per_token(), 524288);
  GpuProfile gpu;
  gpu.memory_bytes = int64_t{20} << 30;
  EngineParams p;
  // Derived: 20 GiB x 0.9 - weights - 2 GiB.
  const double left = static_cast<double>(gpu.memory_bytes) * 0.9 - static_cast<double>(m.checkpoint_bytes()) -
                      static_cast<double>(int64_t{2} << 30);
  EXPECT_EQ(kv_capacity_blocks(m, gpu, 1, p), static_cast<int64_t>(left / 8388608));
  // The testbed's --kv-gb 3: floor(3e9 / 8,388,608) = 357 blocks, as its llama-2-7b worker reports.
  p.kv_cache_memory_bytes = 3'000'000'000;
  EXPECT_EQ(kv_capacity_blocks(m, gpu, 1, p), 357);
  // Per GPU: two GPUs hold twice as many (6e9 / 8,388,608 = 715.3).
  EXPECT_EQ(kv_capacity_blocks(m, gpu, 2, p), 715);
}

TEST(KvCapacity, AFixedKvCacheThatDoesNotFitBesideTheWeightsIsRefused) {
  const ModelSpec m = llama_2_7b_shape();
  GpuProfile gpu;
  EngineParams p;
  p.kv_cache_memory_bytes = 3'000'000'000;
  gpu.memory_bytes = m.checkpoint_bytes() + 3'000'000'000;
  EXPECT_EQ(kv_capacity_blocks(m, gpu, 1, p), 357);
  gpu.memory_bytes -= 1;
  EXPECT_THROW(kv_capacity_blocks(m, gpu, 1, p), InputError);
}

TEST(Engine, RemovedRequestFreesItsBlocksAndReportsItsTokens) {
  Harness h(params(256, 8192, 16));
  h.engine.enqueue({1_r, 100, 10});
  h.engine.enqueue({2_r, 50, 10});
  for (int i = 0; i < 3; ++i) {  // one prefill of both, then two decodes: 3 tokens each
    ASSERT_TRUE(h.engine.begin_step());
    h.engine.finish_step();
  }
  const int64_t used = h.engine.blocks().used_blocks();
  EXPECT_EQ(h.engine.remove(1_r), 3);
  EXPECT_EQ(h.engine.remove(1_r), std::nullopt);
  // Request 1 held ceil((100 + 2) / 16) = 7 blocks (the third token is not stored yet).
  EXPECT_EQ(h.engine.blocks().used_blocks(), used - 7);
  h.engine.blocks().audit();
  const auto left = h.engine.request_tokens();
  ASSERT_EQ(left.size(), 1u);
  EXPECT_EQ(left[0], (std::pair<RequestId, int64_t>{2_r, 53}));
}

TEST(Engine, ResumedRequestPrefillsOnlyWhatIsNotResidentAndGeneratesTheRest) {
  Harness h(params());
  // 100 input tokens and 4 generated; a migration already recomputed 100 of those 104.
  h.engine.enqueue_resumed({9_r, 100, 10}, 4, 100);
  std::vector<RequestId> finished, first;
  // One prefill of 4 tokens (it yields token 5), then 5 decodes for tokens 6..10.
  EXPECT_EQ(h.run_to_completion(&finished, &first), 6);
  EXPECT_EQ(h.latency.shapes.front().prefill_tokens, 4);
  EXPECT_EQ(h.engine.stats().prefilled_tokens, 4);
  EXPECT_EQ(h.engine.stats().generated_tokens, 6);
  EXPECT_EQ(finished, std::vector<RequestId>{9_r});
  EXPECT_TRUE(first.empty());  // its first token came out on the source
}

TEST(Engine, ShadowPrefillsBesideOtherWorkParksWithoutATokenAndIsNoRequest) {
  Harness h(params());
  h.engine.enqueue({1_r, 40, 10});
  // A migration sends request 9's 100 tokens (of 110 in all).
  h.engine.enqueue_shadow({9_r, 100, 10});
  EXPECT_EQ(h.engine.outstanding(), 1);
  EXPECT_EQ(h.engine.shadows(), 1);
  EXPECT_EQ(h.engine.unparked_shadows(), 1);
  ASSERT_EQ(h.engine.request_tokens().size(), 1u);
  // Both prefill in one step: the shadow shares the batch and takes ceil(100 / 16) = 7 blocks.
  ASSERT_TRUE(h.engine.begin_step());
  EXPECT_EQ(h.latency.shapes.back().prefill_tokens, 140);
  EXPECT_EQ(h.latency.shapes.back().prefill_sequences, 2);
  const StepResult& r = h.engine.finish_step();
  EXPECT_EQ(r.first_tokens, std::vector<RequestId>{1_r});
  EXPECT_EQ(r.shadows_parked, std::vector<RequestId>{9_r});
  EXPECT_EQ(h.engine.unparked_shadows(), 0);
  EXPECT_EQ(h.engine.blocks().used_blocks(), 3 + 7);
  // Parked, it decodes nothing: the next step decodes request 1 alone.
  ASSERT_TRUE(h.engine.begin_step());
  EXPECT_EQ(h.latency.shapes.back().decode_sequences, 1);
  h.engine.finish_step();
  EXPECT_EQ(h.engine.stats().generated_tokens, 2);
}

TEST(Engine, ExtendedShadowPrefillsOnlyTheNewTokensWithItsKvAsContext) {
  Harness h(params());
  h.engine.enqueue_shadow({9_r, 100, 10});
  ASSERT_TRUE(h.engine.begin_step());
  h.engine.finish_step();
  h.engine.extend_shadow(9_r, 5);
  EXPECT_EQ(h.engine.unparked_shadows(), 1);
  ASSERT_TRUE(h.engine.begin_step());
  const StepShape& shape = h.latency.shapes.back();
  EXPECT_EQ(shape.prefill_tokens, 5);
  EXPECT_DOUBLE_EQ(shape.prefill_attention_pairs, (105.0 * 105 - 100.0 * 100) / 2);
  EXPECT_EQ(h.engine.finish_step().shadows_parked, std::vector<RequestId>{9_r});
  EXPECT_EQ(h.engine.blocks().used_blocks(), 7);  // ceil(105 / 16)
  EXPECT_EQ(h.engine.stats().prefilled_tokens, 105);
  h.engine.blocks().audit();
}

TEST(Engine, ExtendedShadowTakesBlocksForItsNewTokensWithChunkedPrefill) {
  EngineParams p = params();
  p.enable_chunked_prefill = true;
  Harness h(p);
  h.engine.enqueue_shadow({9_r, 100, 30});
  ASSERT_TRUE(h.engine.begin_step());
  h.engine.finish_step();
  EXPECT_EQ(h.engine.blocks().used_blocks(), 7);  // ceil(100 / 16)
  h.engine.extend_shadow(9_r, 20);
  ASSERT_TRUE(h.engine.begin_step());
  EXPECT_EQ(h.latency.shapes.back().prefill_tokens, 20);
  EXPECT_EQ(h.engine.finish_step().shadows_parked, std::vector<RequestId>{9_r});
  EXPECT_EQ(h.engine.blocks().used_blocks(), 8);  // ceil(120 / 16)
  h.engine.audit();
}

TEST(Engine, PromotedShadowResumesWithItsKvResidentAndPrefillsOnlyTheRest) {
  Harness h(params());
  h.engine.enqueue_shadow({9_r, 100, 10});
  ASSERT_TRUE(h.engine.begin_step());
  h.engine.finish_step();
  // On the source it generated 4 tokens: 104 in all, 100 of them resident here.
  h.engine.promote_shadow({9_r, 100, 10}, 4);
  EXPECT_EQ(h.engine.shadows(), 0);
  EXPECT_EQ(h.engine.outstanding(), 1);
  std::vector<RequestId> finished, first;
  // One prefill of 4 tokens (it yields token 5), then 5 decodes for tokens 6..10.
  EXPECT_EQ(h.run_to_completion(&finished, &first), 6);
  EXPECT_EQ(h.latency.shapes[1].prefill_tokens, 4);
  EXPECT_EQ(h.engine.stats().prefilled_tokens, 104);
  EXPECT_EQ(h.engine.stats().generated_tokens, 6);
  EXPECT_EQ(finished, std::vector<RequestId>{9_r});
  EXPECT_TRUE(first.empty());
  EXPECT_EQ(h.engine.blocks().used_blocks(), 0);
}

TEST(Engine, RemovedShadowFreesItsBlocks) {
  Harness h(params());
  h.engine.enqueue_shadow({9_r, 100, 10});
  ASSERT_TRUE(h.engine.begin_step());
  h.engine.finish_step();
  h.engine.remove_shadow(9_r);
  EXPECT_EQ(h.engine.shadows(), 0);
  EXPECT_EQ(h.engine.blocks().used_blocks(), 0);
  EXPECT_TRUE(h.engine.idle());
  EXPECT_THROW(h.engine.remove_shadow(9_r), std::logic_error);
}

TEST(Engine, CachedTokensLeaveOutWhatIsNotInTheCacheYet) {
  Harness h(params(256, 100));
  h.engine.enqueue({1_r, 40, 10});
  h.engine.enqueue({2_r, 90, 10});  // does not fit the 100-token budget beside request 1: waits
  ASSERT_TRUE(h.engine.begin_step());
  h.engine.finish_step();
  ASSERT_TRUE(h.engine.begin_step());  // request 2's prefill alone
  h.engine.finish_step();
  // Request 1: 40 prompt tokens and 1 generated, whose keys and values the next decode computes.
  // Request 2: its 90 prompt tokens.
  const auto cached = h.engine.cached_request_tokens();
  ASSERT_EQ(cached.size(), 2u);
  EXPECT_EQ(cached[0], (std::pair<RequestId, int64_t>{1_r, 40}));
  EXPECT_EQ(cached[1], (std::pair<RequestId, int64_t>{2_r, 90}));
  h.engine.enqueue({3_r, 10, 10});
  EXPECT_EQ(h.engine.cached_request_tokens().size(), 2u);  // waiting: nothing cached
  EXPECT_EQ(h.engine.request_tokens().size(), 3u);
}

// Decode steps of plain requests are counted, not stepped per request (see engine.h). The
// following check that counting takes the blocks, tokens and times that stepping each request
// one by one does, at block boundaries, completions, interruptions and switches to stepping.

// What a run to completion produced, with Engine::audit() (which does not put the counted
// tokens in) after every begin and finish.
struct Trace {
  std::vector<Time> durations;
  std::vector<RequestId> finished;
  std::vector<int64_t> used_blocks;  // after each finish, the counted tokens put in
};

Trace audited_run(Harness& h, bool read_blocks) {
  Trace t;
  while (const auto d = h.engine.begin_step()) {
    h.engine.audit();
    const StepResult& r = h.engine.finish_step();
    h.engine.audit();
    t.durations.push_back(*d);
    t.finished.insert(t.finished.end(), r.finished.begin(), r.finished.end());
    if (read_blocks) t.used_blocks.push_back(h.engine.blocks().used_blocks());
  }
  return t;
}

// Blocks of 4; prompts of 3, 6 and 8 tokens sit at three phases of their blocks and open their
// next ones at different steps. Request 2 (6 tokens out) finishes after the prefill and 5
// decodes while 1 and 3 continue. The fast-forwarded run of 5 decodes ends there, holding
// 3 + 5 = 8 tokens (2 blocks) and 8 + 5 = 13 (4 blocks): 6 blocks, as stepping one by one.
TEST(Engine, CountedRunTakesTheBlocksOfOneByOneStepsAcrossPhases) {
  EngineParams p = params(256, 8192, 4);
  p.fast_forward = true;
  Harness fast(p, capacity(100));
  Harness stepped(params(256, 8192, 4), capacity(100));
  for (Harness* h : {&fast, &stepped}) {
    h->engine.enqueue({1_r, 3, 10});
    h->engine.enqueue({2_r, 6, 6});
    h->engine.enqueue({3_r, 8, 12});
  }
  fast.engine.begin_step();
  fast.engine.finish_step();
  EXPECT_EQ(fast.engine.begin_step(), Time::from_ms(50));
  fast.engine.audit();
  EXPECT_EQ(fast.engine.finish_step().finished, std::vector<RequestId>{2_r});
  fast.engine.audit();
  EXPECT_EQ(fast.engine.blocks().used_blocks(), 2 + 4);
  const auto tokens = fast.engine.request_tokens();
  ASSERT_EQ(tokens.size(), 2u);
  EXPECT_EQ(tokens[0], (std::pair<RequestId, int64_t>{1_r, 3 + 6}));
  EXPECT_EQ(tokens[1], (std::pair<RequestId, int64_t>{3_r, 8 + 6}));
  const Trace rest = audited_run(fast, true);
  const Trace one_by_one = audited_run(stepped, true);
  // Prefill, then 11 decodes: request 1 done after 9, request 3 after 11.
  ASSERT_EQ(one_by_one.durations.size(), 12u);
  EXPECT_EQ(one_by_one.finished, (std::vector<RequestId>{2_r, 1_r, 3_r}));
  EXPECT_EQ(one_by_one.used_blocks[5], 6);
  EXPECT_EQ(rest.finished, (std::vector<RequestId>{1_r, 3_r}));
  EXPECT_EQ(fast.engine.stats().steps, stepped.engine.stats().steps);
  EXPECT_EQ(fast.engine.stats().generated_tokens, 10 + 6 + 12);
  EXPECT_EQ(fast.engine.stats().generated_tokens, stepped.engine.stats().generated_tokens);
  EXPECT_DOUBLE_EQ(fast.engine.stats().stored_token_s, stepped.engine.stats().stored_token_s);
  EXPECT_DOUBLE_EQ(fast.engine.stats().allocated_token_s, stepped.engine.stats().allocated_token_s);
  EXPECT_DOUBLE_EQ(fast.engine.stats().unshared_token_s, stepped.engine.stats().unshared_token_s);
  EXPECT_EQ(fast.latency.shapes.size(), stepped.latency.shapes.size());
  for (size_t i = 0; i < std::min(fast.latency.shapes.size(), stepped.latency.shapes.size()); ++i)
    EXPECT_EQ(fast.latency.shapes[i].decode_context_tokens, stepped.latency.shapes[i].decode_context_tokens) << i;
  EXPECT_EQ(fast.engine.blocks().used_blocks(), 0);
}

// Blocks of 4 and 7 of them: prompts of 4 and 6 tokens hold 1 + 2 blocks, 4 are free. The
// two requests open blocks at different steps; the run ends before the step that would need
// a fifth, and what follows (a preemption) is what stepping one by one does.
TEST(Engine, CountedRunStopsWhereTheBlocksOfSeveralPhasesRunOut) {
  EngineParams p = params(256, 8192, 4);
  p.fast_forward = true;
  Harness fast(p, capacity(7));
  Harness stepped(params(256, 8192, 4), capacity(7));
  for (Harness* h : {&fast, &stepped}) {
    h->engine.enqueue({1_r, 4, 20});
    h->engine.enqueue({2_r, 6, 20});
  }
  fast.engine.begin_step();
  fast.engine.finish_step();
  // Decode k (1-based) writes token 4 + k of request 1 and 6 + k of request 2. Opened: k=1
  // (token 5), k=3 (token 9 of request 2), k=5 (token 9 of request 1), k=7 (token 13 of
  // request 2): 4 blocks, all that is free; k=9 (token 13 of request 1) needs a fifth.
  EXPECT_EQ(fast.engine.begin_step(), Time::from_ms(80));
  fast.engine.finish_step();
  fast.engine.audit();
  EXPECT_EQ(fast.engine.blocks().free_blocks(), 0);
  EXPECT_EQ(fast.engine.blocks().tokens(0), 12);
  const Trace rest = audited_run(fast, false);
  const Trace one_by_one = audited_run(stepped, false);
  EXPECT_EQ(rest.finished, one_by_one.finished);
  EXPECT_EQ(fast.engine.stats().preemptions, stepped.engine.stats().preemptions);
  EXPECT_GE(fast.engine.stats().preemptions, 1);
  EXPECT_EQ(fast.engine.stats().busy_s, stepped.engine.stats().busy_s);
  EXPECT_DOUBLE_EQ(fast.engine.stats().allocated_token_s, stepped.engine.stats().allocated_token_s);
  EXPECT_EQ(fast.engine.stats().generated_tokens, stepped.engine.stats().generated_tokens);
}

// An arrival 25 ms into a run of 10 ms decodes cuts it after its third step: the counted
// tokens put in are the prompt plus those three, and the arrival is admitted beside them.
TEST(Engine, InterruptedCountedRunPutsInTheTokensOfTheStepsThatRan) {
  EngineParams p = params(256, 8192, 4);
  p.fast_forward = true;
  Harness h(p, capacity(100));
  h.engine.enqueue({1_r, 5, 20});
  h.engine.enqueue({2_r, 10, 20});
  h.engine.begin_step();
  h.engine.finish_step();
  EXPECT_EQ(h.engine.begin_step(), Time::from_ms(190));
  const auto mid_run = h.engine.request_tokens(Time::from_ms(25));
  EXPECT_EQ(mid_run[0], (std::pair<RequestId, int64_t>{1_r, 5 + 1 + 2}));
  EXPECT_EQ(h.engine.interrupt(Time::from_ms(25)), Time::from_ms(5));
  h.engine.finish_step();
  h.engine.audit();
  h.engine.enqueue({3_r, 7, 2});
  EXPECT_EQ(h.engine.begin_step(), Time::from_ms(20));  // the arrival's prefill alone
  h.engine.finish_step();
  h.engine.audit();
  EXPECT_EQ(h.engine.blocks().tokens(0), 5 + 3);
  EXPECT_EQ(h.engine.blocks().tokens(1), 10 + 3);
  EXPECT_EQ(h.engine.blocks().used_blocks(), 2 + 4 + 2);
  const auto cached = h.engine.cached_request_tokens();
  ASSERT_EQ(cached.size(), 3u);
  EXPECT_EQ(cached[1], (std::pair<RequestId, int64_t>{2_r, 13}));
  EXPECT_EQ(cached[2], (std::pair<RequestId, int64_t>{3_r, 7}));
  // Request 3 needs one decode; the three decode together and it finishes first.
  EXPECT_EQ(h.engine.begin_step(), Time::from_ms(10));
  EXPECT_EQ(h.engine.finish_step().finished, std::vector<RequestId>{3_r});
  h.engine.audit();
  EXPECT_EQ(h.engine.begin_step(), Time::from_ms(150));  // tokens 6 to 20 of requests 1 and 2
  EXPECT_EQ(h.engine.finish_step().finished, (std::vector<RequestId>{1_r, 2_r}));
  EXPECT_EQ(h.engine.blocks().used_blocks(), 0);
}

// Plain requests decode by the counter; a request of two samples joining makes every step
// visit each request again, a removal in between puts the counted tokens in, and once the
// samples are done the others go back to counting: the audit stays clean throughout and the
// outcome is that of stepping one by one.
TEST(Engine, SwitchingBetweenCountedAndSteppedDecodingKeepsTheAuditClean) {
  EngineParams p = params(256, 8192, 4);
  p.fast_forward = true;
  Harness fast(p, capacity(40));
  Harness stepped(params(256, 8192, 4), capacity(40));
  for (Harness* h : {&fast, &stepped}) {
    h->engine.enqueue({1_r, 5, 70});
    h->engine.enqueue({2_r, 9, 60});
    h->engine.enqueue({3_r, 2, 35});
  }
  for (Harness* h : {&fast, &stepped}) {
    for (int i = 0; i < 2; ++i) {  // the prefill and a decode (in the fast one a run of 34, which finishes 3)
      ASSERT_TRUE(h->engine.begin_step());
      h->engine.audit();
      h->engine.finish_step();
      h->engine.audit();
    }
  }
  // Bring the stepped engine to the same token counts as the fast one's first run.
  const int64_t behind = fast.engine.request_tokens()[0].second - stepped.engine.request_tokens()[0].second;
  for (int64_t i = 0; i < behind; ++i) {
    ASSERT_TRUE(stepped.engine.begin_step());
    stepped.engine.finish_step();
  }
  ASSERT_EQ(fast.engine.request_tokens(), stepped.engine.request_tokens());
  for (Harness* h : {&fast, &stepped}) {
    ASSERT_EQ(h->engine.request_tokens()[1], (std::pair<RequestId, int64_t>{2_r, 9 + 35}));
    h->engine.enqueue({4_r, 6, 8, 2});
    EXPECT_EQ(h->engine.remove(2_r), 35);
    h->engine.audit();
  }
  const Trace a = audited_run(fast, false);
  const Trace b = audited_run(stepped, false);
  EXPECT_EQ(a.finished, (std::vector<RequestId>{4_r, 1_r}));
  EXPECT_EQ(a.finished, b.finished);
  EXPECT_EQ(fast.engine.stats().busy_s, stepped.engine.stats().busy_s);
  EXPECT_DOUBLE_EQ(fast.engine.stats().stored_token_s, stepped.engine.stats().stored_token_s);
  EXPECT_DOUBLE_EQ(fast.engine.stats().unshared_token_s, stepped.engine.stats().unshared_token_s);
  EXPECT_EQ(fast.engine.stats().generated_tokens, stepped.engine.stats().generated_tokens);
  EXPECT_EQ(fast.engine.blocks().used_blocks(), 0);
}

namespace {

// A tier below the GPU that holds whatever the GPU's prefix cache evicted (DRAM).
struct EvictedToDram : KvOffload {
  std::vector<uint64_t> evictions;
  std::optional<KvTier> holder(uint64_t prefix_block) const override {
    if (std::find(evictions.begin(), evictions.end(), prefix_block) == evictions.end()) return std::nullopt;
    return KvTier::dram;
  }
  void fetched(KvFetch&) override {}
  void evicted(uint64_t prefix_block) override { evictions.push_back(prefix_block); }
};

}  // namespace

// v0 forgets a 40-token prompt's two full blocks (16 tokens each) when it finishes: they go down
// to the tier below. The same prompt again misses the GPU, finds both there (32 tokens, a DRAM
// hit), fetches their 2 × 16 × 1000 bytes and prefills only the 8 tokens after them.
TEST(Engine, APromptWhoseBlocksTheGpuEvictedIsADramHitFetchedNotComputed) {
  EvictedToDram dram;
  Harness h(params(), capacity(100), &dram);
  EngineRequest a{1_r, 40, 2};
  a.prefix_blocks = {11, 12};
  h.engine.enqueue(a);
  h.run_to_completion();
  EXPECT_EQ(dram.evictions, (std::vector<uint64_t>{11, 12}));
  EngineRequest b = a;
  b.id = 2_r;
  h.engine.enqueue(b);
  h.engine.begin_step();
  EXPECT_EQ(h.latency.shapes.back().prefill_tokens, 8);
  const KvMoves& moves = h.engine.kv_moves();
  ASSERT_EQ(moves.fetches.size(), 2u);
  EXPECT_EQ(moves.fetches[0].prefix_block, 11u);
  EXPECT_EQ(moves.fetches[0].from, KvTier::dram);
  EXPECT_EQ(moves.block_bytes, 16 * 1000);
  const PrefixLookups& lookups = h.engine.stats().prefix_lookups;
  EXPECT_EQ(lookups.prompt_tokens, 80);
  EXPECT_EQ(lookups.hits(KvTier::gpu), 0);
  EXPECT_EQ(lookups.hits(KvTier::dram), 32);
  h.engine.finish_step();
  h.run_to_completion();
}

// With lru retention a finished prompt's blocks stay on the GPU; they go down only when a new
// prompt needs their room (3 blocks in all: a 40-token prompt takes every one), tail first.
TEST(Engine, LruRetentionSendsBlocksDownOnlyWhenItEvictsThem) {
  EvictedToDram dram;
  EngineParams p = params();
  p.prefix_retention = PrefixRetention::lru;
  Harness h(p, capacity(3), &dram);
  EngineRequest a{1_r, 40, 2};
  a.prefix_blocks = {11, 12};
  h.engine.enqueue(a);
  h.run_to_completion();
  EXPECT_TRUE(dram.evictions.empty());
  EngineRequest c{2_r, 40, 2};
  c.prefix_blocks = {21, 22};
  h.engine.enqueue(c);
  h.run_to_completion();
  EXPECT_EQ(dram.evictions, (std::vector<uint64_t>{12, 11}));
}

}  // namespace slsim
