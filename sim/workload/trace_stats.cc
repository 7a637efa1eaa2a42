#include "sim/workload/trace_stats.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

namespace slsim {

void TraceStats::add(int64_t arrival_ns, int64_t input_tokens, int64_t output_tokens) {
  if (requests_ == 0) {
    first_ns_ = arrival_ns;
  } else {
    const double gap = static_cast<double>(arrival_ns - last_ns_) * 1e-9;
    ++gaps_;
    const double delta = gap - gap_mean_;
    gap_mean_ += delta / static_cast<double>(gaps_);
    gap_m2_ += delta * (gap - gap_mean_);
  }
  last_ns_ = arrival_ns;
  ++requests_;
  const int64_t window = (arrival_ns - first_ns_) / 1000000000;
  if (window != window_) {
    window_ = window;
    window_count_ = 0;
  }
  peak_ = std::max(peak_, ++window_count_);
  ++input_.counts[input_tokens];
  input_.sum += static_cast<double>(input_tokens);
  ++output_.counts[output_tokens];
  output_.sum += static_cast<double>(output_tokens);
}

void TraceStats::add_prefix(int64_t input_tokens, std::span<const uint64_t> blocks, int64_t block_tokens) {
  prefix_ = true;
  prefix_prompt_tokens_ += input_tokens;
  for (size_t i = 0; i < blocks.size(); ++i) {
    ++block_references_;
    if (seen_blocks_.insert(blocks[i]).second) continue;
    ++reused_references_;
    const int64_t begin = static_cast<int64_t>(i) * block_tokens;
    reused_tokens_ += std::clamp<int64_t>(input_tokens - begin, 0, block_tokens);
  }
}

Json TraceStats::Lengths::to_json(int64_t n) const {
  // Linear interpolation between order statistics (numpy's default), as the published trace
  // tables are computed.
  const auto order_statistic = [&](int64_t index) {
    int64_t seen = 0;
    for (const auto& [value, count] : counts) {
      seen += count;
      if (seen > index) return value;
    }
    return counts.rbegin()->first;
  };
  const auto percentile = [&](double p) -> Json {
    if (n == 0) return nullptr;
    const double position = p / 100 * static_cast<double>(n - 1);
    const auto below = static_cast<int64_t>(std::floor(position));
    const auto low = static_cast<double>(order_statistic(below));
    const auto high = static_cast<double>(order_statistic(std::min(below + 1, n - 1)));
    return low + (high - low) * (position - static_cast<double>(below));
  };
  Json out;
  out["mean"] = n == 0 ? Json(nullptr) : Json(sum / static_cast<double>(n));
  out["p50"] = percentile(50);
  out["p99"] = percentile(99);
  return out;
}

Json TraceStats::to_json() const {
  const double duration_s = static_cast<double>(last_ns_ - first_ns_) * 1e-9;
  Json out;
  out["requests"] = requests_;
  out["duration_s"] = duration_s;
  out["mean_rate"] = duration_s > 0 ? Json(static_cast<double>(requests_) / duration_s) : Json(nullptr);
  out["interarrival_cv"] =
      gaps_ > 0 && gap_mean_ > 0 ? Json(std::sqrt(gap_m2_ / static_cast<double>(gaps_)) / gap_mean_) : Json(nullptr);
  out["peak_rate_1s"] = peak_;
  out["input_tokens"] = input_.to_json(requests_);
  out["output_tokens"] = output_.to_json(requests_);
  if (prefix_) {
    const auto share = [](int64_t part, int64_t whole) {
      return whole > 0 ? Json(static_cast<double>(part) / static_cast<double>(whole)) : Json(nullptr);
    };
    out["prefix"] = {{"block_references", block_references_},
                     {"distinct_blocks", static_cast<int64_t>(seen_blocks_.size())},
                     {"block_reuse", share(reused_references_, block_references_)},
                     {"prompt_tokens", prefix_prompt_tokens_},
                     {"reused_tokens", reused_tokens_},
                     {"hit_bound", share(reused_tokens_, prefix_prompt_tokens_)}};
  }
  return out;
}

std::vector<std::string> TraceStats::unit_warnings() const {
  // Real serving traces span minutes to weeks at rates of a few to thousands per second: a
  // month of arrivals is what a trace in ms read as s looks like, and a thousand requests in
  // under a second what seconds read as ms (or smaller) look like.
  constexpr int64_t kLongest_ns = 30LL * 24 * 3600 * 1'000'000'000;
  constexpr int64_t kShortest_ns = 1'000'000'000;
  constexpr int64_t kManyRequests = 1000;
  const int64_t span_ns = last_ns_ - first_ns_;
  std::vector<std::string> warnings;
  if (span_ns > kLongest_ns)
    warnings.push_back(
        fmt::format("the trace spans {} days: are its times in a smaller unit than the one read "
                    "(set the time unit)?",
                    static_cast<double>(span_ns) / (24 * 3600 * 1e9)));
  if (requests_ > kManyRequests && span_ns < kShortest_ns)
    warnings.push_back(
        fmt::format("all {} requests arrive within {} s: are its times in a larger unit than the one "
                    "read (set the time unit)?",
                    requests_, static_cast<double>(span_ns) / 1e9));
  return warnings;
}

}  // namespace slsim
