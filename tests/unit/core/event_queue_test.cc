#include "sim/core/event_queue.h"

#include <gtest/gtest.h>

#include <random>
#include <set>
#include <stdexcept>
#include <utility>
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

// Pushes (to the heap and to the lane beside it) and pops interleaved at random, at queue sizes
// that leave the last parent with one to four children, agree with a sorted reference of
// (time, sequence).
TEST(EventQueue, InterleavedPushesAndPopsAgreeWithASortedReference) {
  EventQueue q;
  bool lane_full = false;
  std::set<std::pair<int64_t, EventSeq>> reference;
  std::mt19937_64 rng(5);
  int64_t now = 0;
  for (int i = 0; i < 200000; ++i) {
    if (reference.empty() || rng() % 100 < 52) {
      const int64_t at = now + static_cast<int64_t>(rng() % 40);
      // The lane takes an event whenever it is free and a coin says so.
      const bool lane = !lane_full && rng() % 3 == 0;
      const EventSeq seq = lane ? q.push_lane(Time::from_ns(at), 0, 0, 1) : q.push(Time::from_ns(at), 0, 0, 0);
      lane_full = lane_full || lane;
      reference.emplace(at, seq);
    } else {
      ASSERT_EQ(std::make_pair(q.top().time.ns(), q.top().seq), *reference.begin()) << "top " << i;
      const Event e = q.pop();
      ASSERT_EQ(std::make_pair(e.time.ns(), e.seq), *reference.begin()) << "pop " << i;
      if (e.target == 1) lane_full = false;
      reference.erase(reference.begin());
      now = e.time.ns();
    }
    ASSERT_EQ(q.size(), reference.size());
  }
}

TEST(EventQueue, AReservedSequenceSortsWhereItWasDrawn) {
  EventQueue q;
  const EventSeq early = q.reserve_seq();
  q.push(Time::from_ns(10), 0, 0, 2);
  q.push_reserved(Time::from_ns(10), early, 0, 0, 1);
  EXPECT_EQ(q.pop().target, 1u);
  EXPECT_EQ(q.pop().target, 2u);
}

TEST(EventQueue, TheLaneHoldsOneEventAtATime) {
  EventQueue q;
  q.push(Time::from_ns(5), 0, 0, 2);
  q.push_lane(Time::from_ns(5), 0, 0, 1);  // ties with the heap's event, scheduled after it
  EXPECT_THROW(q.push_lane(Time::from_ns(1), 0, 0, 3), std::logic_error);
  EXPECT_EQ(q.size(), 2u);
  EXPECT_EQ(q.pop().target, 2u);
  EXPECT_EQ(q.pop().target, 1u);
  EXPECT_TRUE(q.empty());
  q.push_lane(Time::from_ns(9), 0, 0, 4);
  EXPECT_EQ(q.top().target, 4u);
}

TEST(EventQueue, SequenceNumbersAreUniqueAndIncreasing) {
  EventQueue q;
  const EventSeq a = q.push(Time::from_ns(1), 0, 0, 0);
  const EventSeq b = q.push(Time::from_ns(0), 0, 0, 0);
  EXPECT_LT(a, b);
  EXPECT_NE(a, 0u);
}

}  // namespace slsim
