#include "sim/loading/tier_cache.h"

namespace slsim {

TierCache::TierCache(int64_t capacity_bytes, std::unique_ptr<EvictionPolicy> policy)
    : capacity_bytes_(capacity_bytes), policy_(std::move(policy)) {}

bool TierCache::holds_unused_preload(CheckpointId id) const {
  const auto it = entries_.find(id);
  return it != entries_.end() && it->second.unused_preload;
}

void TierCache::record_lookup(CheckpointId id, Time now) {
  const auto it = entries_.find(id);
  if (it == entries_.end()) {
    ++stats_.misses;
    return;
  }
  ++stats_.hits;
  it->second.unused_preload = false;
  policy_->on_hit(id, now);
}

bool TierCache::insert(CheckpointId id, int64_t bytes, Time now, bool preloaded) {
  if (const auto it = entries_.find(id); it != entries_.end()) {
    policy_->on_hit(id, now);
    return true;
  }
  if (bytes > capacity_bytes_ || !policy_->admits(id, bytes)) return false;
  while (used_bytes_ + bytes > capacity_bytes_) {
    const CheckpointId victim = policy_->victim();
    used_bytes_ -= entries_.at(victim).bytes;
    entries_.erase(victim);
    policy_->on_remove(victim);
    ++stats_.evictions;
  }
  entries_[id] = Entry{bytes, preloaded};
  used_bytes_ += bytes;
  policy_->on_insert(id, bytes, now);
  ++stats_.insertions;
  return true;
}

bool TierCache::erase(CheckpointId id) {
  const auto it = entries_.find(id);
  if (it == entries_.end()) return false;
  used_bytes_ -= it->second.bytes;
  entries_.erase(it);
  policy_->on_remove(id);
  return true;
}

}  // namespace slsim
