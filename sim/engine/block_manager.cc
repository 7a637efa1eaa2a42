#include "sim/engine/block_manager.h"

#include <algorithm>
#include <fmt/format.h>
#include <stdexcept>

#include "sim/core/errors.h"

namespace slsim {

KvAllocatorKind parse_kv_allocator(const std::string& name) {
  if (name == "paged") return KvAllocatorKind::paged;
  if (name == "contiguous") return KvAllocatorKind::contiguous;
  throw std::invalid_argument("unknown KV allocator '" + name + "'");
}

std::unique_ptr<BlockManager> make_block_manager(KvAllocatorKind kind, int64_t total_blocks, int64_t block_size_tokens) {
  if (kind == KvAllocatorKind::contiguous)
    return std::make_unique<ContiguousBlockManager>(total_blocks, block_size_tokens);
  return std::make_unique<PagedBlockManager>(total_blocks, block_size_tokens);
}

BlockManager::BlockManager(int64_t total_blocks, int64_t block_size_tokens)
    : total_blocks_(total_blocks), block_size_(block_size_tokens) {
  if (total_blocks < 0 || total_blocks > INT32_MAX || block_size_tokens < 1)
    throw std::invalid_argument("a block manager needs 0..2^31 blocks of at least one token");
}

void BlockManager::throw_missing(SeqId seq) {
  throw std::logic_error(fmt::format("sequence {} holds no blocks", seq));
}

BlockManager::Table& BlockManager::new_table(SeqId seq, const char* what) {
  if (holds(seq)) throw std::logic_error(what);
  if (seq >= tables_.size()) tables_.resize(seq + 1);
  Table& t = tables_[seq];
  t.blocks.clear();
  t.host_blocks.clear();
  t.tokens = 0;
  t.max_tokens = 0;
  t.live = true;
  return t;
}

int32_t BlockManager::take_block() {
  int32_t b = 0;
  if (!free_list_.empty()) {
    b = free_list_.back();
    free_list_.pop_back();
  } else {
    if (touched_blocks() == total_blocks_)
      throw std::logic_error("the KV cache ran out of blocks; the engine must check first");
    b = static_cast<int32_t>(touched_blocks());
    refcount_.push_back(0);
    fill_.push_back(0);
    prefix_of_.push_back(kNotCached);
  }
  refcount_[b] = 1;
  fill_[b] = 0;
  return b;
}

void BlockManager::forget_prefix(int32_t block) {
  prefix_cache_.erase(prefix_of_[block]);
  prefix_of_[block] = kNotCached;
}

int64_t BlockManager::cached_prefix_blocks(int64_t prompt_tokens, std::span<const uint64_t> prefix) const {
  if (!shares_blocks()) return 0;
  const auto full_blocks = static_cast<size_t>(prompt_tokens / block_size_);
  int64_t cached = 0;
  for (size_t i = 0; i < std::min(prefix.size(), full_blocks); ++i)
    if (prefix_cache_.contains(prefix[i])) ++cached;
  return cached;
}

int64_t BlockManager::blocks_to_admit(int64_t prompt_tokens, int64_t max_tokens, std::span<const uint64_t> prefix) const {
  return blocks_for(prompt_tokens, max_tokens) - cached_prefix_blocks(prompt_tokens, prefix);
}

void BlockManager::admit(SeqId seq, int64_t prompt_tokens, int64_t max_tokens, std::span<const uint64_t> prefix) {
  if (blocks_to_admit(prompt_tokens, max_tokens, prefix) > free_blocks())
    throw std::logic_error("a sequence was admitted without room for its prompt");
  Table& t = new_table(seq, "a sequence was admitted twice");
  t.tokens = prompt_tokens;
  t.max_tokens = max_tokens;
  const auto count = static_cast<size_t>(blocks_for(prompt_tokens, max_tokens));
  const size_t cacheable = shares_blocks() ? std::min(prefix.size(), static_cast<size_t>(prompt_tokens / block_size_)) : 0;
  t.blocks.reserve(count);
  for (size_t i = 0; i < count; ++i) {
    if (i < cacheable) {
      if (const auto it = prefix_cache_.find(prefix[i]); it != prefix_cache_.end()) {
        ++refcount_[it->second];
        t.blocks.push_back(it->second);
        continue;
      }
    }
    const int32_t b = take_block();
    fill_[b] = std::clamp<int64_t>(prompt_tokens - static_cast<int64_t>(i) * block_size_, 0, block_size_);
    stored_tokens_ += fill_[b];
    if (i < cacheable) {
      prefix_of_[b] = prefix[i];
      prefix_cache_.emplace(prefix[i], b);
    }
    t.blocks.push_back(b);
  }
  unshared_blocks_ += static_cast<int64_t>(count);
}

void BlockManager::append_into_new_block(SeqId seq) {
  Table& t = table(seq);
  if (!t.host_blocks.empty()) throw std::logic_error("a swapped-out sequence was appended to");
  const auto index = static_cast<size_t>(t.tokens / block_size_);
  if (index >= t.blocks.size()) {
    t.blocks.push_back(take_block());
    ++unshared_blocks_;
  } else if (refcount_[t.blocks[index]] > 1) {
    // Copy-on-write: the other holders keep the original, this sequence writes into a copy.
    const int32_t shared = t.blocks[index];
    const int32_t copy = take_block();
    fill_[copy] = fill_[shared];
    stored_tokens_ += fill_[copy];
    drop_reference(shared);
    t.blocks[index] = copy;
  }
  ++fill_[t.blocks[index]];
  ++stored_tokens_;
  ++t.tokens;
}

void BlockManager::append(SeqId seq, int64_t tokens) {
  if (tokens <= 0) return;
  append(seq);  // the first token may copy a shared block on write; the rest go into its own
  Table& t = table(seq);
  for (int64_t left = tokens - 1; left > 0;) {
    const auto index = static_cast<size_t>(t.tokens / block_size_);
    if (index >= t.blocks.size()) {
      t.blocks.push_back(take_block());
      ++unshared_blocks_;
    }
    const int64_t added = std::min(left, block_size_ - t.tokens % block_size_);
    fill_[t.blocks[index]] += static_cast<int32_t>(added);
    stored_tokens_ += added;
    t.tokens += added;
    left -= added;
  }
}

int64_t BlockManager::blocks_to_fork(SeqId parent) const {
  return shares_blocks() ? 0 : blocks_held(parent);
}

void BlockManager::fork(SeqId parent, SeqId child) {
  if (blocks_to_fork(parent) > free_blocks()) throw std::logic_error("a sequence was forked without room");
  if (!table(parent).host_blocks.empty()) throw std::logic_error("a swapped-out sequence was forked");
  Table& copy = new_table(child, "a sequence was forked onto an existing one");
  const Table& from = tables_[parent];  // after new_table, which may move the tables
  copy.blocks = from.blocks;
  copy.tokens = from.tokens;
  copy.max_tokens = from.max_tokens;
  for (int32_t& b : copy.blocks) {
    if (shares_blocks()) {
      ++refcount_[b];
    } else {
      const int32_t own = take_block();
      fill_[own] = fill_[b];
      stored_tokens_ += fill_[own];
      b = own;
    }
  }
  unshared_blocks_ += static_cast<int64_t>(copy.blocks.size());
}

void BlockManager::free(SeqId seq) {
  if (!holds(seq)) throw std::logic_error("a sequence without blocks was freed");
  Table& t = tables_[seq];
  for (const int32_t b : t.blocks) drop_reference(b);
  unshared_blocks_ -= static_cast<int64_t>(t.blocks.size());
  for (const int32_t h : t.host_blocks) {
    if (--host_[h].references == 0) {
      host_.erase(h);
      --host_blocks_;
    }
  }
  t.blocks.clear();
  t.host_blocks.clear();
  t.live = false;
}

int64_t BlockManager::swap_out(std::span<const SeqId> seqs) {
  std::unordered_map<int32_t, int32_t> host_of;
  for (const SeqId seq : seqs) {
    Table& t = table(seq);
    for (const int32_t b : t.blocks) {
      auto [it, inserted] = host_of.emplace(b, next_host_block_);
      if (inserted) host_[next_host_block_++] = HostBlock{fill_[b], 0};
      ++host_[it->second].references;
      t.host_blocks.push_back(it->second);
    }
  }
  for (const SeqId seq : seqs) {
    Table& t = table(seq);
    for (const int32_t b : t.blocks) drop_reference(b);
    unshared_blocks_ -= static_cast<int64_t>(t.blocks.size());
    t.blocks.clear();
  }
  host_blocks_ += static_cast<int64_t>(host_of.size());
  return static_cast<int64_t>(host_of.size());
}

int64_t BlockManager::blocks_to_swap_in(std::span<const SeqId> seqs) const {
  std::vector<int32_t> distinct;
  for (const SeqId seq : seqs) {
    const Table& t = table(seq);
    distinct.insert(distinct.end(), t.host_blocks.begin(), t.host_blocks.end());
  }
  std::sort(distinct.begin(), distinct.end());
  return std::unique(distinct.begin(), distinct.end()) - distinct.begin();
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
        fill_[it->second] = host_[h].fill;
        stored_tokens_ += host_[h].fill;
      } else {
        ++refcount_[it->second];
      }
      t.blocks.push_back(it->second);
      if (--host_[h].references == 0) {
        host_.erase(h);
        --host_blocks_;
      }
    }
    unshared_blocks_ += static_cast<int64_t>(t.blocks.size());
    t.host_blocks.clear();
  }
}

void BlockManager::audit() const {
  auto fail = [](const std::string& what) { throw std::logic_error("block accounting: " + what); };
  const int64_t touched = touched_blocks();
  std::vector<int32_t> references(static_cast<size_t>(touched), 0);
  int64_t unshared = 0;
  for (SeqId seq = 0; seq < tables_.size(); ++seq) {
    const Table& t = tables_[seq];
    if (!t.live) continue;
    unshared += static_cast<int64_t>(t.blocks.size());
    for (const int32_t b : t.blocks) {
      if (b < 0 || b >= touched) fail(fmt::format("sequence {} holds block {}, never taken", seq, b));
      ++references[b];
    }
    if (t.host_blocks.empty() && static_cast<int64_t>(t.blocks.size()) != blocks_for(t.tokens, t.max_tokens))
      fail(fmt::format("sequence {} holds {} blocks for {} tokens", seq, t.blocks.size(), t.tokens));
    for (size_t i = 0; i < t.blocks.size(); ++i) {
      const int64_t written = std::clamp<int64_t>(t.tokens - static_cast<int64_t>(i) * block_size_, 0, block_size_);
      if (fill_[t.blocks[i]] != written)
        fail(fmt::format("block {} of sequence {} holds {} tokens, expected {}", t.blocks[i], seq, fill_[t.blocks[i]], written));
    }
  }
  std::vector<bool> is_free(static_cast<size_t>(touched), false);
  for (const int32_t b : free_list_) {
    if (b < 0 || b >= touched) fail(fmt::format("block {} is free but was never taken", b));
    if (is_free[b]) fail(fmt::format("block {} is free twice", b));
    is_free[b] = true;
  }
  int64_t stored = 0;
  for (int64_t b = 0; b < touched; ++b) {
    if (references[b] != refcount_[b])
      fail(fmt::format("block {} has reference count {} but {} holders", b, refcount_[b], references[b]));
    if ((references[b] == 0) != is_free[b]) fail(fmt::format("block {} is neither free nor held", b));
    stored += fill_[b];
  }
  if (stored != stored_tokens_) fail(fmt::format("{} tokens stored, counted {}", stored_tokens_, stored));
  if (unshared != unshared_blocks_) fail(fmt::format("{} unshared blocks, counted {}", unshared_blocks_, unshared));
  if (host_blocks_ != static_cast<int64_t>(host_.size())) fail("host block count");
}

}  // namespace slsim
