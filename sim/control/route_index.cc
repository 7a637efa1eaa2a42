#include "sim/control/route_index.h"

#include <stdexcept>

namespace slsim {

uint64_t RouteIndex::rank_of(int64_t outstanding, uint64_t order) {
  // Beyond either bound a run would have held 2^31 requests on one instance or started 2^32
  // instances of one model.
  if (outstanding < 0 || outstanding >= (int64_t{1} << 31) || order > 0xffffffffu)
    throw std::length_error("a routing index count or order is out of its range");
  return (static_cast<uint64_t>(outstanding) << 32) | order;
}

uint32_t RouteIndex::insert(InstanceId instance, uint64_t order, int64_t outstanding) {
  const uint64_t rank = rank_of(outstanding, order);
  uint32_t leaf;
  if (!free_leaves_.empty()) {
    leaf = free_leaves_.back();
    free_leaves_.pop_back();
  } else {
    if (next_leaf_ == capacity_) grow();
    leaf = next_leaf_++;
  }
  set(leaf, Node{rank, instance});
  return leaf;
}

void RouteIndex::update(uint32_t leaf, int64_t outstanding) {
  const Node& node = nodes_[capacity_ + leaf];
  set(leaf, Node{rank_of(outstanding, node.rank & 0xffffffffu), node.instance});
}

void RouteIndex::erase(uint32_t leaf) {
  set(leaf, Node{});
  free_leaves_.push_back(leaf);
}

void RouteIndex::set(uint32_t leaf, Node node) {
  size_t i = capacity_ + leaf;
  nodes_[i] = node;
  // Ranks are unique but for empty leaves, so an unchanged (rank, instance) above means nothing
  // higher changes either.
  for (i /= 2; i >= 1; i /= 2) {
    const Node& best = winner(nodes_[2 * i], nodes_[2 * i + 1]);
    if (nodes_[i].rank == best.rank && nodes_[i].instance == best.instance) return;
    nodes_[i] = best;
  }
}

// Doubles the leaves; a leaf keeps its number, so instances keep theirs.
void RouteIndex::grow() {
  const size_t old_capacity = capacity_;
  capacity_ *= 2;
  std::vector<Node> nodes(2 * capacity_);
  for (size_t i = 0; i < old_capacity; ++i) nodes[capacity_ + i] = nodes_[old_capacity + i];
  for (size_t i = capacity_ - 1; i >= 1; --i) nodes[i] = winner(nodes[2 * i], nodes[2 * i + 1]);
  nodes_ = std::move(nodes);
}

}  // namespace slsim
