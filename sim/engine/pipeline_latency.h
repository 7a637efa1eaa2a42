#pragma once
// An instance whose layers are split into pipeline stages on several servers (HydraServe's
// parallel cold start, load_source hydraserve): a step does the model's work, as on one server,
// and moves its activations (one hidden-size vector per token the step computes) across each
// boundary between stages, one boundary after the other. Stages do not overlap within a step:
// a serving step is one batch, not micro-batches. The hand-off is taken at the boundary's idle
// link rate, a fixed cost per token; latency per hop and contention are left out.

#include <cstdint>
#include <string>
#include <vector>

#include "sim/engine/latency_model.h"

namespace slsim {

class PipelineLatency final : public LatencyModel {
 public:
  // `boundary_s_per_token`: the time one token's activations take over every stage boundary, summed.
  PipelineLatency(const LatencyModel& inner, double boundary_s_per_token)
      : inner_(inner), boundary_s_per_token_(boundary_s_per_token) {}
  // Consolidated onto one server: no boundaries from the next step on.
  void consolidate() { boundary_s_per_token_ = 0; }
  bool pipelined() const { return boundary_s_per_token_ > 0; }

  Time step_time(const StepShape& shape) const override { return inner_.step_time(shape) + hand_offs(shape); }
  Time run_step_times(StepShape shape, int64_t steps, Time* times) const override {
    const Time total = inner_.run_step_times(shape, steps, times);
    // Each decode step of a run computes one token per sequence: the same hand-offs each.
    const Time extra = hand_offs(shape);
    if (extra == Time::zero()) return total;
    for (int64_t i = 0; i < steps; ++i) times[i] = times[i] + extra;
    return total + Time::from_ns(extra.ns() * steps);
  }
  std::vector<std::string> estimates() const override {
    std::vector<std::string> lines = inner_.estimates();
    lines.emplace_back("pipeline stage hand-offs: activations per token over the stage boundaries at idle link rates");
    return lines;
  }

 private:
  Time hand_offs(const StepShape& shape) const {
    const auto tokens = static_cast<double>(shape.prefill_tokens + shape.decode_sequences);
    return Time::from_seconds(tokens * boundary_s_per_token_);
  }

  const LatencyModel& inner_;
  double boundary_s_per_token_;
};

}  // namespace slsim
