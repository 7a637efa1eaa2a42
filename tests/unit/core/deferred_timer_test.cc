#include "sim/core/deferred_timer.h"

#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

namespace slsim {
namespace {

constexpr uint16_t kDeadline = 0;
constexpr uint16_t kScript = 1;
constexpr uint16_t kMarker = 2;

// One step of a script: at `at`, arm `timer` for `at + delay` (cancel it when delay < 0) and
// schedule a marker at `at + marker_delay`, so that markers tie with deadlines.
struct Step {
  int64_t at;
  uint32_t timer;
  int64_t delay;
  int64_t marker_delay;
};

// Runs the script and logs what fires, in order: with plain scheduling (an event per arming,
// stale ones skipped by sequence) or with one DeferredTimer per timer.
class ScriptRunner : public EventHandler {
 public:
  ScriptRunner(std::vector<Step> steps, uint32_t timers, bool deferred)
      : steps_(std::move(steps)), deferred_(deferred), plain_(timers, 0), timers_(timers) {
    id_ = sim_.add_handler(this);
    for (uint32_t i = 0; i < steps_.size(); ++i) sim_.schedule_at(Time::from_ns(steps_[i].at), id_, kScript, i);
  }
  std::vector<std::string> run() {
    sim_.run();
    return log_;
  }
  uint64_t events() const { return sim_.events_handled(); }

  void on_event(const Event& e) override {
    const std::string at = std::to_string(sim_.now().ns());
    if (e.kind == kMarker) {
      log_.push_back(at + " marker " + std::to_string(e.target));
    } else if (e.kind == kDeadline) {
      const bool fired = deferred_ ? timers_[e.target].fire(sim_, e) : plain_[e.target] == e.seq;
      if (!deferred_ && fired) plain_[e.target] = 0;
      if (fired) log_.push_back(at + " timer " + std::to_string(e.target));
    } else {
      const Step& s = steps_[e.target];
      if (s.delay < 0) {
        if (deferred_) timers_[s.timer].cancel();
        plain_[s.timer] = 0;
      } else if (deferred_) {
        timers_[s.timer].arm(sim_, sim_.now() + Time::from_ns(s.delay), id_, kDeadline, s.timer);
      } else {
        plain_[s.timer] = sim_.schedule_in(Time::from_ns(s.delay), id_, kDeadline, s.timer);
      }
      sim_.schedule_in(Time::from_ns(s.marker_delay), id_, kMarker, e.target);
    }
  }

 private:
  Simulator sim_;
  uint16_t id_ = 0;
  std::vector<Step> steps_;
  bool deferred_;
  std::vector<EventSeq> plain_;
  std::vector<DeferredTimer> timers_;
  std::vector<std::string> log_;
};

}  // namespace

TEST(DeferredTimer, ReArmingLaterKeepsOneEventAndFiresAtTheLastDeadline) {
  // Armed at 0 for 100, at 10 for 110, at 20 for 120: the event at 100 finds the deadline at
  // 120 and pushes it there. Plain scheduling handles three deadline events, two of them stale.
  const std::vector<Step> steps{{0, 0, 100, 1}, {10, 0, 100, 1}, {20, 0, 100, 1}};
  ScriptRunner plain(steps, 1, false);
  ScriptRunner deferred(steps, 1, true);
  const std::vector<std::string> expected{"1 marker 0", "11 marker 1", "21 marker 2", "120 timer 0"};
  EXPECT_EQ(plain.run(), expected);
  EXPECT_EQ(deferred.run(), expected);
  EXPECT_EQ(plain.events(), 3u + 3u + 3u);
  EXPECT_EQ(deferred.events(), 3u + 3u + 2u);
}

TEST(DeferredTimer, ArmingEarlierThanItsQueuedEventFiresAtTheEarlierDeadline) {
  const std::vector<Step> steps{{0, 0, 100, 1}, {10, 0, 20, 1}};
  ScriptRunner deferred(steps, 1, true);
  EXPECT_EQ(deferred.run(), (std::vector<std::string>{"1 marker 0", "11 marker 1", "30 timer 0"}));
}

TEST(DeferredTimer, ACancelledTimerNeverFires) {
  const std::vector<Step> steps{{0, 0, 100, 1}, {10, 0, -1, 1}};
  ScriptRunner deferred(steps, 1, true);
  EXPECT_EQ(deferred.run(), (std::vector<std::string>{"1 marker 0", "11 marker 1"}));
}

// With many timers re-armed, cancelled and armed earlier at random, and markers that tie with
// the deadlines to the nanosecond, everything happens in the order plain scheduling gives, with
// fewer events.
TEST(DeferredTimer, RunsEverythingInTheOrderPlainSchedulingGives) {
  std::mt19937_64 rng(7);
  uint64_t plain_events = 0;
  uint64_t deferred_events = 0;
  for (int trial = 0; trial < 50; ++trial) {
    std::vector<Step> steps;
    for (int i = 0; i < 400; ++i) {
      const auto at = static_cast<int64_t>(rng() % 1000);
      const auto timer = static_cast<uint32_t>(rng() % 5);
      const int64_t delay = rng() % 10 == 0 ? -1 : static_cast<int64_t>(rng() % 60);
      steps.push_back(Step{at, timer, delay, static_cast<int64_t>(rng() % 60)});
    }
    ScriptRunner plain(steps, 5, false);
    ScriptRunner deferred(steps, 5, true);
    ASSERT_EQ(plain.run(), deferred.run()) << "trial " << trial;
    plain_events += plain.events();
    deferred_events += deferred.events();
  }
  EXPECT_LT(deferred_events, plain_events);
}

}  // namespace slsim
