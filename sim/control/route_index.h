#pragma once
// One model's serving instances by (requests outstanding, route order): least-outstanding
// routing takes the first. A tournament tree over a contiguous array: an instance holds a leaf
// for as long as it serves, every inner node holds the least key below it, so a count that
// changes costs a climb of compares through one array, stopped where the winner is unchanged,
// and the answer is the root. A balanced search tree (std::set) did the same with an erase and an
// insert of a node scattered in memory per change: at 1,000 GPUs a seventh of the run
// (decisions.md).

#include <cstddef>
#include <cstdint>
#include <limits>
#include <vector>

#include "sim/core/ids.h"

namespace slsim {

class RouteIndex {
 public:
  struct Entry {
    int64_t outstanding = 0;
    uint64_t order = 0;  // unique among a model's instances; earlier wins a tie
    InstanceId instance;
  };

  // Returns the leaf `instance` holds until erase().
  uint32_t insert(InstanceId instance, uint64_t order, int64_t outstanding);
  void update(uint32_t leaf, int64_t outstanding);
  void erase(uint32_t leaf);

  size_t size() const { return next_leaf_ - free_leaves_.size(); }
  bool empty() const { return size() == 0; }
  // The instance with the fewest requests outstanding, the earliest in route order among ties.
  InstanceId best() const { return nodes_[1].instance; }
  Entry at(uint32_t leaf) const { return entry(nodes_[capacity_ + leaf]); }
  // Visits every instance held, in leaf order.
  template <class F>
  void for_each(F&& visit) const {
    for (size_t i = capacity_; i < 2 * capacity_; ++i)
      if (nodes_[i].rank != kEmpty) visit(entry(nodes_[i]));
  }

 private:
  // (outstanding, order) in one word, so that a compare is one instruction: the count in the
  // high half, the order in the low half.
  struct Node {
    uint64_t rank = kEmpty;
    InstanceId instance;
  };
  static constexpr uint64_t kEmpty = std::numeric_limits<uint64_t>::max();
  static uint64_t rank_of(int64_t outstanding, uint64_t order);
  static const Node& winner(const Node& left, const Node& right) { return right.rank < left.rank ? right : left; }
  static Entry entry(const Node& n) {
    return Entry{static_cast<int64_t>(n.rank >> 32), n.rank & 0xffffffffu, n.instance};
  }
  void set(uint32_t leaf, Node node);
  void grow();

  // nodes_[1] is the root, node i's children are 2i and 2i + 1, leaves are [capacity_, 2 capacity_).
  std::vector<Node> nodes_ = std::vector<Node>(2);
  size_t capacity_ = 1;
  std::vector<uint32_t> free_leaves_;
  uint32_t next_leaf_ = 0;
};

}  // namespace slsim
