#pragma once
// Values keyed by ids that are handed out in rising order and mostly retired in about that
// order (requests in flight: MergedSource numbers them 0, 1, 2, ... by arrival). The live ones
// lie in a window from the oldest unretired id to the newest, kept as a ring of slots
// (Boost.Circular_buffer) indexed by id − the window's first id: a lookup is an index, and
// nothing is allocated per value once the ring has grown to the widest window. A hash map
// (std::unordered_map) allocated a node per value and missed the cache on every lookup: at
// 10,000 requests/s on 1,000 GPUs, a sixth of the run (decisions.md).
// One value that lives long (a request queued for minutes) would hold the window open over
// every id after it, so the ring is kept at most twice as wide as the values live (plus a
// margin): values at the front of a wider ring move to a hash map of stragglers. Memory is
// therefore proportional to the values live, not to how far apart their ids are.

#include <algorithm>
#include <boost/circular_buffer.hpp>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

namespace slsim {

// `Id` is a StrongId (RequestId); the ring works on its raw value.
template <class Id, class T>
class IdWindow {
 public:
  // `id` must exceed every id inserted before.
  T& insert(Id key, T value) {
    const uint64_t id = key.value();
    if (id < next_id_)
      throw std::logic_error("id " + std::to_string(id) + " inserted out of order (next: " + std::to_string(next_id_) +
                             ")");
    next_id_ = id + 1;
    if (slots_.empty()) first_id_ = id;
    const auto width = static_cast<size_t>(id - first_id_) + 1;
    if (width > slots_.capacity()) {
      size_t capacity = slots_.capacity() == 0 ? 64 : slots_.capacity();
      while (capacity < width) capacity *= 2;
      slots_.set_capacity(capacity);
    }
    while (slots_.size() < width) slots_.push_back(std::nullopt);
    ++size_;
    T& inserted = slots_.back().emplace(std::move(value));
    while (slots_.size() > 2 * size_ + kMargin) {
      if (slots_.front()) stragglers_.emplace(first_id_, std::move(*slots_.front()));
      pop_front();
    }
    return inserted;
  }
  T* find(Id key) {
    const uint64_t id = key.value();
    if (id < first_id_) {
      if (stragglers_.empty()) return nullptr;
      const auto it = stragglers_.find(id);
      return it == stragglers_.end() ? nullptr : &it->second;
    }
    if (id - first_id_ >= slots_.size()) return nullptr;
    std::optional<T>& slot = slots_[static_cast<size_t>(id - first_id_)];
    return slot ? &*slot : nullptr;
  }
  const T* find(Id id) const { return const_cast<IdWindow*>(this)->find(id); }
  T& at(Id id) {
    if (T* value = find(id)) return *value;
    throw std::out_of_range("no value under id " + std::to_string(id.value()));
  }
  void erase(Id key) {
    const uint64_t id = key.value();
    if (!find(key)) throw std::out_of_range("no value under id " + std::to_string(id));
    --size_;
    if (id < first_id_) {
      stragglers_.erase(id);
      return;
    }
    slots_[static_cast<size_t>(id - first_id_)].reset();
    while (!slots_.empty() && !slots_.front()) pop_front();
  }
  size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  // Visits (id, value) in id order.
  template <class F>
  void for_each(F&& visit) const {
    std::vector<uint64_t> straggler_ids;
    for (const auto& [id, value] : stragglers_) straggler_ids.push_back(id);
    std::sort(straggler_ids.begin(), straggler_ids.end());
    for (const uint64_t id : straggler_ids) visit(Id(id), stragglers_.at(id));
    for (size_t i = 0; i < slots_.size(); ++i)
      if (slots_[i]) visit(Id(first_id_ + i), *slots_[i]);
  }
  // Slots in the ring, retired ids inside the window included (for tests of the bound).
  size_t ring_width() const { return slots_.size(); }

 private:
  static constexpr size_t kMargin = 64;
  void pop_front() {
    slots_.pop_front();
    ++first_id_;
  }
  boost::circular_buffer<std::optional<T>> slots_;
  std::unordered_map<uint64_t, T> stragglers_;  // live values older than the ring's first id
  uint64_t first_id_ = 0;                       // the id of slots_.front()
  uint64_t next_id_ = 0;                        // the least id insert() accepts
  size_t size_ = 0;
};

}  // namespace slsim
