#include "sim/loading/tier_cache.h"

namespace slsim {

void TierCache::touch(ModelId model) {
  const auto it = index_.find(model);
  if (it != index_.end()) recency_.splice(recency_.begin(), recency_, it->second);
}

bool TierCache::insert(ModelId model, int64_t bytes) {
  if (contains(model)) {
    touch(model);
    return true;
  }
  if (bytes > capacity_bytes_) return false;
  while (used_bytes_ + bytes > capacity_bytes_) {
    const Entry& victim = recency_.back();
    used_bytes_ -= victim.bytes;
    index_.erase(victim.model);
    recency_.pop_back();
    ++evictions_;
  }
  recency_.push_front(Entry{model, bytes});
  index_[model] = recency_.begin();
  used_bytes_ += bytes;
  return true;
}

}  // namespace slsim
