#pragma once
// A checkpoint cache of one storage tier on one server (pinned host memory or local SSD):
// whole checkpoints, evicted as its EvictionPolicy chooses when a new one needs room.
//
// Invariant: used_bytes() <= capacity_bytes() after every call.

#include <cstdint>
#include <memory>
#include <unordered_map>

#include "sim/core/ids.h"
#include "sim/core/time.h"
#include "sim/loading/eviction.h"

namespace slsim {

struct TierCacheStats {
  uint64_t hits = 0;
  uint64_t misses = 0;
  uint64_t evictions = 0;
  uint64_t insertions = 0;
};

class TierCache {
 public:
  TierCache(int64_t capacity_bytes, std::unique_ptr<EvictionPolicy> policy);

  bool contains(CheckpointId id) const { return entries_.count(id) != 0; }
  // Whether the checkpoint is cached because a preloader put it there and no load used it yet.
  bool holds_unused_preload(CheckpointId id) const;
  // A load looked here: a hit marks the checkpoint used, a miss is only counted.
  void record_lookup(CheckpointId id, Time now);
  // Keeps the checkpoint if the policy admits it, evicting as the policy chooses; false if not kept.
  bool insert(CheckpointId id, int64_t bytes, Time now, bool preloaded = false);
  // Removes the checkpoint if cached (not an eviction: its owner let it go); false if it was not.
  bool erase(CheckpointId id);

  int64_t used_bytes() const { return used_bytes_; }
  int64_t capacity_bytes() const { return capacity_bytes_; }
  const TierCacheStats& stats() const { return stats_; }

 private:
  struct Entry {
    int64_t bytes = 0;
    bool unused_preload = false;
  };
  int64_t capacity_bytes_;
  int64_t used_bytes_ = 0;
  std::unique_ptr<EvictionPolicy> policy_;
  std::unordered_map<CheckpointId, Entry> entries_;
  TierCacheStats stats_;
};

}  // namespace slsim
