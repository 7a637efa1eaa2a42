#pragma once
// The KV cache of one instance as fixed-size blocks (PagedAttention). Each sequence has a
// block table; a block may be shared by several sequences (parallel samples, beams, cached
// prompt prefixes) and carries a reference count. Writing into a shared partial block copies
// it first (copy-on-write). Two allocators share this mechanism and differ in when blocks are
// taken:
//   paged       blocks are taken as tokens arrive, one at a time (vLLM);
//   contiguous  a sequence reserves blocks for its maximum length at once and shares nothing
//               (the pre-vLLM systems that reserve a contiguous region per request).
//
// Anonymous blocks. A block's identity matters only where it is shared: cached prompt
// prefixes, forks and the copy-on-write of a shared partial block; nothing outside this class
// sees a block id. So a table is a run of materialized blocks (ids, each with a reference
// count, a fill and a cached prefix id) followed by a count of anonymous blocks the sequence
// holds alone, which have no id and no per-block state: taking, filling and freeing them is
// arithmetic on counts. (Taking and freeing ~30 blocks per request one id at a time, at
// scattered ids, was 45% of a 1,000-GPU replay.) Prefix-cache hits and newly cached prompt
// blocks are materialized at admission; a paged fork materializes the parent's anonymous
// blocks, which become shared; a copy-on-write copy and every block opened by an append are
// anonymous. The contiguous allocator shares nothing, so its tables are all anonymous.
//
// Prefix retention. A cached prompt block whose last sequence frees it is forgotten at once
// (`while_referenced`, vLLM v0) or retained (`lru`, vLLM v1's evictor): it stays cached, counts
// as free, and is evicted, least recently freed first, only when a block is taken and no
// unused one is left. A hit on a retained block takes it back out of the free count.
//
// Invariants (checked by audit()): every materialized block is either free, retained (cached,
// unreferenced, empty) or referenced by exactly as many sequence tables as its reference count
// says; anonymous blocks follow the
// materialized ones, and a table holding any has only full materialized blocks, so its
// anonymous blocks store tokens - materialized x block_size tokens, filled from the first;
// used blocks (materialized plus anonymous) never exceed the total; a paged sequence holds
// exactly ceil(tokens / block_size) blocks; stored_tokens() is the sum of the filled slots of
// the blocks in use, each block counted once however many share it.
//
// Sequence ids index a table directly (no hashing, and a freed table keeps its capacity for
// the next sequence), so callers keep them small and dense: the engine reuses the ids of
// sequences it has freed.

#include <algorithm>
#include <cstdint>
#include <list>
#include <memory>
#include <span>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "sim/engine/kv_offload.h"

namespace slsim {

using SeqId = uint64_t;

enum class KvAllocatorKind : uint8_t { paged, contiguous };
enum class PrefixRetention : uint8_t { while_referenced, lru };

class BlockManager {
 public:
  BlockManager(int64_t total_blocks, int64_t block_size_tokens,
               PrefixRetention retention = PrefixRetention::while_referenced);
  virtual ~BlockManager() = default;
  BlockManager(const BlockManager&) = delete;
  BlockManager& operator=(const BlockManager&) = delete;

  // New blocks that admitting a prompt takes; cached prefix blocks it reuses are not counted.
  int64_t blocks_to_admit(int64_t prompt_tokens, int64_t max_tokens, std::span<const uint64_t> prefix) const;
  // Gives `seq` blocks for `prompt_tokens` (its prefix blocks from the cache where present).
  void admit(SeqId seq, int64_t prompt_tokens, int64_t max_tokens, std::span<const uint64_t> prefix);
  // New blocks that storing one more token of `seq` takes (a fresh block, or a copy of a
  // shared partial one).
  int64_t blocks_to_append(SeqId seq) const {
    const Table& t = table(seq);
    if (t.tokens >= first_anonymous_token(t)) return t.tokens < held_tokens(t) ? 0 : 1;
    return blocks_[t.blocks[static_cast<size_t>(t.tokens / block_size_)]].refcount > 1 ? 1 : 0;
  }
  void append(SeqId seq) {
    if (!append_in_place(seq)) append_into_new_block(seq);
  }
  // append() when the token goes into a block the sequence holds alone (the common case, once
  // per generated token, so inline); false, with nothing changed, when it would take a block.
  bool append_in_place(SeqId seq) {
    Table& t = table(seq);
    if (t.tokens >= first_anonymous_token(t)) {
      if (t.tokens >= held_tokens(t)) return false;
    } else {
      Block& last = blocks_[t.blocks[static_cast<size_t>(t.tokens / block_size_)]];
      if (last.refcount != 1) return false;
      ++last.fill;
    }
    ++stored_tokens_;
    ++t.tokens;
    return true;
  }
  // `tokens` appends at once: the blocks taken and filled are those of as many append() calls.
  void append(SeqId seq, int64_t tokens);
  // `child` starts as a copy of `parent`: the same blocks, shared where the allocator shares.
  int64_t blocks_to_fork(SeqId parent) const;
  void fork(SeqId parent, SeqId child);
  void free(SeqId seq);

  // Moves the sequences' blocks to host memory (each distinct block once) and returns how many
  // blocks moved; swap_in brings them back into fresh blocks, keeping their sharing.
  int64_t swap_out(std::span<const SeqId> seqs);
  int64_t blocks_to_swap_in(std::span<const SeqId> seqs) const;
  void swap_in(std::span<const SeqId> seqs);

  int64_t total_blocks() const { return total_blocks_; }
  // A new capacity (an elastic KV pool lending blocks, kv_pool.h): at least the blocks in use;
  // retained prefix blocks beyond it are evicted, least recently freed first.
  void set_total_blocks(int64_t blocks);
  // Retained prefix blocks count as free: taking a block evicts one when no other is left.
  int64_t free_blocks() const { return unused_blocks() + static_cast<int64_t>(retained_.size()); }
  int64_t retained_blocks() const { return static_cast<int64_t>(retained_.size()); }
  int64_t used_blocks() const { return total_blocks_ - free_blocks(); }
  int64_t block_size() const { return block_size_; }
  int64_t stored_tokens() const { return stored_tokens_; }
  int64_t tokens(SeqId seq) const { return table(seq).tokens; }
  int64_t blocks_held(SeqId seq) const {
    const Table& t = table(seq);
    return static_cast<int64_t>(t.blocks.size()) + t.anonymous;
  }
  int64_t host_blocks() const { return host_blocks_; }
  bool holds(SeqId seq) const { return seq < tables_.size() && tables_[seq].live; }
  // Blocks of the prefix that are cached already and need no compute.
  int64_t cached_prefix_blocks(int64_t prompt_tokens, std::span<const uint64_t> prefix) const {
    return prefix_hits(prompt_tokens, prefix).cached;
  }
  // Whether the prefix cache holds the block named `prefix_block`.
  bool caches(uint64_t prefix_block) const { return prefix_cache_.contains(prefix_block); }
  // Each cached prompt block it forgets from now on (an lru eviction, or while_referenced's last
  // free) goes down to `offload`'s first tier; nullptr: it is dropped.
  void offload_evictions_to(KvOffload* offload) { offload_ = offload; }
  // Σ blocks held over resident sequences: what they would take if nothing were shared.
  int64_t unshared_blocks() const { return unshared_blocks_; }
  virtual bool shares_blocks() const = 0;

  // Recounts everything from the tables; throws std::logic_error naming the first violation.
  void audit() const;

 protected:
  // Blocks a sequence holds when it stores `tokens` and may grow to `max_tokens`.
  virtual int64_t blocks_for(int64_t tokens, int64_t max_tokens) const = 0;

  int64_t blocks_covering(int64_t tokens) const { return (tokens + block_size_ - 1) / block_size_; }

 private:
  struct PrefixHits {
    int64_t cached = 0;    // blocks found in the cache
    int64_t retained = 0;  // of those, blocks no sequence holds (counted as free until taken back)
  };
  PrefixHits prefix_hits(int64_t prompt_tokens, std::span<const uint64_t> prefix) const;
  // Blocks neither held nor retained.
  int64_t unused_blocks() const { return total_blocks_ - anonymous_blocks_ - materialized_blocks(); }
  // Evicts retained blocks, least recently freed first, until `blocks` are unused; called only by
  // take_block and take_anonymous.
  void make_room(int64_t blocks);
  // A retained block's first holder again.
  void take_back(int32_t id);

  // What every append reads comes first, within one cache line.
  struct Table {
    int64_t tokens = 0;
    int64_t anonymous = 0;        // blocks held alone after `blocks`, resident
    std::vector<int32_t> blocks;  // materialized
    bool live = false;
    int64_t max_tokens = 0;
    std::vector<int32_t> host_blocks;  // while swapped out: indices into host_
    int64_t host_anonymous = 0;        // while swapped out: the anonymous blocks moved to host
    bool swapped_out() const { return !host_blocks.empty() || host_anonymous > 0; }
  };
  struct Block {
    int32_t refcount = 0;
    int32_t fill = 0;
    uint64_t prefix_of = kNotCached;           // the prefix id the block is cached under
    std::list<int32_t>::iterator retained_at;  // its place in retained_, while retained
  };
  const Table& table(SeqId seq) const {
    if (!holds(seq)) throw_missing(seq);
    return tables_[seq];
  }
  Table& table(SeqId seq) { return const_cast<Table&>(std::as_const(*this).table(seq)); }
  [[noreturn]] static void throw_missing(SeqId seq);
  int64_t first_anonymous_token(const Table& t) const { return static_cast<int64_t>(t.blocks.size()) * block_size_; }
  int64_t held_tokens(const Table& t) const {
    return (static_cast<int64_t>(t.blocks.size()) + t.anonymous) * block_size_;
  }
  // Tokens in the anonymous blocks of a table holding `materialized` blocks (resident or not).
  int64_t anonymous_tokens(const Table& t, size_t materialized) const {
    return std::max<int64_t>(0, t.tokens - static_cast<int64_t>(materialized) * block_size_);
  }
  // append() when the token opens a block or writes into a shared one (copy-on-write).
  void append_into_new_block(SeqId seq);
  // The empty table of a sequence that holds nothing yet.
  Table& new_table(SeqId seq, const char* what);
  static constexpr uint64_t kNotCached = ~uint64_t{0};
  // The only two ways blocks leave the free pool, each evicting retained prefix blocks
  // (make_room) when no unused one is left, so no path can take a block past the lru retention.
  // A fresh materialized block, held once and empty.
  int32_t take_block();
  // `blocks` more anonymous blocks for the resident table `t`.
  void take_anonymous(Table& t, int64_t blocks);
  // Turns the anonymous blocks of a resident table into materialized ones (same fills).
  void materialize(Table& t);
  // Inline: a finished sequence drops each of its materialized blocks.
  void drop_reference(int32_t id) {
    Block& b = blocks_[id];
    if (--b.refcount > 0) return;
    stored_tokens_ -= b.fill;
    b.fill = 0;
    if (b.prefix_of != kNotCached) {
      if (retention_ == PrefixRetention::lru) {
        b.retained_at = retained_.insert(retained_.end(), id);
        return;
      }
      forget_prefix(id);
    }
    free_list_.push_back(id);
  }
  void forget_prefix(int32_t id);

  // Block ids 0 .. touched - 1 have been taken at least once; the rest are untouched, so an
  // instance's memory follows the materialized blocks it uses at once, not its capacity. A
  // block is taken from the freed ones (last freed first), then from the untouched ones in
  // order: block 0 first, so block ids are reproducible and readable in tests.
  int64_t touched_blocks() const { return static_cast<int64_t>(blocks_.size()); }
  int64_t materialized_blocks() const { return touched_blocks() - static_cast<int64_t>(free_list_.size()); }

  int64_t total_blocks_;
  int64_t block_size_;
  PrefixRetention retention_;
  std::list<int32_t> retained_;     // cached, unreferenced blocks, least recently freed first
  std::vector<int32_t> free_list_;  // freed materialized block ids
  std::vector<Block> blocks_;       // by block id
  int64_t anonymous_blocks_ = 0;    // Σ anonymous over resident tables
  std::unordered_map<uint64_t, int32_t> prefix_cache_;
  KvOffload* offload_ = nullptr;
  std::vector<Table> tables_;  // by sequence id
  int64_t stored_tokens_ = 0;
  int64_t unshared_blocks_ = 0;
  struct HostBlock {
    int64_t fill = 0;
    int64_t references = 0;
  };
  std::unordered_map<int32_t, HostBlock> host_;  // materialized, by host block index, while swapped out
  int64_t host_blocks_ = 0;                      // host_.size() + Σ host_anonymous
  int32_t next_host_block_ = 0;
};

class PagedBlockManager final : public BlockManager {
 public:
  using BlockManager::BlockManager;

 protected:
  int64_t blocks_for(int64_t tokens, int64_t) const override { return blocks_covering(tokens); }

 public:
  bool shares_blocks() const override { return true; }
};

class ContiguousBlockManager final : public BlockManager {
 public:
  using BlockManager::BlockManager;

 protected:
  int64_t blocks_for(int64_t, int64_t max_tokens) const override { return blocks_covering(max_tokens); }

 public:
  bool shares_blocks() const override { return false; }
};

std::unique_ptr<BlockManager> make_block_manager(KvAllocatorKind kind, int64_t total_blocks, int64_t block_size_tokens,
                                                 PrefixRetention retention = PrefixRetention::while_referenced);

}  // namespace slsim
