#pragma once
// Requests from a mapped trace file, and the transformations every source can take: a time
// window, time compression and rate scaling.

#include <memory>
#include <optional>
#include <string>

#include "sim/core/random.h"
#include "sim/workload/model_assigner.h"
#include "sim/workload/source.h"
#include "sim/workload/trace_reader.h"

namespace slsim {

class TraceSource final : public RequestSource {
 public:
  TraceSource(const std::string& path, const TraceMapping& mapping, int64_t max_skipped, ModelAssigner assigner);
  std::optional<Request> next() override;
  int64_t skipped_lines() const override { return reader_.skipped(); }

 private:
  TraceReader reader_;
  ModelAssigner assigner_;
  bool keyed_;
  std::string model_field_;
};

// Keeps arrivals in [start_s, start_s + duration_s) of `inner` and moves them to start at 0,
// divides times by `time_scale`, then emits each arrival ⌊k⌋ times plus once more with
// probability k − ⌊k⌋ (k = rate_scale; 1 leaves the stream untouched and draws nothing).
class TransformedSource final : public RequestSource {
 public:
  TransformedSource(std::unique_ptr<RequestSource> inner, double start_s, std::optional<double> duration_s,
                    double time_scale, double rate_scale, RandomStream random);
  std::optional<Request> next() override;
  int64_t skipped_lines() const override { return inner_->skipped_lines(); }

 private:
  std::unique_ptr<RequestSource> inner_;
  Time start_;
  Time end_;
  double time_scale_;
  double rate_scale_;
  RandomStream random_;
  std::optional<Request> pending_;
  int64_t copies_left_ = 0;
};

}  // namespace slsim
