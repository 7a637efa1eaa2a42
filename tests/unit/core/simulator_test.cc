#include "sim/core/simulator.h"

#include <gtest/gtest.h>

#include <stdexcept>
#include <vector>

namespace slsim {
namespace {

// Records what it receives; honours cancellation by keeping the one sequence it still wants.
struct Recorder : EventHandler {
  std::vector<std::pair<int64_t, uint32_t>> seen;
  EventSeq wanted = 0;
  bool check_version = false;
  Simulator* sim = nullptr;
  void on_event(const Event& e) override {
    if (check_version && e.seq != wanted) return;
    seen.emplace_back(sim->now().ns(), e.target);
  }
};

}  // namespace

TEST(Simulator, DispatchesToTheRegisteredHandlerAtTheEventTime) {
  Simulator sim;
  Recorder a, b;
  a.sim = b.sim = &sim;
  const uint16_t ha = sim.add_handler(&a);
  const uint16_t hb = sim.add_handler(&b);
  sim.schedule_at(Time::from_ns(20), hb, 0, 2);
  sim.schedule_at(Time::from_ns(10), ha, 0, 1);
  sim.run();
  ASSERT_EQ(a.seen.size(), 1u);
  EXPECT_EQ(a.seen[0], std::make_pair(int64_t{10}, 1u));
  ASSERT_EQ(b.seen.size(), 1u);
  EXPECT_EQ(b.seen[0], std::make_pair(int64_t{20}, 2u));
  EXPECT_EQ(sim.now().ns(), 20);
  EXPECT_EQ(sim.events_handled(), 2u);
}

// Two events at 10 ns ask for the end of the timestamp; it runs once, after both and before
// the event at 20 ns, and an event it schedules at 10 ns still runs at 10 ns.
TEST(Simulator, EndOfTimestampRunsOnceAfterEveryEventAtThatTime) {
  struct Batcher : EventHandler {
    Simulator* sim = nullptr;
    uint16_t id = 0;
    std::vector<std::pair<int64_t, int>> log;  // (time, target or -1 for the end of a timestamp)
    void on_event(const Event& e) override {
      log.emplace_back(sim->now().ns(), static_cast<int>(e.target));
      if (e.target < 2) sim->at_end_of_timestamp(id);
    }
    void on_end_of_timestamp() override {
      log.emplace_back(sim->now().ns(), -1);
      if (log.size() == 3) sim->schedule_at(sim->now(), id, 0, 7);
    }
  };
  Simulator sim;
  Batcher b;
  b.sim = &sim;
  b.id = sim.add_handler(&b);
  sim.schedule_at(Time::from_ns(20), b.id, 0, 2);
  sim.schedule_at(Time::from_ns(10), b.id, 0, 0);
  sim.schedule_at(Time::from_ns(10), b.id, 0, 1);
  sim.run();
  EXPECT_EQ(b.log, (std::vector<std::pair<int64_t, int>>{{10, 0}, {10, 1}, {10, -1}, {10, 7}, {20, 2}}));
  EXPECT_EQ(sim.events_handled(), 4u);
}

TEST(Simulator, CancelledEventIsSkippedByItsVersion) {
  Simulator sim;
  Recorder r;
  r.sim = &sim;
  r.check_version = true;
  const uint16_t h = sim.add_handler(&r);
  sim.schedule_at(Time::from_ns(10), h, 0, 1);  // superseded below: stale
  r.wanted = sim.schedule_at(Time::from_ns(30), h, 0, 2);
  sim.run();
  ASSERT_EQ(r.seen.size(), 1u);
  EXPECT_EQ(r.seen[0].second, 2u);
}

TEST(Simulator, StopsAtTheEndTimeAndLeavesLaterEvents) {
  Simulator sim;
  Recorder r;
  r.sim = &sim;
  const uint16_t h = sim.add_handler(&r);
  sim.schedule_at(Time::from_ns(10), h, 0, 1);
  sim.schedule_at(Time::from_ns(100), h, 0, 2);
  sim.run(Time::from_ns(50));
  EXPECT_EQ(r.seen.size(), 1u);
  EXPECT_TRUE(sim.stopped_at_end());
  EXPECT_EQ(sim.now().ns(), 50);
}

TEST(Simulator, RefusesToScheduleInThePast) {
  Simulator sim;
  struct Late : EventHandler {
    Simulator* sim;
    void on_event(const Event&) override { sim->schedule_at(Time::from_ns(1), 0, 0, 0); }
  } late;
  late.sim = &sim;
  sim.add_handler(&late);
  sim.schedule_at(Time::from_ns(5), 0, 0, 0);
  EXPECT_THROW(sim.run(), std::logic_error);
}

namespace {
// Stands for an invariant that breaks at the event aimed at `broken_target`.
struct BreaksAtTarget : EventObserver {
  uint32_t broken_target = 0;
  int checked = 0;
  void after_event(const Event& e) override {
    ++checked;
    if (e.target == broken_target) throw std::logic_error("broken");
  }
};
}  // namespace

TEST(Simulator, ObserverSeesEveryEventAndItsThrowStopsTheRunAtThatEvent) {
  Simulator sim;
  Recorder r;
  r.sim = &sim;
  const uint16_t h = sim.add_handler(&r);
  for (uint32_t t = 1; t <= 4; ++t) sim.schedule_at(Time::from_ns(10 * t), h, 0, t);
  BreaksAtTarget observer;
  observer.broken_target = 3;
  sim.set_observer(&observer);
  EXPECT_THROW(sim.run(), std::logic_error);
  EXPECT_EQ(observer.checked, 3);
  EXPECT_EQ(sim.now().ns(), 30);
  EXPECT_EQ(r.seen.size(), 3u);
}

}  // namespace slsim

namespace slsim {
namespace {
// Reschedules itself every 10 ns forever, like a time-series sampler.
struct Ticker : EventHandler {
  Simulator* sim = nullptr;
  uint16_t handler = 0;
  int ticks = 0;
  void on_event(const Event&) override {
    ++ticks;
    sim->schedule_in(Time::from_ns(10), handler, 0, 0);
  }
};
}  // namespace

TEST(Simulator, BackgroundEventsNeitherExtendTheRunNorCount) {
  Simulator sim;
  Recorder work;
  Ticker ticker;
  work.sim = ticker.sim = &sim;
  const uint16_t hw = sim.add_handler(&work);
  ticker.handler = sim.add_handler(&ticker);
  sim.set_background(ticker.handler);
  sim.schedule_at(Time::zero(), ticker.handler, 0, 0);
  sim.schedule_at(Time::from_ns(35), hw, 0, 7);
  sim.run();
  EXPECT_EQ(ticker.ticks, 4);  // 0, 10, 20, 30; the one at 40 lies after the last real event
  EXPECT_EQ(sim.now().ns(), 35);
  EXPECT_EQ(sim.events_handled(), 1u);
}

}  // namespace slsim
