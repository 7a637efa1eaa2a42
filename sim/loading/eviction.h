#pragma once
// What a tier cache keeps when it is full. The interface lives here, beside the cache that
// asks it; the strategies (lru, lfu, gdsf, none) live in sim/policy/cache/ and are created by
// name for each cache, so each server tier keeps its own history.

#include <cstdint>

#include "sim/core/ids.h"
#include "sim/core/time.h"

namespace slsim {

class EvictionPolicy {
 public:
  static constexpr const char* kind = "cache";
  struct Context {};
  virtual ~EvictionPolicy() = default;
  // Whether a checkpoint passing through the tier should be kept at all.
  virtual bool admits(CheckpointId, int64_t /*bytes*/) const { return true; }
  virtual void on_insert(CheckpointId id, int64_t bytes, Time now) = 0;
  virtual void on_hit(CheckpointId id, Time now) = 0;
  virtual void on_remove(CheckpointId id) = 0;
  // The cached checkpoint to evict next; called only while something is cached.
  virtual CheckpointId victim() = 0;
};

}  // namespace slsim
