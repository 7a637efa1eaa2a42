#include "sim/engine/vllm_v0_batching.h"

#include <algorithm>
#include <span>
#include <vector>

namespace slsim {

VllmV0Batching::VllmV0Batching(const EngineParams& params, const EngineCapacity& capacity)
    : max_num_seqs_(params.max_num_seqs),
      max_num_batched_tokens_(params.max_num_batched_tokens),
      chunked_prefill_(params.chunked_prefill()),
      preemption_mode_(params.preemption_mode),
      watermark_blocks_(static_cast<int64_t>(params.watermark * static_cast<double>(capacity.kv_blocks))) {}

StepPlan VllmV0Batching::plan_step(EngineBatch& batch) {
  int64_t budget = max_num_batched_tokens_;
  StepPlan plan;
  if (chunked_prefill_) {
    plan.preempted = schedule_running(batch, budget);
    if (!plan.preempted) schedule_swapped(batch);
    schedule_prefills(batch, budget);
    plan.prefilling = true;  // continued chunks too
  } else {
    // A step prefills newly admitted prompts alone; it decodes only when none is admitted.
    // Without chunking, only an admission gives a group prompt tokens to compute.
    plan.prefilling = batch.swapped.empty() && schedule_prefills(batch, budget);
    if (!plan.prefilling && !batch.try_counted_decode(budget)) {
      batch.leave_counted();
      plan.preempted = schedule_running(batch, budget);
      if (!plan.preempted) schedule_swapped(batch);
    }
  }
  return plan;
}

// The watermark keeps a few blocks free for running sequences to grow into, so that a new
// admission does not cause an immediate preemption. With nothing running it is waived, or a
// request that needs nearly every block would never start (or come back from host memory).
bool VllmV0Batching::may_take(const EngineBatch& batch, int64_t blocks) const {
  const int64_t reserve = batch.running.empty() ? 0 : watermark_blocks_;
  return batch.free_blocks() - blocks >= reserve;
}

bool VllmV0Batching::schedule_prefills(EngineBatch& batch, int64_t& token_budget) const {
  if (batch.waiting.empty()) return false;
  BlockManager& blocks = *batch.blocks;
  const int64_t block_size = batch.params.block_size;
  bool admitted = false;
  int64_t sequences = batch.running_sequences();
  std::vector<KvFetch> fetches;
  while (!batch.waiting.empty()) {
    SequenceGroup& g = batch.waiting.front();
    if (sequences + g.sequences > max_num_seqs_) break;
    const std::span<const uint64_t> prefix = g.request.prefix_blocks;
    const int64_t prefix_hit_tokens = g.holds_blocks ? 0 : blocks.cached_prefix_blocks(g.prompt, prefix) * block_size;
    fetches.clear();
    if (!g.holds_blocks) batch.lower_tier_hits(g.prompt, prefix, fetches);
    int64_t fetched_tokens = static_cast<int64_t>(fetches.size()) * block_size;
    // Keys and values a live migration recomputed already need no fetch.
    if (prefix_hit_tokens + fetched_tokens <= g.resident) {
      fetches.clear();
      fetched_tokens = 0;
    }
    const int64_t cached_tokens =
        g.holds_blocks ? g.computed : std::max(prefix_hit_tokens + fetched_tokens, g.resident);
    // vLLM computes at least the last prompt token, whose logits give the next token.
    const int64_t to_compute = g.prompt - std::min(cached_tokens, g.prompt - 1);
    int64_t chunk = to_compute;
    if (chunked_prefill_) {
      chunk = std::min(to_compute, token_budget);
      if (chunk <= 0) break;
    } else if (admitted && to_compute > token_budget) {
      break;
    }
    const int64_t max = batch.max_tokens(g);
    if (g.holds_blocks) {
      const int64_t held = blocks.blocks_held(g.first_seq);
      if (!may_take(batch, std::max<int64_t>(0, blocks.blocks_to_admit(g.prompt, max, {}) - held))) break;
      const int64_t appended = g.prompt - g.tokens;
      if (appended > 0) blocks.append(g.first_seq, appended);
      g.holds_blocks = false;
    } else {
      const int64_t fork_blocks = blocks.shares_blocks() ? 0 : blocks.blocks_to_admit(g.prompt, max, {});
      if (!may_take(batch, blocks.blocks_to_admit(g.prompt, max, prefix) + (g.sequences - 1) * fork_blocks)) break;
      for (KvFetch& f : fetches) batch.offload->fetched(f);  // before admit() evicts anything
      g.first_seq = batch.take_seq_ids(g.sequences);
      blocks.admit(g.first_seq, g.prompt, max, prefix);
      for (int64_t i = 1; i < g.sequences; ++i) blocks.fork(g.first_seq, g.first_seq + static_cast<SeqId>(i));
    }
    if (g.prefix_lookup_pending) {
      PrefixLookups lookups;
      lookups.prompt_tokens = g.prompt;
      lookups.hits(KvTier::gpu) = prefix_hit_tokens;
      for (const KvFetch& f : fetches) lookups.hits(f.from) += block_size;
      batch.prefix_lookups += lookups;
      g.prefix_lookup_pending = false;
    }
    batch.moves.fetches.insert(batch.moves.fetches.end(), fetches.begin(), fetches.end());
    g.tokens = g.prompt;
    g.computed = g.prompt - to_compute;
    g.chunk = chunk;
    token_budget -= chunk;
    admitted = true;
    sequences += g.sequences;
    batch.running.push_back(batch.put_in_slot(std::move(g)));
    batch.waiting.pop_front();
  }
  return admitted;
}

// Decodes every running request that has its prompt in (preempting from the back when blocks
// run out) and continues chunked prefills.
bool VllmV0Batching::schedule_running(EngineBatch& batch, int64_t& token_budget) const {
  bool preempted = false;
  std::vector<uint32_t>& running = batch.running;
  for (size_t i = 0; i < running.size(); ++i) {
    SequenceGroup& g = batch.slots[running[i]];
    if (g.computed < g.prompt) {
      if (chunked_prefill_) {
        g.chunk = std::clamp<int64_t>(g.prompt - g.computed, 0, std::max<int64_t>(token_budget, 0));
        token_budget -= g.chunk;
      }
      continue;
    }
    if (g.shadow) continue;  // parked: it holds its KV cache and decodes nothing
    // Most tokens go into a block their sequence already holds: no preemption can be needed.
    if (g.sequences == 1 && batch.blocks->append_in_place(g.first_seq)) {
      batch.grown(g);
      token_budget -= 1;
      continue;
    }
    bool self_preempted = false;
    while (batch.blocks_to_grow(batch.slots[running[i]]) > batch.free_blocks()) {
      preempted = true;
      const uint32_t victim = running.back();
      running.pop_back();
      preempt(batch, batch.take_slot(victim));
      if (i == running.size()) {
        self_preempted = true;
        break;
      }
    }
    if (self_preempted) break;
    batch.grow(batch.slots[running[i]]);
    token_budget -= batch.slots[running[i]].sequences;
  }
  return preempted;
}

void VllmV0Batching::schedule_swapped(EngineBatch& batch) const {
  if (batch.swapped.empty()) return;
  int64_t sequences = batch.running_sequences();
  while (!batch.swapped.empty()) {
    SequenceGroup& g = batch.swapped.front();
    if (sequences + g.sequences > max_num_seqs_) break;
    const std::vector<SeqId> seqs = batch.seqs_of(g);
    const int64_t moved = batch.blocks->blocks_to_swap_in(seqs);
    if (!may_take(batch, moved + g.sequences)) break;
    batch.blocks->swap_in(seqs);
    batch.moves.swap_in_bytes += moved * batch.block_bytes();
    sequences += g.sequences;
    batch.running.push_back(batch.put_in_slot(std::move(g)));
    batch.swapped.pop_front();
    SequenceGroup& back = batch.slots[batch.running.back()];
    if (back.computed >= back.prompt) batch.grow(back);
  }
}

// vLLM recomputes only single-sequence requests; samples and beams would lose their state.
void VllmV0Batching::preempt(EngineBatch& batch, SequenceGroup g) const {
  if ((preemption_mode_ == PreemptionMode::swap && !g.shadow) || g.sequences > 1)
    batch.swap_out(std::move(g));
  else
    batch.recompute_later(std::move(g));
}

}  // namespace slsim
