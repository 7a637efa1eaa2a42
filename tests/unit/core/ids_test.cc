#include "sim/core/ids.h"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <functional>
#include <limits>
#include <sstream>
#include <string>
#include <type_traits>
#include <vector>

namespace slsim {

// Mixing kinds of ids, or ids and raw integers, must not compile.
static_assert(!std::is_convertible_v<ServerId, ModelId>);
static_assert(!std::is_constructible_v<ModelId, ServerId>);
static_assert(!std::is_convertible_v<InstanceId, ServerId>);
static_assert(!std::is_convertible_v<CheckpointId, ModelId>);
static_assert(!std::is_constructible_v<InstanceId, RequestId>);
static_assert(!std::is_convertible_v<uint32_t, ModelId>);   // no implicit id from a raw integer
static_assert(!std::is_convertible_v<ModelId, uint32_t>);   // nor a raw integer from an id
static_assert(!std::is_convertible_v<ModelId, size_t>);     // so an id is not a count
static_assert(std::is_constructible_v<ModelId, uint32_t>);  // explicitly, it is
static_assert(!std::is_assignable_v<ModelId&, uint32_t>);
static_assert(!std::is_assignable_v<ModelId&, ServerId>);

template <class A, class B>
concept Addable = requires(A a, B b) {
  a + b;
};
template <class A, class B>
concept EqualityComparable = requires(A a, B b) {
  a == b;
};
static_assert(!Addable<ModelId, ModelId>);
static_assert(!Addable<ModelId, uint32_t>);
static_assert(!EqualityComparable<ModelId, ServerId>);

// An IdVector is indexed by its own kind of id only.
template <class V, class Index>
concept IndexableBy = requires(V v, Index i) {
  v[i];
};
static_assert(IndexableBy<IdVector<ModelId, int>, ModelId>);
static_assert(!IndexableBy<IdVector<ModelId, int>, ServerId>);
static_assert(!IndexableBy<IdVector<ModelId, int>, size_t>);

// Ids cost what the raw integers did.
static_assert(sizeof(ServerId) == sizeof(uint32_t) && sizeof(RequestId) == sizeof(uint64_t));
static_assert(std::is_trivially_copyable_v<InstanceId> && std::is_trivially_copyable_v<RequestId>);

TEST(StrongId, FormatsAsItsNumber) {
  EXPECT_EQ(fmt::format("{}", ModelId(7)), "7");
  EXPECT_EQ(fmt::format("{:>4}", ServerId(12)), "  12");  // format specs apply to the number
  // The largest request id prints in full (a 64-bit value, not truncated to 32 bits).
  EXPECT_EQ(fmt::format("{}", RequestId(std::numeric_limits<uint64_t>::max())), "18446744073709551615");
  std::ostringstream out;
  out << InstanceId(42);
  EXPECT_EQ(out.str(), "42");
}

TEST(StrongId, HashesAsItsRawValue) {
  // Unordered containers keyed by ids iterate in the order they did with raw integers.
  EXPECT_EQ(std::hash<CheckpointId>()(CheckpointId(123)), std::hash<uint32_t>()(123));
  EXPECT_EQ(std::hash<RequestId>()(RequestId(1ull << 40)), std::hash<uint64_t>()(1ull << 40));
}

TEST(StrongId, NoneIsTheLargestValueAndNoOtherId) {
  EXPECT_TRUE(ServerId::none().is_none());
  EXPECT_EQ(ServerId::none().value(), std::numeric_limits<uint32_t>::max());
  EXPECT_FALSE(ServerId(0).is_none());
  EXPECT_FALSE(ServerId().is_none());  // a default id is 0, as the raw integer's default was
  EXPECT_EQ(ServerId(), ServerId(0));
  EXPECT_TRUE(RequestId::none().is_none());
  EXPECT_EQ(RequestId::none().value(), std::numeric_limits<uint64_t>::max());
}

TEST(StrongId, OrdersAsItsNumber) {
  EXPECT_LT(ModelId(1), ModelId(2));
  EXPECT_GT(ModelId(10), ModelId(9));
  EXPECT_NE(ModelId(3), ModelId(4));
  EXPECT_LT(ServerId(5), ServerId::none());
}

TEST(IdBelow, ListsEveryIdBelowTheCountInOrder) {
  std::vector<InstanceId> seen;
  for (const InstanceId id : ids_below<InstanceId>(3)) seen.push_back(id);
  EXPECT_EQ(seen, (std::vector<InstanceId>{InstanceId(0), InstanceId(1), InstanceId(2)}));
  EXPECT_TRUE(ids_below<ModelId>(0).empty());
}

TEST(IdVector, StoresEachElementUnderItsId) {
  IdVector<ModelId, std::string> names;
  EXPECT_EQ(names.next_id(), ModelId(0));
  names.push_back("a");
  names.push_back("b");
  EXPECT_EQ(names.next_id(), ModelId(2));
  EXPECT_EQ(names[ModelId(1)], "b");
  names[ModelId(0)] = "c";
  EXPECT_EQ(names.at(ModelId(0)), "c");
  EXPECT_THROW(names.at(ModelId(2)), std::out_of_range);
  std::vector<ModelId> ids;
  for (const ModelId id : names.ids()) ids.push_back(id);
  EXPECT_EQ(ids, (std::vector<ModelId>{ModelId(0), ModelId(1)}));
}

TEST(IdVector, HoldsFlagsInAVectorOfBool) {
  IdVector<ServerId, bool> named(2, false);
  named[ServerId(1)] = true;
  EXPECT_FALSE(named[ServerId(0)]);
  EXPECT_TRUE(named[ServerId(1)]);
}

}  // namespace slsim
