#pragma once
// Dense integer ids: entities live in vectors indexed by these, so events carry a 32-bit
// target instead of a pointer. Each kind of id is its own type (decisions.md, "Strong ids"):
// a ServerId passed where a ModelId is expected, two ids added, or a raw integer assigned
// to an id does not compile. An id is built from an integer only explicitly, and read as
// one only through value()/index(), at the boundaries (output columns, array internals).

#include <fmt/format.h>

#include <compare>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <limits>
#include <ostream>
#include <ranges>
#include <type_traits>
#include <utility>
#include <vector>

namespace slsim {

template <class Tag, class Rep>
class StrongId {
 public:
  using rep_type = Rep;

  constexpr StrongId() = default;
  constexpr explicit StrongId(Rep value) : value_(value) {}
  // No entity: where an id is optional and std::optional would double the size.
  static constexpr StrongId none() { return StrongId(std::numeric_limits<Rep>::max()); }

  constexpr Rep value() const { return value_; }
  constexpr size_t index() const { return static_cast<size_t>(value_); }
  constexpr bool is_none() const { return value_ == std::numeric_limits<Rep>::max(); }

  friend constexpr bool operator==(StrongId, StrongId) = default;
  friend constexpr auto operator<=>(StrongId, StrongId) = default;
  friend std::ostream& operator<<(std::ostream& out, StrongId id) { return out << id.value_; }

 private:
  Rep value_ = 0;
};

using RequestId = StrongId<struct RequestIdTag, uint64_t>;
using ModelId = StrongId<struct ModelIdTag, uint32_t>;
using ServerId = StrongId<struct ServerIdTag, uint32_t>;
using InstanceId = StrongId<struct InstanceIdTag, uint32_t>;
// A stored checkpoint: a model's weights, or a base model's, or an adapter's delta.
using CheckpointId = StrongId<struct CheckpointIdTag, uint32_t>;

// Ids are copied into every event and batch slot: they must cost what the raw integer did.
static_assert(sizeof(RequestId) == sizeof(uint64_t) && std::is_trivially_copyable_v<RequestId>);
static_assert(sizeof(ModelId) == sizeof(uint32_t) && std::is_trivially_copyable_v<ModelId>);

// The ids 0, 1, ..., count − 1 of a kind, for loops over every entity.
template <class Id, class Count>
constexpr auto ids_below(Count count) {
  using Rep = typename Id::rep_type;
  return std::views::iota(Rep{0}, static_cast<Rep>(count)) | std::views::transform([](Rep v) { return Id(v); });
}

// Entities of one kind stored by their id: operator[] takes only that kind's id, so a
// vector of models cannot be indexed by a server.
template <class Id, class T>
class IdVector {
 public:
  IdVector() = default;
  explicit IdVector(size_t count, const T& value = T()) : items_(count, value) {}
  // Element i is the entity with id i.
  explicit IdVector(std::vector<T> items) : items_(std::move(items)) {}
  IdVector(std::initializer_list<T> items) : items_(items) {}

  using reference = typename std::vector<T>::reference;  // a proxy for IdVector<Id, bool>
  using const_reference = typename std::vector<T>::const_reference;

  reference operator[](Id id) { return items_[id.index()]; }
  const_reference operator[](Id id) const { return items_[id.index()]; }
  reference at(Id id) { return items_.at(id.index()); }
  const_reference at(Id id) const { return items_.at(id.index()); }

  size_t size() const { return items_.size(); }
  bool empty() const { return items_.empty(); }
  // The id the next appended element gets.
  Id next_id() const { return Id(static_cast<typename Id::rep_type>(items_.size())); }
  auto ids() const { return ids_below<Id>(items_.size()); }

  template <class... Args>
  T& emplace_back(Args&&... args) {
    return items_.emplace_back(std::forward<Args>(args)...);
  }
  void push_back(const T& value) { items_.push_back(value); }
  void push_back(T&& value) { items_.push_back(std::move(value)); }
  void resize(size_t count) { items_.resize(count); }
  void resize(size_t count, const T& value) { items_.resize(count, value); }
  void assign(size_t count, const T& value) { items_.assign(count, value); }
  void reserve(size_t count) { items_.reserve(count); }
  void clear() { items_.clear(); }
  reference back() { return items_.back(); }
  const_reference back() const { return items_.back(); }

  auto begin() { return items_.begin(); }
  auto end() { return items_.end(); }
  auto begin() const { return items_.begin(); }
  auto end() const { return items_.end(); }

 private:
  std::vector<T> items_;
};

}  // namespace slsim

template <class Tag, class Rep>
struct std::hash<slsim::StrongId<Tag, Rep>> {
  // The raw integer's hash, so unordered containers iterate in the order they did.
  size_t operator()(slsim::StrongId<Tag, Rep> id) const noexcept { return std::hash<Rep>()(id.value()); }
};

template <class Tag, class Rep>
struct fmt::formatter<slsim::StrongId<Tag, Rep>> : fmt::formatter<Rep> {
  template <class FormatContext>
  auto format(slsim::StrongId<Tag, Rep> id, FormatContext& context) const {
    return fmt::formatter<Rep>::format(id.value(), context);
  }
};
