#pragma once
// The pending-event set: a 4-ary heap (Boost.Heap) of small plain events ordered by
// (time, sequence). The sequence number makes ties FIFO and doubles as the event's version:
// an owner that keeps the sequence of the event it still wants can recognise and skip a
// cancelled one in O(1), without searching the heap.
//
// Invariants: no allocation per event once the heap's vector has grown; every sequence is drawn
// once from one rising counter, so no two events compare equal. A sequence may be drawn before
// its event is pushed (reserve_seq(), push_reserved()): a DeferredTimer pushes the event that a
// re-arming would have scheduled only once its earlier event fires, under the same key.

#include <boost/heap/d_ary_heap.hpp>
#include <cstdint>
#include <optional>
#include <stdexcept>

#include "sim/core/time.h"

namespace slsim {

// Identifies one scheduled event; 0 means "none". Owners store it to cancel by version.
using EventSeq = uint64_t;

struct Event {
  Time time;
  EventSeq seq = 0;
  uint16_t handler = 0;  // which component receives the event
  uint16_t kind = 0;     // what happened, as that component numbers it
  uint32_t target = 0;   // which of the component's entities it concerns
};
static_assert(sizeof(Event) == 24, "events stay small so the heap stays cache-friendly");

class EventQueue {
 public:
  EventSeq push(Time time, uint16_t handler, uint16_t kind, uint32_t target) {
    const EventSeq seq = reserve_seq();
    push_reserved(time, seq, handler, kind, target);
    return seq;
  }
  EventSeq reserve_seq() { return ++last_seq_; }
  void push_reserved(Time time, EventSeq seq, uint16_t handler, uint16_t kind, uint32_t target) {
    heap_.push(Event{time, seq, handler, kind, target});
  }
  // One event kept beside the heap, for the source that always has exactly one event pending
  // and schedules the next as each fires (the workload's next arrival): a third of a serving
  // run's events then skip the heap's sift-up and sift-down. It is ordered with the heap's
  // events by the same key, so the pop order is the same as if it were in the heap.
  EventSeq push_lane(Time time, uint16_t handler, uint16_t kind, uint32_t target) {
    if (lane_full_) throw std::logic_error("an event was put in the event queue's lane while it held one");
    lane_ = Event{time, reserve_seq(), handler, kind, target};
    lane_full_ = true;
    return lane_.seq;
  }
  const Event& top() const { return lane_first() ? lane_ : heap_.top(); }
  Event pop() {
    if (lane_first()) {
      lane_full_ = false;
      return lane_;
    }
    Event e = heap_.top();
    heap_.pop();
    return e;
  }
  // The earliest time of a pending event that `counts` accepts, by a scan (for rare questions).
  template <class Pred>
  std::optional<Time> earliest(Pred counts) const {
    std::optional<Time> earliest;
    const auto consider = [&](const Event& e) {
      if (counts(e) && (!earliest || e.time < *earliest)) earliest = e.time;
    };
    for (const Event& e : heap_) consider(e);
    if (lane_full_) consider(lane_);
    return earliest;
  }
  bool empty() const { return heap_.empty() && !lane_full_; }
  size_t size() const { return heap_.size() + (lane_full_ ? 1 : 0); }
  void reserve(size_t n) { heap_.reserve(n); }

 private:
  struct Later {
    bool operator()(const Event& a, const Event& b) const { return a.time != b.time ? a.time > b.time : a.seq > b.seq; }
  };
  bool lane_first() const { return lane_full_ && (heap_.empty() || Later{}(heap_.top(), lane_)); }
  boost::heap::d_ary_heap<Event, boost::heap::arity<4>, boost::heap::compare<Later>> heap_;
  Event lane_;
  bool lane_full_ = false;
  EventSeq last_seq_ = 0;
};

}  // namespace slsim
