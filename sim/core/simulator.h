#pragma once
// The simulation loop: pops events in (time, sequence) order and hands each to the component
// that registered for it. Components own their state; the loop owns only the clock.

#include <cstdint>
#include <optional>
#include <vector>

#include "sim/core/event_queue.h"
#include "sim/core/time.h"

namespace slsim {

class EventHandler {
 public:
  virtual ~EventHandler() = default;
  virtual void on_event(const Event& event) = 0;
  // For messages that name an event, such as an invariant it broke.
  virtual const char* name() const { return "handler"; }
  // Asked for with Simulator::at_end_of_timestamp(): runs once every event at the current time
  // has been handled, before the clock moves on.
  virtual void on_end_of_timestamp() {}
};

// Called after every event (--check-invariants); may throw to stop the run.
class EventObserver {
 public:
  virtual ~EventObserver() = default;
  virtual void after_event(const Event& event) = 0;
};

// Glanced at every so many handled events, for a progress display: it may read the wall clock
// (rarely, hence the count), but never changes the simulation.
class ProgressObserver {
 public:
  virtual ~ProgressObserver() = default;
  virtual void on_progress(Time now) = 0;
};

class Simulator {
 public:
  // Returns the handler id to put in events meant for `handler`.
  uint16_t add_handler(EventHandler* handler);
  // Events for a background handler (a sampler) neither keep the run going nor count in
  // events_handled(): run() returns once only background events remain.
  void set_background(uint16_t handler);

  EventSeq schedule_at(Time when, uint16_t handler, uint16_t kind, uint32_t target);
  EventSeq schedule_in(Time delay, uint16_t handler, uint16_t kind, uint32_t target) {
    return schedule_at(now_ + delay, handler, kind, target);
  }
  // The sequence the next schedule_at() would take, drawn now for an event pushed later with
  // schedule_reserved(). The event then sorts where it would have had it been scheduled now;
  // pushing it is the caller's promise that no event it should precede has run yet.
  EventSeq reserve_seq() { return queue_.reserve_seq(); }
  void schedule_reserved(Time when, EventSeq seq, uint16_t handler, uint16_t kind, uint32_t target);
  // schedule_at() for the one source that always has exactly one event pending and schedules
  // the next as each fires (the workload's next arrival): the event waits beside the heap
  // (EventQueue::push_lane), in the same order. At most one such event may be pending.
  EventSeq schedule_lane_at(Time when, uint16_t handler, uint16_t kind, uint32_t target);

  // Calls handler->on_end_of_timestamp() once the events at now() are all handled, so that work
  // many events at one time make stale (a bandwidth share) is done once. It may schedule events
  // at now(); they run before the clock moves. Asking twice in one timestamp calls it once.
  void at_end_of_timestamp(uint16_t handler);

  // Runs until no events remain or the next one lies beyond `end`; the clock then rests at
  // the last event handled (or at `end` if events remained past it).
  void run(Time end = Time::max());

  Time now() const { return now_; }
  uint64_t events_handled() const { return events_handled_; }
  // Events pending that keep the run going (not a background handler's).
  int64_t foreground_pending() const { return foreground_pending_; }
  // The time of the earliest pending event; only while one is pending.
  Time next_event_time() const { return queue_.top().time; }
  // The time of the earliest pending event of a foreground handler, if any (a scan of the queue
  // when a background event comes first).
  std::optional<Time> next_foreground_event_time() const {
    if (queue_.empty()) return std::nullopt;
    if (!background_[queue_.top().handler]) return queue_.top().time;
    return queue_.earliest([this](const Event& e) { return !background_[e.handler]; });
  }
  void set_observer(EventObserver* observer) { observer_ = observer; }
  // Calls observer->on_progress() after every `every_events` foreground events (>= 1).
  void set_progress(ProgressObserver* observer, uint64_t every_events);
  const char* handler_name(uint16_t handler) const { return handlers_[handler]->name(); }
  bool stopped_at_end() const { return stopped_at_end_; }

 private:
  // What every way of scheduling checks and counts before the event goes in the queue.
  void count_scheduled(Time when, uint16_t handler);
  EventQueue queue_;
  std::vector<EventHandler*> handlers_;
  std::vector<bool> background_;    // by handler id
  std::vector<bool> ending_asked_;  // by handler id: in ending_
  std::vector<uint16_t> ending_;    // handlers to call at the end of the current timestamp
  std::vector<uint16_t> ending_now_;
  int64_t foreground_pending_ = 0;
  Time now_;
  uint64_t events_handled_ = 0;
  bool stopped_at_end_ = false;
  EventObserver* observer_ = nullptr;
  ProgressObserver* progress_ = nullptr;
  uint64_t progress_every_ = 0;
  // Events until the next on_progress(); never reaches 0 without an observer.
  uint64_t progress_countdown_ = UINT64_MAX;
};

}  // namespace slsim
