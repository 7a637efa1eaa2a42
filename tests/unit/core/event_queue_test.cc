#include "sim/core/event_queue.h"

#include <gtest/gtest.h>

#include <random>
#include <vector>

namespace slsim {

TEST(EventQueue, PopsInTimeOrder) {
  EventQueue q;
  q.push(Time::from_ns(30), 0, 0, 3);
  q.push(Time::from_ns(10), 0, 0, 1);
  q.push(Time::from_ns(20), 0, 0, 2);
  EXPECT_EQ(q.pop().target, 1u);
  EXPECT_EQ(q.pop().target, 2u);
  EXPECT_EQ(q.pop().target, 3u);
  EXPECT_TRUE(q.empty());
}

TEST(EventQueue, EqualTimesPopInSchedulingOrder) {
  EventQueue q;
  for (uint32_t i = 0; i < 100; ++i) q.push(Time::from_ns(5), 0, 0, i);
  for (uint32_t i = 0; i < 100; ++i) EXPECT_EQ(q.pop().target, i);
}

TEST(EventQueue, RandomScheduleComesOutSortedByTimeThenSequence) {
  EventQueue q;
  std::mt19937_64 rng(7);
  for (int i = 0; i < 10000; ++i) q.push(Time::from_ns(static_cast<int64_t>(rng() % 50)), 0, 0, 0);
  Event previous = q.pop();
  while (!q.empty()) {
    const Event e = q.pop();
    ASSERT_TRUE(previous.time < e.time || (previous.time == e.time && previous.seq < e.seq));
    previous = e;
  }
}

TEST(EventQueue, SequenceNumbersAreUniqueAndIncreasing) {
  EventQueue q;
  const EventSeq a = q.push(Time::from_ns(1), 0, 0, 0);
  const EventSeq b = q.push(Time::from_ns(0), 0, 0, 0);
  EXPECT_LT(a, b);
  EXPECT_NE(a, 0u);
}

}  // namespace slsim
