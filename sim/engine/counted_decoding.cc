#include "sim/engine/counted_decoding.h"

#include <fmt/format.h>

#include <algorithm>
#include <stdexcept>

namespace slsim {

CountedDecoding::CountedDecoding(int64_t block_size)
    : block_size_(block_size), phase_counts_(static_cast<size_t>(block_size), 0) {}

void CountedDecoding::join(int64_t tokens, int64_t remaining, uint32_t slot) {
  ++members_;
  context_offset_ += tokens - clock_;
  ++phase_counts_[static_cast<size_t>(phase(tokens, clock_))];
  finishes_.emplace(clock_ + remaining, slot);
}

void CountedDecoding::leave(int64_t tokens, int64_t base) {
  --phase_counts_[static_cast<size_t>(phase(tokens, base))];
  context_offset_ -= tokens - base;
  --members_;
}

void CountedDecoding::all_left() {
  finishes_ = {};
  if (members_ != 0 || unstored_tokens_ != 0 || unstored_blocks_ != 0)
    throw std::logic_error("an engine lost track of counted tokens");
}

int64_t CountedDecoding::blocks_opened(int64_t from_clock, int64_t to_clock) const {
  // Every block_size consecutive steps open one block per member.
  const int64_t cycles = (to_clock - from_clock) / block_size_;
  int64_t opened = cycles * members_;
  int64_t clock = from_clock + cycles * block_size_;
  for (size_t phase = phase_at(clock); clock < to_clock; ++clock, phase = previous_phase(phase))
    opened += phase_counts_[phase];
  return opened;
}

int64_t CountedDecoding::begin_step(int64_t opened) {
  stepping_ = true;
  run_start_clock_ = clock_;
  unstored_tokens_ += members_;
  unstored_blocks_ += opened;
  return context_offset_ + members_ * (clock_ + 1);
}

// The first member to finish bounds the run, and step k opens the blocks of the members whose
// phase it reaches. finish_run() counts the blocks of the steps that ran, so a run cut short
// costs only those.
int64_t CountedDecoding::run_length(int64_t free_blocks) const {
  const int64_t steps = std::max<int64_t>(finishes_.top().first - run_start_clock_, 1);
  if (blocks_opened(run_start_clock_ + 1, run_start_clock_ + steps) <= free_blocks) return steps;
  int64_t taken = 0;
  for (int64_t k = 1; k < steps; ++k) {
    taken += blocks_opened(run_start_clock_ + k);
    if (taken > free_blocks) return k;
  }
  return steps;
}

void CountedDecoding::finish_run(int64_t steps, int64_t later_blocks, std::vector<uint32_t>& done) {
  stepping_ = false;
  clock_ += steps;
  unstored_tokens_ += (steps - 1) * members_;
  unstored_blocks_ += later_blocks;
  while (!finishes_.empty() && finishes_.top().first <= clock_) {
    done.push_back(finishes_.top().second);
    finishes_.pop();
  }
}

void CountedDecoding::audit(int64_t unstored_tokens, int64_t unstored_blocks, int64_t context_offset,
                            const std::vector<int64_t>& phase_counts) const {
  if (unstored_tokens != unstored_tokens_ || unstored_blocks != unstored_blocks_ || context_offset != context_offset_ ||
      phase_counts != phase_counts_ || static_cast<int64_t>(finishes_.size()) != members_)
    throw std::logic_error(fmt::format("engine: {} counted tokens in {} blocks, recounted {} in {}", unstored_tokens_,
                                       unstored_blocks_, unstored_tokens, unstored_blocks));
}

}  // namespace slsim
