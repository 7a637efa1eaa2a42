#pragma once
// Summary statistics of a trace, accumulated one request at a time in memory bounded by the
// number of distinct token counts (exact percentiles from counts per value), plus, for traces
// with prefix block ids, the number of distinct ids.

#include <cstdint>
#include <map>
#include <span>
#include <string>
#include <unordered_set>
#include <vector>

#include "sim/core/fields.h"

namespace slsim {

class TraceStats {
 public:
  void add(int64_t arrival_ns, int64_t input_tokens, int64_t output_tokens);
  // The prefix block ids of the request last add()ed, each naming `block_tokens` tokens of its
  // prompt (the last one clipped at the prompt's end). Calling it (even with no ids) adds the
  // `prefix` section.
  void add_prefix(int64_t input_tokens, std::span<const uint64_t> blocks, int64_t block_tokens);
  // requests, duration_s, mean_rate (requests / (last − first arrival)), interarrival_cv,
  // peak_rate_1s (most arrivals in one 1 s window, windows aligned at the first arrival), and
  // input_tokens / output_tokens {mean, p50, p99} (p: linear between order statistics, as numpy).
  // With prefix ids, `prefix`: block_references, distinct_blocks, block_reuse (the share of
  // references to an id seen before), prompt_tokens, reused_tokens (prompt tokens under an id
  // seen before) and hit_bound = reused_tokens / prompt_tokens, the token hit rate of an
  // infinite prefix cache that never evicts.
  Json to_json() const;
  // Signs that the times were read in the wrong unit (time_unit): a span over 30 days (ms
  // read as s), or more than 1000 requests within one second (s read as ms, us or ns).
  std::vector<std::string> unit_warnings() const;

 private:
  struct Lengths {
    std::map<int64_t, int64_t> counts;
    double sum = 0;
    Json to_json(int64_t n) const;
  };
  int64_t requests_ = 0;
  int64_t first_ns_ = 0;
  int64_t last_ns_ = 0;
  // Welford's running mean and squared deviations of the gaps, in seconds.
  int64_t gaps_ = 0;
  double gap_mean_ = 0;
  double gap_m2_ = 0;
  int64_t window_ = -1;
  int64_t window_count_ = 0;
  int64_t peak_ = 0;
  Lengths input_;
  Lengths output_;
  bool prefix_ = false;
  int64_t block_references_ = 0;
  int64_t reused_references_ = 0;
  int64_t prefix_prompt_tokens_ = 0;
  int64_t reused_tokens_ = 0;
  std::unordered_set<uint64_t> seen_blocks_;
};

}  // namespace slsim
