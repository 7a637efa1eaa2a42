#pragma once
// A bounded summary of a non-negative distribution: exact count, mean, min and max, and
// percentiles from log-spaced buckets (DDSketch, Masson et al., VLDB'19) with a relative error
// of at most kRelativeError. Memory grows with log(max / min) of the values, never with their
// number, so a 10^8-request replay costs what a 10^3-request one does.

#include <cstdint>
#include <vector>

namespace slsim {

class QuantileSketch {
 public:
  // Every reported percentile p̂ of a true nearest-rank percentile p > 0 has |p̂ − p| ≤ 0.1% · p.
  static constexpr double kRelativeError = 0.001;

  void add(double value);
  void merge(const QuantileSketch& other);

  int64_t count() const { return count_; }
  double mean() const { return count_ ? sum_ / static_cast<double>(count_) : 0; }
  double min() const { return min_; }
  double max() const { return max_; }
  // Nearest rank: an estimate of the smallest value with at least p% of the values at or below
  // it, clamped to [min, max]; ranks 1 and count are the exact min and max. p in (0, 100].
  double percentile(double p) const;

 private:
  int64_t count_ = 0;
  int64_t zeros_ = 0;  // values below kSmallest, reported as 0
  double sum_ = 0;
  double min_ = 0;
  double max_ = 0;
  int32_t first_index_ = 0;      // bucket index of counts_[0]
  std::vector<int64_t> counts_;  // bucket i holds (γ^(i−1), γ^i]
};

}  // namespace slsim
