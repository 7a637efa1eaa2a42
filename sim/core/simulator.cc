#include "sim/core/simulator.h"

#include <stdexcept>

namespace slsim {

uint16_t Simulator::add_handler(EventHandler* handler) {
  if (handlers_.size() >= UINT16_MAX) throw std::length_error("too many event handlers");
  handlers_.push_back(handler);
  background_.push_back(false);
  ending_asked_.push_back(false);
  return static_cast<uint16_t>(handlers_.size() - 1);
}

void Simulator::set_background(uint16_t handler) { background_.at(handler) = true; }

EventSeq Simulator::schedule_at(Time when, uint16_t handler, uint16_t kind, uint32_t target) {
  const EventSeq seq = queue_.reserve_seq();
  schedule_reserved(when, seq, handler, kind, target);
  return seq;
}

void Simulator::count_scheduled(Time when, uint16_t handler) {
  if (when < now_) throw std::logic_error("an event was scheduled in the past");
  if (!background_[handler]) ++foreground_pending_;
}

void Simulator::schedule_reserved(Time when, EventSeq seq, uint16_t handler, uint16_t kind, uint32_t target) {
  count_scheduled(when, handler);
  queue_.push_reserved(when, seq, handler, kind, target);
}

EventSeq Simulator::schedule_lane_at(Time when, uint16_t handler, uint16_t kind, uint32_t target) {
  count_scheduled(when, handler);
  return queue_.push_lane(when, handler, kind, target);
}

void Simulator::set_progress(ProgressObserver* observer, uint64_t every_events) {
  if (every_events == 0) throw std::invalid_argument("progress every 0 events");
  progress_ = observer;
  progress_every_ = every_events;
  progress_countdown_ = observer ? every_events : UINT64_MAX;
}

void Simulator::at_end_of_timestamp(uint16_t handler) {
  if (ending_asked_.at(handler)) return;
  ending_asked_[handler] = true;
  ending_.push_back(handler);
}

void Simulator::run(Time end) {
  stopped_at_end_ = false;
  while (foreground_pending_ > 0 || !ending_.empty()) {
    if (!ending_.empty() && (foreground_pending_ == 0 || queue_.top().time > now_)) {
      // In the order asked; a handler asking again from here is called again before time moves.
      ending_now_.swap(ending_);
      for (const uint16_t handler : ending_now_) ending_asked_[handler] = false;
      for (const uint16_t handler : ending_now_) handlers_[handler]->on_end_of_timestamp();
      ending_now_.clear();
      continue;
    }
    if (queue_.top().time > end) {
      now_ = end;
      stopped_at_end_ = true;
      return;
    }
    const Event event = queue_.pop();
    if (event.time < now_) throw std::logic_error("simulated time went backwards");
    now_ = event.time;
    if (!background_[event.handler]) {
      --foreground_pending_;
      ++events_handled_;
      if (--progress_countdown_ == 0) {
        progress_countdown_ = progress_every_;
        progress_->on_progress(now_);
      }
    }
    handlers_[event.handler]->on_event(event);
    if (observer_) observer_->after_event(event);
  }
}

}  // namespace slsim
