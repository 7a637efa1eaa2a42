#pragma once
// An engine's running totals for the metrics: steps, tokens, preemptions, swapped bytes, busy
// time, prefix-cache lookups, and the time integrals of its KV cache (tokens stored, slots allocated, slots the same
// sequences would hold without sharing) over every step, a fast-forwarded run's steps each
// with its own time and its own shape.

#include <array>
#include <cstdint>

#include "sim/core/time.h"
#include "sim/engine/kv_offload.h"

namespace slsim {

// Prompts looked up in an engine's prefix cache: each request's prompt tokens when it is first
// admitted, and the tokens of its full blocks found cached (what it need not compute), by the
// tier that held them: the GPU's cache, or a tier below it whose bytes the step fetched.
struct PrefixLookups {
  int64_t prompt_tokens = 0;
  std::array<int64_t, kKvTierCount> hit_tokens{};  // by KvTier

  int64_t& hits(KvTier tier) { return hit_tokens[static_cast<size_t>(tier)]; }
  int64_t hits(KvTier tier) const { return hit_tokens[static_cast<size_t>(tier)]; }
  PrefixLookups& operator+=(const PrefixLookups& other) {
    prompt_tokens += other.prompt_tokens;
    for (size_t t = 0; t < kKvTierCount; ++t) hit_tokens[t] += other.hit_tokens[t];
    return *this;
  }
};

struct EngineStats {
  int64_t steps = 0;
  int64_t generated_tokens = 0;  // output tokens, every sequence counted
  int64_t prefilled_tokens = 0;  // prompt tokens computed, recomputation included
  int64_t preemptions = 0;
  int64_t swapped_bytes = 0;  // out and in
  double busy_s = 0;
  PrefixLookups prefix_lookups;  // the GPU prefix cache's
  // Time integrals over steps: tokens stored, slots allocated (blocks × block size), and the
  // slots the same sequences would hold without sharing.
  double stored_token_s = 0;
  double allocated_token_s = 0;
  double unshared_token_s = 0;
};

class StepStatistics {
 public:
  explicit StepStatistics(int64_t block_size) : block_size_(static_cast<double>(block_size)) {}

  // The KV cache as a step (or a run of decode steps) begins: its first step's shape. Each
  // later step of the run holds `decode_sequences` more tokens.
  void begin_run(int64_t decode_sequences, int64_t stored_tokens, int64_t allocated_blocks, int64_t unshared_blocks) {
    decode_sequences_ = decode_sequences;
    stored_tokens_ = stored_tokens;
    allocated_blocks_ = allocated_blocks;
    unshared_blocks_ = unshared_blocks;
  }
  // Adds the run's first `steps` steps, step k taking step_times[k]; for k = 1, 2, ... in turn,
  // blocks_opened() gives the blocks step k opens, each held alone. Returns the blocks its later
  // steps opened.
  template <class BlocksOpened>
  int64_t add_run(const Time* step_times, int64_t steps, BlocksOpened&& blocks_opened);

  void count_generated(int64_t tokens) { totals_.generated_tokens += tokens; }
  void count_prefilled(int64_t tokens) { totals_.prefilled_tokens += tokens; }
  void count_preemptions(int64_t preemptions) { totals_.preemptions += preemptions; }
  void count_swapped(int64_t bytes) { totals_.swapped_bytes += bytes; }
  void count_prefix_lookups(const PrefixLookups& lookups) { totals_.prefix_lookups += lookups; }
  const EngineStats& totals() const { return totals_; }

 private:
  double block_size_;
  int64_t decode_sequences_ = 0;
  int64_t stored_tokens_ = 0;
  int64_t allocated_blocks_ = 0;
  int64_t unshared_blocks_ = 0;
  EngineStats totals_;
};

// Summed in locals, step by step in the same order, so that the loop keeps them in registers;
// each product is the one stepping one by one computes: token and block counts are integers
// far below 2^53, so counting them as doubles is exact, and (allocated + opened) × block size
// changes only at a step that opens blocks.
template <class BlocksOpened>
int64_t StepStatistics::add_run(const Time* step_times, int64_t steps, BlocksOpened&& blocks_opened) {
  const auto allocated = static_cast<double>(allocated_blocks_);
  const auto unshared = static_cast<double>(unshared_blocks_);
  const auto decode_sequences = static_cast<double>(decode_sequences_);
  double busy_s = totals_.busy_s;
  double stored_token_s = totals_.stored_token_s;
  double allocated_token_s = totals_.allocated_token_s;
  double unshared_token_s = totals_.unshared_token_s;
  double stored_tokens = static_cast<double>(stored_tokens_);
  double allocated_slots = allocated * block_size_;
  double unshared_slots = unshared * block_size_;
  const auto add_step = [&](int64_t k) {
    const double seconds = step_times[k].seconds();
    busy_s += seconds;
    stored_token_s += stored_tokens * seconds;
    stored_tokens += decode_sequences;
    allocated_token_s += allocated_slots * seconds;
    unshared_token_s += unshared_slots * seconds;
  };
  add_step(0);
  int64_t opened = 0;
  for (int64_t k = 1; k < steps; ++k) {
    if (const int64_t now = blocks_opened(); now != 0) {
      opened += now;
      allocated_slots = (allocated + static_cast<double>(opened)) * block_size_;
      unshared_slots = (unshared + static_cast<double>(opened)) * block_size_;
    }
    add_step(k);
  }
  totals_.steps += steps;
  totals_.busy_s = busy_s;
  totals_.stored_token_s = stored_token_s;
  totals_.allocated_token_s = allocated_token_s;
  totals_.unshared_token_s = unshared_token_s;
  return opened;
}

}  // namespace slsim
