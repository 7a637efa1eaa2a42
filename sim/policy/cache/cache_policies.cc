#include "sim/policy/cache/cache_policies.h"

#include <limits>
#include <stdexcept>

namespace slsim {

void LruEviction::on_insert(CheckpointId id, int64_t, Time) {
  recency_.push_front(id);
  where_[id] = recency_.begin();
}

void LruEviction::on_hit(CheckpointId id, Time) { recency_.splice(recency_.begin(), recency_, where_.at(id)); }

void LruEviction::on_remove(CheckpointId id) {
  recency_.erase(where_.at(id));
  where_.erase(id);
}

void LfuEviction::on_insert(CheckpointId id, int64_t, Time) { usage_[id] = Usage{1, ++clock_}; }

void LfuEviction::on_hit(CheckpointId id, Time) {
  Usage& u = usage_.at(id);
  ++u.count;
  u.last_use = ++clock_;
}

CheckpointId LfuEviction::victim() {
  auto best = usage_.begin();
  for (auto it = usage_.begin(); it != usage_.end(); ++it) {
    const Usage& u = it->second;
    if (u.count < best->second.count || (u.count == best->second.count && u.last_use < best->second.last_use))
      best = it;
  }
  return best->first;
}

double GdsfEviction::priority_of(const Entry& e) const {
  const double cost = cost_is_bytes_ ? static_cast<double>(e.bytes) : 1.0;
  return inflation_ + static_cast<double>(e.frequency) * cost / static_cast<double>(e.bytes);
}

void GdsfEviction::on_insert(CheckpointId id, int64_t bytes, Time) {
  Entry e{bytes, 1, 0};
  e.priority = priority_of(e);
  entries_[id] = e;
}

void GdsfEviction::on_hit(CheckpointId id, Time) {
  Entry& e = entries_.at(id);
  ++e.frequency;
  e.priority = priority_of(e);
}

CheckpointId GdsfEviction::victim() {
  auto best = entries_.begin();
  for (auto it = entries_.begin(); it != entries_.end(); ++it)
    if (it->second.priority < best->second.priority) best = it;
  inflation_ = best->second.priority;
  return best->first;
}

CheckpointId NoCaching::victim() { throw std::logic_error("a cache that admits nothing was asked for a victim"); }

const Registry<EvictionPolicy>& cache_policies() {
  static const Registry<EvictionPolicy> registry = [] {
    Registry<EvictionPolicy> r;
    r.add<LruEviction>("lru", "least recently used (ServerlessLLM's DRAM pool)");
    r.add<LfuEviction>("lfu", "least frequently used while cached, ties by recency");
    r.add<GdsfEviction>("gdsf", "greedy-dual-size-frequency, size-aware with aging (Cherkasova 1998)");
    r.add<NoCaching>("none", "keep nothing; every load reads the tier below");
    return r;
  }();
  return registry;
}

}  // namespace slsim
