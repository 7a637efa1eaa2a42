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

namespace slsim {

class RandomStream {
 public:
  explicit RandomStream(uint64_t seed) : engine_(seed) {}

  // Uniform in [0, 1) with 53 random bits.
  double uniform() { return static_cast<double>(engine_() >> 11) * 0x1.0p-53; }
  // Uniform integer in [0, n); n > 0.
  uint64_t below(uint64_t n);
  double exponential(double rate) { return -std::log1p(-uniform()) / rate; }

 private:
  std::mt19937_64 engine_;
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
