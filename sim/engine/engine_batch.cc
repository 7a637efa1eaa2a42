#include "sim/engine/engine_batch.h"

#include <algorithm>
#include <optional>

namespace slsim {

EngineBatch::EngineBatch(const EngineParams& params, const EngineCapacity& capacity)
    : params(params),
      capacity(capacity),
      blocks(make_block_manager(params.kv_allocator, capacity.kv_blocks, params.block_size, params.retention())),
      counted(params.block_size) {}

int64_t EngineBatch::max_tokens(const SequenceGroup& g) const {
  const int64_t longest = g.request.input_tokens + g.request.output_tokens;
  return params.contiguous_reservation == ContiguousReservation::exact ? longest
                                                                       : std::max(longest, capacity.max_context);
}

SeqId EngineBatch::take_seq_ids(int64_t sequences) {
  const auto width = static_cast<size_t>(sequences);
  if (width < free_seq_ids_.size() && !free_seq_ids_[width].empty()) {
    const SeqId first = free_seq_ids_[width].back();
    free_seq_ids_[width].pop_back();
    return first;
  }
  const SeqId first = next_seq_;
  next_seq_ += static_cast<SeqId>(sequences);
  return first;
}

void EngineBatch::return_seq_ids(const SequenceGroup& g) {
  const auto width = static_cast<size_t>(g.sequences);
  if (width >= free_seq_ids_.size()) free_seq_ids_.resize(width + 1);
  free_seq_ids_[width].push_back(g.first_seq);
}

std::vector<SeqId> EngineBatch::seqs_of(const SequenceGroup& g) const {
  std::vector<SeqId> seqs(static_cast<size_t>(g.sequences));
  for (int64_t i = 0; i < g.sequences; ++i) seqs[static_cast<size_t>(i)] = g.first_seq + static_cast<SeqId>(i);
  return seqs;
}

void EngineBatch::free_sequences(const SequenceGroup& g) {
  for (int64_t i = 0; i < g.sequences; ++i) blocks->free(g.first_seq + static_cast<SeqId>(i));
  return_seq_ids(g);
}

namespace {

// Beam search keeps its beams sharing everything but their last block: at each block
// boundary the beams continue from the best one (see docs/decisions.md).
bool at_beam_boundary(const SequenceGroup& g, int64_t block_size) {
  return g.request.beam_width > 1 && g.tokens % block_size == 0;
}

}  // namespace

int64_t EngineBatch::blocks_to_grow(const SequenceGroup& g) const {
  if (at_beam_boundary(g, params.block_size)) return blocks->shares_blocks() ? g.sequences : 0;
  int64_t n = 0;
  for (int64_t i = 0; i < g.sequences; ++i) n += blocks->blocks_to_append(g.first_seq + static_cast<SeqId>(i));
  return n;
}

void EngineBatch::grow(SequenceGroup& g) {
  if (at_beam_boundary(g, params.block_size)) {
    for (int64_t i = 1; i < g.sequences; ++i) {
      const SeqId beam = g.first_seq + static_cast<SeqId>(i);
      blocks->free(beam);
      blocks->fork(g.first_seq, beam);
    }
  }
  for (int64_t i = 0; i < g.sequences; ++i) blocks->append(g.first_seq + static_cast<SeqId>(i));
  grown(g);
}

void EngineBatch::grown(SequenceGroup& g) {
  ++g.tokens;
  g.decodes = true;
  shape.decode_sequences += g.sequences;
  shape.decode_context_tokens += g.sequences * g.tokens;
}

// The full prompt blocks that the GPU's prefix cache misses and a tier below holds: their keys
// and values come up as a fetch instead of being computed (LMCache's lookup on a GPU miss).
void EngineBatch::lower_tier_hits(int64_t prompt_tokens, std::span<const uint64_t> prefix,
                                  std::vector<KvFetch>& fetches) const {
  if (offload == nullptr || !blocks->shares_blocks()) return;
  const size_t full_blocks = std::min(prefix.size(), static_cast<size_t>(prompt_tokens / blocks->block_size()));
  for (size_t i = 0; i < full_blocks; ++i) {
    if (blocks->caches(prefix[i])) continue;
    if (const std::optional<KvTier> tier = offload->holder(prefix[i])) fetches.push_back(KvFetch{prefix[i], *tier});
  }
}

void EngineBatch::swap_out(SequenceGroup g) {
  ++preemptions;
  g.chunk = 0;
  g.decodes = false;
  moves.swap_out_bytes += blocks->swap_out(seqs_of(g)) * block_bytes();
  swapped.push_back(std::move(g));
}

void EngineBatch::recompute_later(SequenceGroup g) {
  ++preemptions;
  g.chunk = 0;
  g.decodes = false;
  blocks->free(g.first_seq);
  return_seq_ids(g);
  g.prompt = g.request.input_tokens + g.generated;
  g.computed = 0;
  g.resident = 0;
  waiting.push_front(std::move(g));
}

bool EngineBatch::may_count(const SequenceGroup& g) const {
  if (g.shadow || !prefill_done(g) || g.sequences != 1 || g.holds_blocks) return false;
  const int64_t block_size = params.block_size;
  return blocks->blocks_held(g.first_seq) == (g.tokens + block_size - 1) / block_size &&
         blocks->blocks_to_append(g.first_seq) == (g.tokens % block_size == 0 ? 1 : 0);
}

void EngineBatch::join_counted(uint32_t slot) {
  SequenceGroup& g = slots[slot];
  g.counted = true;
  g.base = counted.clock();
  counted.join(g.tokens, g.request.output_tokens - g.generated, slot);
}

void EngineBatch::store_counted(SequenceGroup& g) {
  const int64_t missing = tokens_now(g) - blocks->tokens(g.first_seq);
  if (missing == 0) return;
  const int64_t held = blocks->blocks_held(g.first_seq);
  blocks->append(g.first_seq, missing);
  counted.stored(missing, blocks->blocks_held(g.first_seq) - held);
}

void EngineBatch::store_counted() {
  for (size_t i = 0; i < static_cast<size_t>(counted.members()); ++i) store_counted(slots[running[i]]);
}

void EngineBatch::leave_counted(SequenceGroup& g) {
  store_counted(g);
  counted.leave(g.tokens, g.base);
  g.generated = generated_now(g);
  g.tokens += counted.clock() - g.base;
  g.counted = false;
}

void EngineBatch::leave_counted() {
  if (counted.members() == 0) return;
  if (counted.stepping()) throw std::logic_error("an engine left counted decoding while stepping");
  const auto members = static_cast<size_t>(counted.members());
  for (size_t i = 0; i < members; ++i) leave_counted(slots[running[i]]);
  counted.all_left();
}

bool EngineBatch::try_counted_decode(int64_t& token_budget) {
  if (running.empty() || !swapped.empty() || !blocks->shares_blocks()) return false;
  int64_t opened = counted.blocks_opened(counted.clock());
  for (size_t i = static_cast<size_t>(counted.members()); i < running.size(); ++i) {
    const SequenceGroup& g = slots[running[i]];
    if (!may_count(g)) return false;
    opened += blocks->blocks_to_append(g.first_seq);
  }
  if (opened > free_blocks()) return false;
  for (size_t i = static_cast<size_t>(counted.members()); i < running.size(); ++i) join_counted(running[i]);
  const int64_t context_tokens = counted.begin_step(opened);
  token_budget -= counted.members();
  shape.decode_sequences += counted.members();
  shape.decode_context_tokens += context_tokens;
  return true;
}

}  // namespace slsim
