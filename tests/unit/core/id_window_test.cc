#include "sim/core/id_window.h"

#include <gtest/gtest.h>

#include <map>
#include <random>
#include <stdexcept>
#include <vector>

#include "sim/core/ids.h"

namespace slsim {

TEST(IdWindow, FindsWhatWasInsertedAndForgetsWhatWasErased) {
  IdWindow<RequestId, int> window;
  window.insert(RequestId(5), 50);
  window.insert(RequestId(9), 90);  // 6..8 never inserted (rejected requests)
  EXPECT_EQ(window.size(), 2u);
  EXPECT_EQ(window.at(RequestId(5)), 50);
  EXPECT_EQ(window.find(RequestId(7)), nullptr);
  EXPECT_EQ(window.find(RequestId(4)), nullptr);
  EXPECT_EQ(window.find(RequestId(10)), nullptr);
  window.erase(RequestId(5));
  EXPECT_EQ(window.find(RequestId(5)), nullptr);
  EXPECT_EQ(window.at(RequestId(9)), 90);
  EXPECT_THROW(window.at(RequestId(5)), std::out_of_range);
  EXPECT_THROW(window.erase(RequestId(5)), std::out_of_range);
  window.erase(RequestId(9));
  EXPECT_TRUE(window.empty());
  window.insert(RequestId(200), 2);  // after the window emptied, a later id starts it again
  EXPECT_EQ(window.at(RequestId(200)), 2);
}

TEST(IdWindow, RefusesAnIdNotAboveEveryEarlierOne) {
  IdWindow<RequestId, int> window;
  window.insert(RequestId(3), 0);
  EXPECT_THROW(window.insert(RequestId(3), 0), std::logic_error);
  window.erase(RequestId(3));
  EXPECT_THROW(window.insert(RequestId(2), 0), std::logic_error);
}

TEST(IdWindow, OneLongLivedValueDoesNotHoldTheWindowOpen) {
  IdWindow<RequestId, int> window;
  window.insert(RequestId(0), -1);  // lives throughout
  for (uint64_t id = 1; id < 100000; ++id) {
    window.insert(RequestId(id), static_cast<int>(id));
    if (id >= 10) window.erase(RequestId(id - 9));
  }
  EXPECT_EQ(window.size(), 10u);
  EXPECT_LE(window.ring_width(), 2 * window.size() + 64);
  EXPECT_EQ(window.at(RequestId(0)), -1);
  EXPECT_EQ(window.at(RequestId(99999)), 99999);
  window.erase(RequestId(0));
  EXPECT_EQ(window.find(RequestId(0)), nullptr);
  EXPECT_EQ(window.size(), 9u);
}

// Rising ids with gaps, retired in a random order, agree with a std::map throughout, across the
// ring's growth and wrap-around.
TEST(IdWindow, AgreesWithAMapWhenIdsRetireOutOfOrder) {
  std::mt19937_64 rng(11);
  IdWindow<RequestId, uint64_t> window;
  std::map<uint64_t, uint64_t> reference;
  uint64_t next = 0;
  for (int step = 0; step < 50000; ++step) {
    if (reference.empty() || rng() % 2 == 0) {
      next += 1 + rng() % 3;
      window.insert(RequestId(next), next * 7);
      reference[next] = next * 7;
      ASSERT_LE(window.ring_width(), 2 * window.size() + 64);  // the bound insert keeps
    } else {
      // Mostly among the oldest few, sometimes any: some values are left behind as stragglers.
      auto it = reference.begin();
      std::advance(it, static_cast<long>(rng() % std::min<size_t>(reference.size(), rng() % 8 == 0 ? 500 : 4)));
      window.erase(RequestId(it->first));
      reference.erase(it);
    }
    ASSERT_EQ(window.size(), reference.size());
    const uint64_t probe = next - rng() % 600;
    const uint64_t* found = window.find(RequestId(probe));
    const auto expected = reference.find(probe);
    ASSERT_EQ(found != nullptr, expected != reference.end()) << "id " << probe;
    if (found) {
      ASSERT_EQ(*found, expected->second);
    }
  }
  std::vector<uint64_t> visited;
  window.for_each([&](RequestId id, uint64_t value) {
    EXPECT_EQ(value, id.value() * 7);
    visited.push_back(id.value());
  });
  std::vector<uint64_t> expected;
  for (const auto& [id, value] : reference) expected.push_back(id);
  EXPECT_EQ(visited, expected);
}

}  // namespace slsim
