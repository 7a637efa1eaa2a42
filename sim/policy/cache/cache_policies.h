#pragma once
// Eviction strategies for the DRAM and SSD checkpoint caches.

#include <cstdint>
#include <list>
#include <map>
#include <unordered_map>

#include "sim/core/registry.h"
#include "sim/loading/eviction.h"

namespace slsim {

const Registry<EvictionPolicy>& cache_policies();

struct NoParams {
  template <class V>
  void visit(V&) {}
};

// Least recently used: ServerlessLLM's DRAM pool.
class LruEviction final : public EvictionPolicy {
 public:
  using Params = NoParams;
  LruEviction(const Params&, Context&) {}
  void on_insert(CheckpointId id, int64_t, Time) override;
  void on_hit(CheckpointId id, Time) override;
  void on_remove(CheckpointId id) override;
  CheckpointId victim() override { return recency_.back(); }

 private:
  std::list<CheckpointId> recency_;  // front: most recent
  std::unordered_map<CheckpointId, std::list<CheckpointId>::iterator> where_;
};

// Least frequently used while cached; ties go to the least recently used.
class LfuEviction final : public EvictionPolicy {
 public:
  using Params = NoParams;
  LfuEviction(const Params&, Context&) {}
  void on_insert(CheckpointId id, int64_t, Time) override;
  void on_hit(CheckpointId id, Time) override;
  void on_remove(CheckpointId id) override { usage_.erase(id); }
  CheckpointId victim() override;

 private:
  struct Usage {
    uint64_t count = 0;
    uint64_t last_use = 0;
  };
  std::map<CheckpointId, Usage> usage_;
  uint64_t clock_ = 0;
};

// Greedy-Dual-Size-Frequency (Cherkasova, HP Labs 1998): priority = L + frequency × cost /
// size, where L is the priority of the last victim (aging). With unit cost it prefers keeping
// small checkpoints; with cost = bytes it becomes LFU with dynamic aging.
class GdsfEviction final : public EvictionPolicy {
 public:
  struct Params {
    std::string cost = "uniform";
    template <class V>
    void visit(V& v) {
      v.choice("cost", cost, "miss cost: uniform (size-aware GDSF) or bytes (LFU with aging)", {"uniform", "bytes"});
    }
  };
  GdsfEviction(const Params& params, Context&) : cost_is_bytes_(params.cost == "bytes") {}
  void on_insert(CheckpointId id, int64_t bytes, Time) override;
  void on_hit(CheckpointId id, Time) override;
  void on_remove(CheckpointId id) override { entries_.erase(id); }
  CheckpointId victim() override;

 private:
  struct Entry {
    int64_t bytes = 0;
    uint64_t frequency = 0;
    double priority = 0;
  };
  double priority_of(const Entry& e) const;
  bool cost_is_bytes_;
  double inflation_ = 0;
  std::map<CheckpointId, Entry> entries_;
};

// Keeps nothing: every load goes to the tier below.
class NoCaching final : public EvictionPolicy {
 public:
  using Params = NoParams;
  NoCaching(const Params&, Context&) {}
  bool admits(CheckpointId, int64_t) const override { return false; }
  void on_insert(CheckpointId, int64_t, Time) override {}
  void on_hit(CheckpointId, Time) override {}
  void on_remove(CheckpointId) override {}
  CheckpointId victim() override;
};

}  // namespace slsim
