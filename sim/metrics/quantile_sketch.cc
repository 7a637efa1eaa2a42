#include "sim/metrics/quantile_sketch.h"

#include <algorithm>
#include <cmath>

namespace slsim {
namespace {

constexpr double kGamma = (1 + QuantileSketch::kRelativeError) / (1 - QuantileSketch::kRelativeError);
const double kLogGamma = std::log(kGamma);
// Times are whole nanoseconds, so a positive duration in seconds is at least 1e-9.
constexpr double kSmallest = 1e-12;

int32_t bucket_index(double value) { return static_cast<int32_t>(std::ceil(std::log(value) / kLogGamma)); }

// The point of (γ^(i−1), γ^i] at most kRelativeError from both ends.
double bucket_value(int32_t index) { return 2 * std::pow(kGamma, index) / (kGamma + 1); }

}  // namespace

void QuantileSketch::add(double value) {
  if (count_ == 0) {
    min_ = max_ = value;
  } else {
    min_ = std::min(min_, value);
    max_ = std::max(max_, value);
  }
  ++count_;
  sum_ += value;
  if (value < kSmallest) {
    ++zeros_;
    return;
  }
  const int32_t index = bucket_index(value);
  if (counts_.empty()) {
    first_index_ = index;
    counts_.push_back(0);
  } else if (index < first_index_) {
    counts_.insert(counts_.begin(), static_cast<size_t>(first_index_ - index), 0);
    first_index_ = index;
  } else if (index - first_index_ >= static_cast<int32_t>(counts_.size())) {
    counts_.resize(static_cast<size_t>(index - first_index_) + 1, 0);
  }
  ++counts_[static_cast<size_t>(index - first_index_)];
}

void QuantileSketch::merge(const QuantileSketch& other) {
  if (other.count_ == 0) return;
  if (count_ == 0) {
    *this = other;
    return;
  }
  min_ = std::min(min_, other.min_);
  max_ = std::max(max_, other.max_);
  count_ += other.count_;
  zeros_ += other.zeros_;
  sum_ += other.sum_;
  if (other.counts_.empty()) return;
  if (counts_.empty()) {
    first_index_ = other.first_index_;
    counts_ = other.counts_;
    return;
  }
  const int32_t first = std::min(first_index_, other.first_index_);
  const int32_t end = std::max(first_index_ + static_cast<int32_t>(counts_.size()),
                               other.first_index_ + static_cast<int32_t>(other.counts_.size()));
  std::vector<int64_t> merged(static_cast<size_t>(end - first), 0);
  for (size_t i = 0; i < counts_.size(); ++i) merged[i + static_cast<size_t>(first_index_ - first)] += counts_[i];
  for (size_t i = 0; i < other.counts_.size(); ++i)
    merged[i + static_cast<size_t>(other.first_index_ - first)] += other.counts_[i];
  first_index_ = first;
  counts_ = std::move(merged);
}

double QuantileSketch::percentile(double p) const {
  const auto rank = std::max<int64_t>(1, static_cast<int64_t>(std::ceil(p / 100.0 * static_cast<double>(count_))));
  if (rank <= std::max<int64_t>(zeros_, 1)) return min_;
  if (rank >= count_) return max_;
  int64_t seen = zeros_;
  for (size_t i = 0; i < counts_.size(); ++i) {
    seen += counts_[i];
    if (seen >= rank) return std::clamp(bucket_value(first_index_ + static_cast<int32_t>(i)), min_, max_);
  }
  return max_;
}

}  // namespace slsim
