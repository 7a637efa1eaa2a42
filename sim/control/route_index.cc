#include "sim/control/route_index.h"

#include <stdexcept>

namespace slsim {

uint32_t RouteIndex::insert(InstanceId instance, uint64_t order, int64_t outstanding) {
  if (outstanding == std::numeric_limits<int64_t>::max())
    throw std::invalid_argument("a routing index count must be below int64's largest value");
  uint32_t leaf;
  if (!free_leaves_.empty()) {
    leaf = free_leaves_.back();
    free_leaves_.pop_back();
  } else {
    if (next_leaf_ == capacity_) grow();
    leaf = next_leaf_++;
  }
  ++size_;
  set(leaf, Key{outstanding, order, instance});
  return leaf;
}

void RouteIndex::update(uint32_t leaf, int64_t outstanding) {
  Key key = at(leaf);
  key.outstanding = outstanding;
  set(leaf, key);
}

void RouteIndex::erase(uint32_t leaf) {
  set(leaf, Key{});
  free_leaves_.push_back(leaf);
  --size_;
}

void RouteIndex::set(uint32_t leaf, const Key& key) {
  size_t i = capacity_ + leaf;
  nodes_[i] = key;
  for (i /= 2; i >= 1; i /= 2) {
    const Key& left = nodes_[2 * i];
    const Key& right = nodes_[2 * i + 1];
    nodes_[i] = before(right, left) ? right : left;
  }
}

// Doubles the leaves; a leaf keeps its number, so instances keep theirs.
void RouteIndex::grow() {
  const size_t old_capacity = capacity_;
  capacity_ *= 2;
  std::vector<Key> nodes(2 * capacity_);
  for (size_t i = 0; i < old_capacity; ++i) nodes[capacity_ + i] = nodes_[old_capacity + i];
  for (size_t i = capacity_ - 1; i >= 1; --i) {
    const Key& left = nodes[2 * i];
    const Key& right = nodes[2 * i + 1];
    nodes[i] = before(right, left) ? right : left;
  }
  nodes_ = std::move(nodes);
}

}  // namespace slsim
