#include "sim/engine/block_manager.h"

#include <fmt/format.h>

#include <algorithm>
#include <stdexcept>

#include "sim/core/errors.h"

namespace slsim {

std::unique_ptr<BlockManager> make_block_manager(KvAllocatorKind kind, int64_t total_blocks, int64_t block_size_tokens,
                                                 PrefixRetention retention) {
  if (kind == KvAllocatorKind::contiguous)
    return std::make_unique<ContiguousBlockManager>(total_blocks, block_size_tokens, retention);
  return std::make_unique<PagedBlockManager>(total_blocks, block_size_tokens, retention);
}

BlockManager::BlockManager(int64_t total_blocks, int64_t block_size_tokens, PrefixRetention retention)
    : total_blocks_(total_blocks), block_size_(block_size_tokens), retention_(retention) {
  if (total_blocks < 0 || total_blocks > INT32_MAX || block_size_tokens < 1)
    throw std::invalid_argument("a block manager needs 0..2^31 blocks of at least one token");
}

void BlockManager::throw_missing(SeqId seq) { throw std::logic_error(fmt::format("sequence {} holds no blocks", seq)); }

BlockManager::Table& BlockManager::new_table(SeqId seq, const char* what) {
  if (holds(seq)) throw std::logic_error(what);
  if (seq >= tables_.size()) tables_.resize(seq + 1);
  Table& t = tables_[seq];
  t.blocks.clear();
  t.anonymous = 0;
  t.host_blocks.clear();
  t.host_anonymous = 0;
  t.tokens = 0;
  t.max_tokens = 0;
  t.live = true;
  return t;
}

void BlockManager::make_room(int64_t blocks) {
  while (unused_blocks() < blocks && !retained_.empty()) {
    const int32_t id = retained_.front();
    retained_.pop_front();
    forget_prefix(id);
    free_list_.push_back(id);
  }
}

void BlockManager::set_total_blocks(int64_t blocks) {
  if (blocks < used_blocks() || blocks > INT32_MAX)
    throw std::logic_error(fmt::format("a KV cache of {} blocks in use was given {}", used_blocks(), blocks));
  total_blocks_ = blocks;
  make_room(0);
}

void BlockManager::take_back(int32_t id) {
  retained_.erase(blocks_[id].retained_at);
  blocks_[id].fill = static_cast<int32_t>(block_size_);
  stored_tokens_ += block_size_;
}

void BlockManager::take_anonymous(Table& t, int64_t blocks) {
  if (blocks > free_blocks()) throw std::logic_error("the KV cache ran out of blocks; the engine must check first");
  make_room(blocks);
  t.anonymous += blocks;
  anonymous_blocks_ += blocks;
}

int32_t BlockManager::take_block() {
  if (free_blocks() <= 0) throw std::logic_error("the KV cache ran out of blocks; the engine must check first");
  make_room(1);
  int32_t id = 0;
  if (!free_list_.empty()) {
    id = free_list_.back();
    free_list_.pop_back();
  } else {
    id = static_cast<int32_t>(touched_blocks());
    blocks_.emplace_back();
  }
  blocks_[id].refcount = 1;
  blocks_[id].fill = 0;
  return id;
}

void BlockManager::materialize(Table& t) {
  const int64_t anonymous = t.anonymous;
  int64_t tokens_left = anonymous_tokens(t, t.blocks.size());
  anonymous_blocks_ -= anonymous;
  t.anonymous = 0;
  for (int64_t i = 0; i < anonymous; ++i) {
    const int32_t id = take_block();
    blocks_[id].fill = static_cast<int32_t>(std::min(tokens_left, block_size_));
    tokens_left -= blocks_[id].fill;
    t.blocks.push_back(id);
  }
}

void BlockManager::forget_prefix(int32_t id) {
  if (offload_) offload_->evicted(blocks_[id].prefix_of);
  prefix_cache_.erase(blocks_[id].prefix_of);
  blocks_[id].prefix_of = kNotCached;
}

BlockManager::PrefixHits BlockManager::prefix_hits(int64_t prompt_tokens, std::span<const uint64_t> prefix) const {
  PrefixHits hits;
  if (!shares_blocks()) return hits;
  const auto full_blocks = static_cast<size_t>(prompt_tokens / block_size_);
  for (size_t i = 0; i < std::min(prefix.size(), full_blocks); ++i) {
    const auto it = prefix_cache_.find(prefix[i]);
    if (it == prefix_cache_.end()) continue;
    ++hits.cached;
    if (blocks_[it->second].refcount == 0) ++hits.retained;
  }
  return hits;
}

int64_t BlockManager::blocks_to_admit(int64_t prompt_tokens, int64_t max_tokens,
                                      std::span<const uint64_t> prefix) const {
  const PrefixHits hits = prefix_hits(prompt_tokens, prefix);
  return blocks_for(prompt_tokens, max_tokens) - hits.cached + hits.retained;
}

void BlockManager::admit(SeqId seq, int64_t prompt_tokens, int64_t max_tokens, std::span<const uint64_t> prefix) {
  if (blocks_to_admit(prompt_tokens, max_tokens, prefix) > free_blocks())
    throw std::logic_error("a sequence was admitted without room for its prompt");
  Table& t = new_table(seq, "a sequence was admitted twice");
  t.tokens = prompt_tokens;
  t.max_tokens = max_tokens;
  const auto count = static_cast<size_t>(blocks_for(prompt_tokens, max_tokens));
  // Only the full prompt blocks under a prefix id are materialized: the cache shares them.
  const size_t cacheable =
      shares_blocks() ? std::min(prefix.size(), static_cast<size_t>(prompt_tokens / block_size_)) : 0;
  t.blocks.reserve(cacheable);
  // Retained hits are taken back first, so that taking new blocks below cannot evict them.
  for (size_t i = 0; i < cacheable; ++i)
    if (const auto it = prefix_cache_.find(prefix[i]); it != prefix_cache_.end() && blocks_[it->second].refcount == 0)
      take_back(it->second);
  for (size_t i = 0; i < cacheable; ++i) {
    if (const auto it = prefix_cache_.find(prefix[i]); it != prefix_cache_.end()) {
      ++blocks_[it->second].refcount;
      t.blocks.push_back(it->second);
      continue;
    }
    const int32_t id = take_block();
    blocks_[id].fill = static_cast<int32_t>(block_size_);
    blocks_[id].prefix_of = prefix[i];
    stored_tokens_ += block_size_;
    prefix_cache_.emplace(prefix[i], id);
    t.blocks.push_back(id);
  }
  take_anonymous(t, static_cast<int64_t>(count - cacheable));
  stored_tokens_ += anonymous_tokens(t, cacheable);
  unshared_blocks_ += static_cast<int64_t>(count);
}

void BlockManager::append_into_new_block(SeqId seq) {
  Table& t = table(seq);
  if (t.swapped_out()) throw std::logic_error("a swapped-out sequence was appended to");
  if (t.tokens >= first_anonymous_token(t)) {
    take_anonymous(t, 1);
    ++unshared_blocks_;
  } else {
    // Copy-on-write of the shared partial last block: the other holders keep the original,
    // this sequence writes into an anonymous copy of it (its other blocks are all full).
    if (free_blocks() <= 0) throw std::logic_error("the KV cache ran out of blocks; the engine must check first");
    drop_reference(t.blocks.back());
    t.blocks.pop_back();
    take_anonymous(t, 1);
    stored_tokens_ += anonymous_tokens(t, t.blocks.size());
  }
  ++stored_tokens_;
  ++t.tokens;
}

void BlockManager::append(SeqId seq, int64_t tokens) {
  if (tokens <= 0) return;
  append(seq);  // the first token may copy a shared block on write; the rest go into its own
  Table& t = table(seq);
  int64_t left = tokens - 1;
  if (t.tokens < first_anonymous_token(t)) {
    // The last block is materialized, held alone and partial: fill it first.
    const int64_t added = std::min(left, first_anonymous_token(t) - t.tokens);
    blocks_[t.blocks.back()].fill += static_cast<int32_t>(added);
    stored_tokens_ += added;
    t.tokens += added;
    left -= added;
  }
  if (left == 0) return;
  const int64_t opened =
      std::max<int64_t>(0, blocks_covering(t.tokens + left - first_anonymous_token(t)) - t.anonymous);
  take_anonymous(t, opened);
  unshared_blocks_ += opened;
  stored_tokens_ += left;
  t.tokens += left;
}

int64_t BlockManager::blocks_to_fork(SeqId parent) const { return shares_blocks() ? 0 : blocks_held(parent); }

void BlockManager::fork(SeqId parent, SeqId child) {
  if (blocks_to_fork(parent) > free_blocks()) throw std::logic_error("a sequence was forked without room");
  if (table(parent).swapped_out()) throw std::logic_error("a swapped-out sequence was forked");
  Table& copy = new_table(child, "a sequence was forked onto an existing one");
  Table& from = tables_[parent];  // after new_table, which may move the tables
  if (shares_blocks()) {
    materialize(from);
    for (const int32_t id : from.blocks) ++blocks_[id].refcount;
    copy.blocks = from.blocks;
  } else {
    // Shares nothing, so holds no materialized block: the child gets its own anonymous copies.
    take_anonymous(copy, from.anonymous);
    stored_tokens_ += anonymous_tokens(from, 0);
  }
  copy.tokens = from.tokens;
  copy.max_tokens = from.max_tokens;
  unshared_blocks_ += static_cast<int64_t>(copy.blocks.size()) + copy.anonymous;
}

void BlockManager::free(SeqId seq) {
  if (!holds(seq)) throw std::logic_error("a sequence without blocks was freed");
  Table& t = tables_[seq];
  // Retained blocks are freed last block first, as vLLM v1 does: a prompt's tail is evicted
  // before its head, which more prompts share.
  if (retention_ == PrefixRetention::lru) {
    for (auto it = t.blocks.rbegin(); it != t.blocks.rend(); ++it) drop_reference(*it);
  } else {
    for (const int32_t id : t.blocks) drop_reference(id);
  }
  unshared_blocks_ -= static_cast<int64_t>(t.blocks.size()) + t.anonymous;
  if (t.anonymous > 0) stored_tokens_ -= anonymous_tokens(t, t.blocks.size());
  anonymous_blocks_ -= t.anonymous;
  for (const int32_t h : t.host_blocks) {
    if (--host_[h].references == 0) {
      host_.erase(h);
      --host_blocks_;
    }
  }
  host_blocks_ -= t.host_anonymous;
  t.blocks.clear();
  t.anonymous = 0;
  t.host_blocks.clear();
  t.host_anonymous = 0;
  t.live = false;
}

int64_t BlockManager::swap_out(std::span<const SeqId> seqs) {
  std::unordered_map<int32_t, int32_t> host_of;
  int64_t anonymous = 0;
  for (const SeqId seq : seqs) {
    Table& t = table(seq);
    for (const int32_t id : t.blocks) {
      auto [it, inserted] = host_of.emplace(id, next_host_block_);
      if (inserted) host_[next_host_block_++] = HostBlock{blocks_[id].fill, 0};
      ++host_[it->second].references;
      t.host_blocks.push_back(it->second);
    }
  }
  for (const SeqId seq : seqs) {
    Table& t = table(seq);
    for (const int32_t id : t.blocks) drop_reference(id);
    unshared_blocks_ -= static_cast<int64_t>(t.blocks.size()) + t.anonymous;
    if (t.anonymous > 0) stored_tokens_ -= anonymous_tokens(t, t.blocks.size());
    anonymous_blocks_ -= t.anonymous;
    t.host_anonymous += t.anonymous;
    anonymous += t.anonymous;
    t.anonymous = 0;
    t.blocks.clear();
  }
  const int64_t moved = static_cast<int64_t>(host_of.size()) + anonymous;
  host_blocks_ += moved;
  return moved;
}

int64_t BlockManager::blocks_to_swap_in(std::span<const SeqId> seqs) const {
  std::vector<int32_t> distinct;
  int64_t anonymous = 0;
  for (const SeqId seq : seqs) {
    const Table& t = table(seq);
    distinct.insert(distinct.end(), t.host_blocks.begin(), t.host_blocks.end());
    anonymous += t.host_anonymous;
  }
  std::sort(distinct.begin(), distinct.end());
  return (std::unique(distinct.begin(), distinct.end()) - distinct.begin()) + anonymous;
}

void BlockManager::swap_in(std::span<const SeqId> seqs) {
  if (blocks_to_swap_in(seqs) > free_blocks()) throw std::logic_error("a swap-in without room");
  std::unordered_map<int32_t, int32_t> gpu_of;
  for (const SeqId seq : seqs) {
    Table& t = table(seq);
    for (const int32_t h : t.host_blocks) {
      auto [it, inserted] = gpu_of.emplace(h, 0);
      if (inserted) {
        it->second = take_block();
        blocks_[it->second].fill = static_cast<int32_t>(host_[h].fill);
        stored_tokens_ += host_[h].fill;
      } else {
        ++blocks_[it->second].refcount;
      }
      t.blocks.push_back(it->second);
      if (--host_[h].references == 0) {
        host_.erase(h);
        --host_blocks_;
      }
    }
    take_anonymous(t, t.host_anonymous);
    host_blocks_ -= t.host_anonymous;
    t.host_anonymous = 0;
    if (t.anonymous > 0) stored_tokens_ += anonymous_tokens(t, t.blocks.size());
    unshared_blocks_ += static_cast<int64_t>(t.blocks.size()) + t.anonymous;
    t.host_blocks.clear();
  }
}

void BlockManager::audit() const {
  auto fail = [](const std::string& what) { throw std::logic_error("block accounting: " + what); };
  const int64_t touched = touched_blocks();
  std::vector<int32_t> references(static_cast<size_t>(touched), 0);
  int64_t unshared = 0;
  int64_t anonymous = 0;
  int64_t host_anonymous = 0;
  int64_t stored = 0;
  for (SeqId seq = 0; seq < tables_.size(); ++seq) {
    const Table& t = tables_[seq];
    if (!t.live) continue;
    const auto materialized = static_cast<int64_t>(t.blocks.size());
    if (t.anonymous < 0 || t.host_anonymous < 0) fail(fmt::format("sequence {} holds a negative block count", seq));
    if (t.swapped_out() && (materialized > 0 || t.anonymous > 0))
      fail(fmt::format("sequence {} is swapped out but holds blocks", seq));
    if (!shares_blocks() && (materialized > 0 || !t.host_blocks.empty()))
      fail(fmt::format("sequence {} holds materialized blocks in a manager that shares none", seq));
    unshared += materialized + t.anonymous;
    anonymous += t.anonymous;
    host_anonymous += t.host_anonymous;
    for (const int32_t b : t.blocks) {
      if (b < 0 || b >= touched) fail(fmt::format("sequence {} holds block {}, never taken", seq, b));
      ++references[b];
    }
    if (!t.swapped_out() && materialized + t.anonymous != blocks_for(t.tokens, t.max_tokens))
      fail(fmt::format("sequence {} holds {} blocks for {} tokens", seq, materialized + t.anonymous, t.tokens));
    if (t.anonymous > 0 && t.tokens < materialized * block_size_)
      fail(fmt::format("sequence {} holds anonymous blocks after a partial materialized one", seq));
    if (t.tokens > (materialized + t.anonymous) * block_size_ && !t.swapped_out())
      fail(fmt::format("sequence {} stores {} tokens in {} blocks", seq, t.tokens, materialized + t.anonymous));
    for (size_t i = 0; i < t.blocks.size(); ++i) {
      const int64_t written = std::clamp<int64_t>(t.tokens - static_cast<int64_t>(i) * block_size_, 0, block_size_);
      if (blocks_[t.blocks[i]].fill != written)
        fail(fmt::format("block {} of sequence {} holds {} tokens, expected {}", t.blocks[i], seq,
                         blocks_[t.blocks[i]].fill, written));
    }
    if (t.anonymous > 0) stored += anonymous_tokens(t, t.blocks.size());
  }
  std::vector<bool> is_free(static_cast<size_t>(touched), false);
  for (const int32_t b : free_list_) {
    if (b < 0 || b >= touched) fail(fmt::format("block {} is free but was never taken", b));
    if (is_free[b]) fail(fmt::format("block {} is free twice", b));
    is_free[b] = true;
  }
  for (const int32_t b : retained_) {
    if (b < 0 || b >= touched) fail(fmt::format("block {} is retained but was never taken", b));
    if (is_free[b]) fail(fmt::format("block {} is retained and free, or retained twice", b));
    if (blocks_[b].prefix_of == kNotCached || blocks_[b].fill != 0)
      fail(fmt::format("retained block {} is not an empty cached block", b));
    is_free[b] = true;
  }
  for (int64_t b = 0; b < touched; ++b) {
    if (references[b] != blocks_[b].refcount)
      fail(fmt::format("block {} has reference count {} but {} holders", b, blocks_[b].refcount, references[b]));
    if ((references[b] == 0) != is_free[b]) fail(fmt::format("block {} is neither free, retained nor held", b));
    stored += blocks_[b].fill;
  }
  if (stored != stored_tokens_) fail(fmt::format("{} tokens stored, counted {}", stored_tokens_, stored));
  if (unshared != unshared_blocks_) fail(fmt::format("{} unshared blocks, counted {}", unshared_blocks_, unshared));
  if (anonymous != anonymous_blocks_)
    fail(fmt::format("{} anonymous blocks in use, counted {}", anonymous_blocks_, anonymous));
  if (unused_blocks() < 0)
    fail(fmt::format("{} blocks in use or retained of {}", total_blocks_ - unused_blocks(), total_blocks_));
  if (host_blocks_ != static_cast<int64_t>(host_.size()) + host_anonymous)
    fail(fmt::format("{} host blocks, counted {}", host_blocks_, static_cast<int64_t>(host_.size()) + host_anonymous));
}

}  // namespace slsim
