#pragma once
// A checkpoint cache of one storage tier on one server (pinned host memory or local SSD):
// whole checkpoints, least recently used evicted first when a new one needs room.

#include <cstdint>
#include <list>
#include <unordered_map>

#include "sim/core/ids.h"

namespace slsim {

class TierCache {
 public:
  explicit TierCache(int64_t capacity_bytes) : capacity_bytes_(capacity_bytes) {}

  bool contains(ModelId model) const { return index_.count(model) != 0; }
  // Marks a hit: the checkpoint becomes the most recently used.
  void touch(ModelId model);
  // Keeps the checkpoint, evicting the least recently used ones; false if it can never fit.
  bool insert(ModelId model, int64_t bytes);

  int64_t used_bytes() const { return used_bytes_; }
  int64_t capacity_bytes() const { return capacity_bytes_; }
  uint64_t evictions() const { return evictions_; }

 private:
  struct Entry {
    ModelId model;
    int64_t bytes;
  };
  int64_t capacity_bytes_;
  int64_t used_bytes_ = 0;
  uint64_t evictions_ = 0;
  std::list<Entry> recency_;  // front: most recently used
  std::unordered_map<ModelId, std::list<Entry>::iterator> index_;
};

}  // namespace slsim
