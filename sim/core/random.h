#pragma once
// Seeded random streams, one per named purpose ("arrivals", "placement", ...), each derived
// from the experiment seed and the purpose's name. A policy that draws more numbers never
// shifts another purpose's stream, so changing one policy leaves the workload identical.
// Distributions are computed here rather than with <random>'s, whose algorithms differ between
// standard libraries, so that outputs are byte-identical everywhere.

#include <cmath>
#include <cstdint>
#include <random>
#include <string_view>
#include <vector>

namespace slsim {

// SplitMix64's finalizer: a bijection of 64-bit values whose outputs look independent for
// neighbouring inputs, for deriving seeds and ids.
uint64_t splitmix64(uint64_t x);

class RandomStream {
 public:
  explicit RandomStream(uint64_t seed) : engine_(seed) {}

  // Uniform in [0, 1) with 53 random bits.
  double uniform() { return static_cast<double>(engine_() >> 11) * 0x1.0p-53; }
  // Uniform integer in [0, n); n > 0.
  uint64_t below(uint64_t n);
  double exponential(double rate) { return -std::log1p(-uniform()) / rate; }
  // Standard normal (Marsaglia's polar method; the spare value is dropped so that each call
  // consumes a whole number of draws and the stream stays easy to reason about).
  double normal();
  // Gamma with shape k > 0 and scale θ (mean kθ): Marsaglia and Tsang (2000), with the
  // U^(1/k) boost for k < 1.
  double gamma(double shape, double scale);
  // Weibull with shape k > 0 and scale λ, by inverting its CDF.
  double weibull(double shape, double scale) { return scale * std::pow(-std::log1p(-uniform()), 1.0 / shape); }
  double lognormal(double mu, double sigma) { return std::exp(mu + sigma * normal()); }

 private:
  std::mt19937_64 engine_;
};

// Indices 0 .. n-1 with P(i) proportional to weights[i] (>= 0, not all 0), by inverting the
// cumulative distribution with one uniform draw.
class DiscreteSampler {
 public:
  explicit DiscreteSampler(const std::vector<double>& weights);
  size_t sample(RandomStream& random) const;
  double probability(size_t index) const { return cdf_[index] - (index == 0 ? 0.0 : cdf_[index - 1]); }
  size_t size() const { return cdf_.size(); }

 private:
  std::vector<double> cdf_;
};

// Ranks 0 .. n-1 with P(rank i) proportional to 1 / (i + 1)^exponent; exponent 0 is uniform.
class ZipfSampler {
 public:
  ZipfSampler(size_t n, double exponent);
  size_t sample(RandomStream& random) const { return ranks_.sample(random); }
  double probability(size_t rank) const { return ranks_.probability(rank); }

 private:
  DiscreteSampler ranks_;
};

class RandomStreams {
 public:
  explicit RandomStreams(uint64_t experiment_seed) : seed_(experiment_seed) {}
  RandomStream stream(std::string_view purpose) const;
  uint64_t seed() const { return seed_; }

 private:
  uint64_t seed_;
};

}  // namespace slsim
