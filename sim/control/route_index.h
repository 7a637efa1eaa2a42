#pragma once
// One model's serving instances by (requests outstanding, route order): least-outstanding
// routing takes the first. A tournament tree over a contiguous array: an instance holds a leaf
// for as long as it serves, every inner node holds the least key below it, so a count that
// changes costs one climb of compares through one array (log2 of the instances) and the answer
// is the root. A balanced search tree (std::set) did the same with an erase and an insert of a
// node scattered in memory per change: at 1,000 GPUs a seventh of the run (decisions.md).

#include <cstddef>
#include <cstdint>
#include <limits>
#include <vector>

#include "sim/core/ids.h"

namespace slsim {

class RouteIndex {
 public:
  struct Key {
    int64_t outstanding = std::numeric_limits<int64_t>::max();  // max: an empty leaf
    uint64_t order = 0;  // unique among a model's instances; earlier wins a tie
    InstanceId instance = 0;
  };

  // Returns the leaf `instance` holds until erase().
  uint32_t insert(InstanceId instance, uint64_t order, int64_t outstanding);
  void update(uint32_t leaf, int64_t outstanding);
  void erase(uint32_t leaf);

  bool empty() const { return size_ == 0; }
  size_t size() const { return size_; }
  // The instance with the fewest requests outstanding, the earliest in route order among ties.
  InstanceId best() const { return nodes_[1].instance; }
  const Key& at(uint32_t leaf) const { return nodes_[capacity_ + leaf]; }
  // Visits every instance held, in leaf order.
  template <class F>
  void for_each(F&& visit) const {
    for (size_t i = capacity_; i < 2 * capacity_; ++i)
      if (nodes_[i].outstanding != std::numeric_limits<int64_t>::max()) visit(nodes_[i]);
  }

 private:
  static bool before(const Key& a, const Key& b) {
    return a.outstanding != b.outstanding ? a.outstanding < b.outstanding : a.order < b.order;
  }
  void set(uint32_t leaf, const Key& key);
  void grow();

  // nodes_[1] is the root, node i's children are 2i and 2i + 1, leaves are [capacity_, 2 capacity_).
  std::vector<Key> nodes_ = std::vector<Key>(2);
  size_t capacity_ = 1;
  size_t size_ = 0;
  std::vector<uint32_t> free_leaves_;
  uint32_t next_leaf_ = 0;
};

}  // namespace slsim
