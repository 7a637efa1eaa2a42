#pragma once
// Requests from a mapped trace file, and the transformations every source can take: a time
// window, time compression and rate scaling.

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "sim/core/random.h"
#include "sim/workload/model_assigner.h"
#include "sim/workload/source.h"
#include "sim/workload/trace_reader.h"

namespace slsim {

// The engine's prefix block ids for a prompt whose trace names one id per `trace_block_tokens`
// tokens. Engine block j holds tokens [j·E, (j+1)·E) (E = engine_block_tokens); its id is
// derived from the id of the trace block holding its last token and from j. Trace ids name a
// whole prefix (Mooncake's hash_ids hash each block with all before it), so two prompts share
// engine block j exactly when they share that trace block; the derived ids are a 64-bit mix,
// distinct in practice. Only engine blocks that the trace blocks cover whole are returned.
std::vector<uint64_t> engine_prefix_blocks(std::span<const uint64_t> trace_blocks, int64_t trace_block_tokens,
                                           int64_t engine_block_tokens);

// Requests from a mapped trace file; prefix ids with a size (mapping.prefix_block_tokens or the
// row's prefix_block_tokens_field) are mapped onto engine blocks of `engine_block_tokens`.
class TraceSource final : public RequestSource {
 public:
  TraceSource(const std::string& path, const TraceMapping& mapping, int64_t max_skipped, ModelAssigner assigner,
              int64_t engine_block_tokens);
  std::optional<Request> next() override;
  int64_t skipped_lines() const override { return reader_.skipped(); }

 private:
  TraceReader reader_;
  ModelAssigner assigner_;
  bool keyed_;
  std::string model_field_;
  int64_t engine_block_tokens_;
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
