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
  const Event& top() const { return heap_.top(); }
  Event pop() {
    Event e = heap_.top();
    heap_.pop();
    return e;
  }
  bool empty() const { return heap_.empty(); }
  size_t size() const { return heap_.size(); }
  void reserve(size_t n) { heap_.reserve(n); }

 private:
  struct Later {
    bool operator()(const Event& a, const Event& b) const {
      return a.time != b.time ? a.time > b.time : a.seq > b.seq;
    }
  };
  boost::heap::d_ary_heap<Event, boost::heap::arity<4>, boost::heap::compare<Later>> heap_;
  EventSeq last_seq_ = 0;
};

}  // namespace slsim
