#pragma once
// A deadline that is re-armed far more often than it passes (an idle instance's keep-alive,
// re-armed every time the instance goes idle). Scheduling an event per arming would leave one
// stale event per arming in the queue until its time came: with a keep-alive of an hour, an
// hour of arrivals. A DeferredTimer keeps at most one event of its own in the queue: arming it
// later than that event only records the deadline, with the sequence a plain schedule_at()
// would have drawn, and the event, when it fires, pushes the deadline under that key. Events
// therefore run in exactly the order plain scheduling gives; only stale events are saved.

#include <cstdint>

#include "sim/core/simulator.h"

namespace slsim {

class DeferredTimer {
 public:
  // Arms the timer for `when` (≥ now), replacing the deadline it had.
  void arm(Simulator& sim, Time when, uint16_t handler, uint16_t kind, uint32_t target) {
    deadline_ = when;
    deadline_seq_ = sim.reserve_seq();
    // An event in the queue at or before the deadline carries it; a later one cannot (the
    // deadline would pass first), so it goes stale and the deadline gets an event of its own.
    if (queued_seq_ != 0 && queued_at_ <= when) return;
    push(sim, handler, kind, target);
  }
  void cancel() { deadline_seq_ = 0; }

  // To be called with every event of this timer's handler, kind and target. True when the
  // deadline has passed (the timer is then disarmed); false for an event that was stale or that
  // only carried the deadline forward.
  bool fire(Simulator& sim, const Event& event) {
    if (event.seq != queued_seq_) return false;
    queued_seq_ = 0;
    if (deadline_seq_ == event.seq) {
      deadline_seq_ = 0;
      return true;
    }
    if (deadline_seq_ != 0) push(sim, event.handler, event.kind, event.target);
    return false;
  }

 private:
  void push(Simulator& sim, uint16_t handler, uint16_t kind, uint32_t target) {
    sim.schedule_reserved(deadline_, deadline_seq_, handler, kind, target);
    queued_at_ = deadline_;
    queued_seq_ = deadline_seq_;
  }
  Time deadline_;
  EventSeq deadline_seq_ = 0;  // 0: not armed
  Time queued_at_;
  EventSeq queued_seq_ = 0;  // the timer's event in the queue; 0: none
};

}  // namespace slsim
