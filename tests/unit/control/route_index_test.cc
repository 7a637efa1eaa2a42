#include "sim/control/route_index.h"

#include <gtest/gtest.h>

#include <map>
#include <random>
#include <set>
#include <stdexcept>
#include <tuple>

namespace slsim {

TEST(RouteIndex, TakesTheFewestOutstandingThenTheEarliestInRouteOrder) {
  RouteIndex index;
  EXPECT_TRUE(index.empty());
  const uint32_t a = index.insert(InstanceId(7), 2, 1);
  const uint32_t b = index.insert(InstanceId(3), 5, 0);
  const uint32_t c = index.insert(InstanceId(9), 1, 0);
  EXPECT_EQ(index.best(), InstanceId(9));  // 0 outstanding, order 1 before order 5
  index.update(c, 2);
  EXPECT_EQ(index.best(), InstanceId(3));
  index.update(b, 3);
  EXPECT_EQ(index.best(), InstanceId(7));
  index.erase(a);
  EXPECT_EQ(index.best(), InstanceId(9));  // 2 outstanding before 3
  EXPECT_EQ(index.size(), 2u);
  EXPECT_EQ(index.at(b).outstanding, 3);
}

TEST(RouteIndex, LeavesKeepTheirNumbersAsTheTreeGrows) {
  RouteIndex index;
  std::vector<uint32_t> leaves;
  for (uint32_t i = 0; i < 100; ++i) leaves.push_back(index.insert(InstanceId(i), 1000 - i, 5));
  for (uint32_t i = 0; i < 100; ++i) {
    EXPECT_EQ(index.at(leaves[i]).instance, InstanceId(i));
    EXPECT_EQ(index.at(leaves[i]).order, 1000u - i);
  }
  EXPECT_EQ(index.best(), InstanceId(99));
}

TEST(RouteIndex, RefusesCountsAndOrdersBeyondItsPackedRange) {
  RouteIndex index;
  EXPECT_THROW(index.insert(InstanceId(1), 0, int64_t{1} << 31), std::length_error);
  EXPECT_THROW(index.insert(InstanceId(1), uint64_t{1} << 32, 0), std::length_error);
  const uint32_t leaf = index.insert(InstanceId(1), 0xffffffffu, (int64_t{1} << 31) - 1);
  EXPECT_EQ(index.at(leaf).outstanding, (int64_t{1} << 31) - 1);
  EXPECT_EQ(index.at(leaf).order, 0xffffffffu);
}

// Random inserts, count changes and erases agree with a std::set of (count, order, instance).
TEST(RouteIndex, AgreesWithAnOrderedSetUnderRandomChanges) {
  std::mt19937_64 rng(3);
  RouteIndex index;
  std::set<std::tuple<int64_t, uint64_t, InstanceId>> reference;
  std::map<InstanceId, std::pair<uint32_t, std::tuple<int64_t, uint64_t, InstanceId>>> held;
  uint64_t next_order = 0;
  for (int step = 0; step < 20000; ++step) {
    const auto instance = static_cast<InstanceId>(rng() % 300);
    const auto count = static_cast<int64_t>(rng() % 6);
    const auto it = held.find(instance);
    if (it == held.end()) {
      const std::tuple<int64_t, uint64_t, InstanceId> key{count, next_order++, instance};
      held[instance] = {index.insert(instance, std::get<1>(key), count), key};
      reference.insert(key);
    } else if (rng() % 4 == 0) {
      index.erase(it->second.first);
      reference.erase(it->second.second);
      held.erase(it);
    } else {
      reference.erase(it->second.second);
      std::get<0>(it->second.second) = count;
      reference.insert(it->second.second);
      index.update(it->second.first, count);
    }
    ASSERT_EQ(index.size(), reference.size());
    if (!reference.empty()) {
      ASSERT_EQ(index.best(), std::get<2>(*reference.begin())) << "step " << step;
    }
  }
  size_t visited = 0;
  index.for_each([&](const RouteIndex::Entry& key) {
    ++visited;
    EXPECT_TRUE(reference.contains({key.outstanding, key.order, key.instance}));
  });
  EXPECT_EQ(visited, reference.size());
}

}  // namespace slsim
