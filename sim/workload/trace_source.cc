#include "sim/workload/trace_source.h"

#include <cmath>

namespace slsim {

std::vector<uint64_t> engine_prefix_blocks(std::span<const uint64_t> trace_blocks, int64_t trace_block_tokens,
                                           int64_t engine_block_tokens) {
  const int64_t covered_tokens = static_cast<int64_t>(trace_blocks.size()) * trace_block_tokens;
  std::vector<uint64_t> blocks(static_cast<size_t>(covered_tokens / engine_block_tokens));
  for (size_t j = 0; j < blocks.size(); ++j) {
    const auto last_token = static_cast<int64_t>(j + 1) * engine_block_tokens - 1;
    const uint64_t trace_id = trace_blocks[static_cast<size_t>(last_token / trace_block_tokens)];
    blocks[j] = splitmix64(trace_id ^ splitmix64(j));
  }
  return blocks;
}

TraceSource::TraceSource(const std::string& path, const TraceMapping& mapping, int64_t max_skipped,
                         ModelAssigner assigner, int64_t engine_block_tokens)
    : reader_(path, mapping, max_skipped),
      assigner_(std::move(assigner)),
      keyed_(!mapping.model_field.empty()),
      model_field_(mapping.model_field),
      engine_block_tokens_(engine_block_tokens) {}

std::optional<Request> TraceSource::next() {
  const TraceRecord* record = reader_.next();
  if (!record) return std::nullopt;
  Request r;
  if (keyed_) {
    std::string error;
    const auto model = assigner_.for_id(record->model_id, error);
    if (!model) reader_.fail(model_field_, error);
    r.model = *model;
  } else {
    r.model = assigner_.for_request();
  }
  r.arrival = Time::from_ns(record->time_ns);
  r.input_tokens = record->input_tokens;
  r.output_tokens = record->output_tokens;
  r.samples = record->samples;
  r.beam_width = record->beam_width;
  r.prefix_blocks = record->prefix_block_tokens > 0
                        ? engine_prefix_blocks(record->prefix_blocks, record->prefix_block_tokens, engine_block_tokens_)
                        : record->prefix_blocks;
  return r;
}

TransformedSource::TransformedSource(std::unique_ptr<RequestSource> inner, double start_s,
                                     std::optional<double> duration_s, double time_scale, double rate_scale,
                                     RandomStream random)
    : inner_(std::move(inner)),
      start_(Time::from_seconds(start_s)),
      end_(duration_s ? Time::from_seconds(start_s + *duration_s) : Time::max()),
      time_scale_(time_scale),
      rate_scale_(rate_scale),
      random_(random) {}

std::optional<Request> TransformedSource::next() {
  if (copies_left_ > 0) {
    --copies_left_;
    return pending_;
  }
  while (auto r = inner_->next()) {
    if (r->arrival < start_) continue;
    if (r->arrival >= end_) return std::nullopt;
    const int64_t since_start_ns = (r->arrival - start_).ns();
    r->arrival = time_scale_ == 1 ? Time::from_ns(since_start_ns)
                                  : Time::from_ns(std::llround(static_cast<double>(since_start_ns) / time_scale_));
    int64_t copies = 1;
    if (rate_scale_ != 1) {
      const double whole = std::floor(rate_scale_);
      copies = static_cast<int64_t>(whole) + (random_.uniform() < rate_scale_ - whole ? 1 : 0);
    }
    if (copies == 0) continue;
    copies_left_ = copies - 1;
    if (copies_left_ > 0) pending_ = r;
    return r;
  }
  return std::nullopt;
}

}  // namespace slsim
