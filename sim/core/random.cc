#include "sim/core/random.h"

#include <algorithm>

namespace slsim {

uint64_t splitmix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

namespace {

uint64_t fnv1a(std::string_view text) {
  uint64_t h = 0xcbf29ce484222325ULL;
  for (const char c : text) {
    h ^= static_cast<unsigned char>(c);
    h *= 0x100000001b3ULL;
  }
  return h;
}

}  // namespace

uint64_t RandomStream::below(uint64_t n) {
  // Rejection keeps the result unbiased for any n.
  const uint64_t limit = UINT64_MAX - UINT64_MAX % n;
  uint64_t x;
  do {
    x = engine_();
  } while (x >= limit);
  return x % n;
}

double RandomStream::normal() {
  double u, v, s;
  do {
    u = 2 * uniform() - 1;
    v = 2 * uniform() - 1;
    s = u * u + v * v;
  } while (s >= 1 || s == 0);
  return u * std::sqrt(-2 * std::log(s) / s);
}

double RandomStream::gamma(double shape, double scale) {
  if (shape < 1) {
    const double boost = std::pow(1 - uniform(), 1.0 / shape);
    return gamma(shape + 1, scale) * boost;
  }
  const double d = shape - 1.0 / 3.0;
  const double c = 1.0 / std::sqrt(9 * d);
  while (true) {
    double x, v;
    do {
      x = normal();
      v = 1 + c * x;
    } while (v <= 0);
    v = v * v * v;
    const double u = 1 - uniform();
    if (u < 1 - 0.0331 * x * x * x * x || std::log(u) < 0.5 * x * x + d * (1 - v + std::log(v))) return d * v * scale;
  }
}

DiscreteSampler::DiscreteSampler(const std::vector<double>& weights) : cdf_(weights.size()) {
  double total = 0;
  for (size_t i = 0; i < weights.size(); ++i) {
    total += weights[i];
    cdf_[i] = total;
  }
  for (double& c : cdf_) c /= total;
}

size_t DiscreteSampler::sample(RandomStream& random) const {
  const double u = random.uniform();
  const auto it = std::upper_bound(cdf_.begin(), cdf_.end(), u);
  return it == cdf_.end() ? cdf_.size() - 1 : static_cast<size_t>(it - cdf_.begin());
}

namespace {
std::vector<double> zipf_weights(size_t n, double exponent) {
  std::vector<double> weights(n);
  for (size_t i = 0; i < n; ++i) weights[i] = std::pow(static_cast<double>(i + 1), -exponent);
  return weights;
}
}  // namespace

ZipfSampler::ZipfSampler(size_t n, double exponent) : ranks_(zipf_weights(n, exponent)) {}

RandomStream RandomStreams::stream(std::string_view purpose) const {
  return RandomStream(splitmix64(seed_ ^ splitmix64(fnv1a(purpose))));
}

}  // namespace slsim
