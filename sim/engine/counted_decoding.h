#pragma once
// Plain decoding counted rather than stepped per request. A member is a running request with
// one sequence whose next tokens go into blocks it holds alone; while it decodes, an
// engine-wide step counter (the clock) stands for its tokens: it has its count when it joined
// plus the decode steps since. This class keeps what a decode step of every member needs in
// O(1): the members' Σ context tokens, the blocks each step opens (from how many members sit
// at each offset, their phase, within a block), the tokens and blocks counted but not yet put
// in the block manager, and the heap of the clocks at which members finish.
//
// Invariants: phase_counts_ sums to members_; finishes_ holds one entry per member; a member
// that joined at clock `base` with `tokens` writes token tokens + (c - base) + 1 at the step that
// begins at clock c, opening a block where that lands on a block boundary.

#include <cstdint>
#include <functional>
#include <queue>
#include <utility>
#include <vector>

namespace slsim {

class CountedDecoding {
 public:
  explicit CountedDecoding(int64_t block_size);

  int64_t clock() const { return clock_; }     // decode steps the members have finished
  bool stepping() const { return stepping_; }  // the step in progress decodes the members
  int64_t members() const { return members_; }
  int64_t unstored_tokens() const { return unstored_tokens_; }  // counted, not yet in the block manager
  int64_t unstored_blocks() const { return unstored_blocks_; }  // the blocks those take

  // Where a member with `tokens` at clock `base` writes within its block.
  int64_t phase(int64_t tokens, int64_t base) const { return floor_mod(tokens - base, block_size_); }
  // A request in `slot` with `tokens` in its sequence and `remaining` tokens to generate joins
  // at the current clock (its base).
  void join(int64_t tokens, int64_t remaining, uint32_t slot);
  // A member that joined with `tokens` at `base` leaves (its heap entry stays until all_left()
  // or its finish is popped).
  void leave(int64_t tokens, int64_t base);
  // Every member has left: drops the heap; throws std::logic_error if counted tokens were lost.
  void all_left();
  // `tokens` counted tokens, taking `blocks` blocks, went into the block manager.
  void stored(int64_t tokens, int64_t blocks) {
    unstored_tokens_ -= tokens;
    unstored_blocks_ -= blocks;
  }

  // Blocks the members open at the step that begins at `clock`, and at the steps that begin
  // at from_clock .. to_clock - 1.
  int64_t blocks_opened(int64_t clock) const { return phase_counts_[phase_at(clock)]; }
  int64_t blocks_opened(int64_t from_clock, int64_t to_clock) const;

  // A decode step of every member begins; it opens `opened` blocks in all. Returns the members'
  // Σ context tokens in it.
  int64_t begin_step(int64_t opened);
  // Steps from this one up to the first member's finish, as long as the blocks the later ones
  // open fit in `free_blocks`.
  int64_t run_length(int64_t free_blocks) const;
  // The blocks the run's later steps open: next() gives those step k opens for k = 1, 2, ... in
  // turn (stepping through the phases without a division per step).
  class RunBlocks {
   public:
    RunBlocks(const int64_t* phase_counts, size_t block_size, size_t phase)
        : phase_counts_(phase_counts), last_phase_(block_size - 1), phase_(phase) {}
    int64_t next() {
      phase_ = phase_ == 0 ? last_phase_ : phase_ - 1;
      return phase_counts_[phase_];
    }

   private:
    const int64_t* phase_counts_;
    size_t last_phase_;
    size_t phase_;
  };
  RunBlocks run_blocks() const {
    return RunBlocks(phase_counts_.data(), phase_counts_.size(), phase_at(run_start_clock_));
  }
  // The run ends after `steps` steps whose later ones opened `later_blocks`: the clock advances;
  // appends the slots of the members done to `done` (in no particular order).
  void finish_run(int64_t steps, int64_t later_blocks, std::vector<uint32_t>& done);

  // Throws std::logic_error unless the counts equal these, recounted from the members.
  void audit(int64_t unstored_tokens, int64_t unstored_blocks, int64_t context_offset,
             const std::vector<int64_t>& phase_counts) const;

 private:
  static int64_t floor_mod(int64_t a, int64_t b) { return ((a % b) + b) % b; }
  // The phase whose members open a block at the step that begins at `clock`; the next step's
  // is the previous phase.
  size_t phase_at(int64_t clock) const { return static_cast<size_t>(floor_mod(-clock, block_size_)); }
  size_t previous_phase(size_t phase) const { return phase == 0 ? static_cast<size_t>(block_size_) - 1 : phase - 1; }

  int64_t block_size_;
  int64_t clock_ = 0;
  bool stepping_ = false;
  int64_t run_start_clock_ = 0;
  int64_t members_ = 0;
  int64_t context_offset_ = 0;  // Σ (tokens - base) over members
  int64_t unstored_tokens_ = 0;
  int64_t unstored_blocks_ = 0;
  std::vector<int64_t> phase_counts_;  // members by phase
  // (clock at which it has generated all its tokens, slot) of each member, soonest first.
  std::priority_queue<std::pair<int64_t, uint32_t>, std::vector<std::pair<int64_t, uint32_t>>, std::greater<>>
      finishes_;
};

}  // namespace slsim
