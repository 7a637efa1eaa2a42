#pragma once
// Synthetic arrivals and lengths. Inter-arrival gaps come from a renewal process (Poisson,
// Gamma or Weibull, each set by its rate and coefficient of variation) running in
// "operational time"; a time warp then maps that clock onto simulated time for on/off bursts
// and diurnal modulation, so the modulation never changes the gap distribution's shape.

#include <cstdint>
#include <filesystem>
#include <optional>
#include <utility>
#include <vector>

#include "sim/core/random.h"
#include "sim/workload/model_assigner.h"
#include "sim/workload/source.h"
#include "sim/workload/source_spec.h"

namespace slsim {

// Gaps between arrivals with a given mean rate and CV.
class GapDistribution {
 public:
  enum class Family { exponential, gamma, weibull };
  // Gamma: shape 1/cv², scale 1/(rate·shape). Weibull: the shape whose CV is `cv` (or
  // `weibull_shape` when given), scale 1/(rate·Γ(1 + 1/k)). Exponential ignores cv.
  GapDistribution(Family family, double rate_per_s, double cv, std::optional<double> weibull_shape = std::nullopt);
  double draw(RandomStream& random) const;
  double shape() const { return shape_; }
  double scale() const { return scale_; }

 private:
  Family family_;
  double rate_per_s_;
  double shape_ = 1;
  double scale_ = 1;
};

// The gap family of a generator kind: gamma, weibull, else (poisson) exponential.
GapDistribution::Family gap_family(const std::string& kind);

// The Weibull shape k with coefficient of variation `cv`: sqrt(Γ(1+2/k)/Γ(1+1/k)² − 1) = cv.
double weibull_shape_for_cv(double cv);

// Operational time → simulated time: diurnal modulation rate·(1 + a·sin(2πt/T)), then on/off
// bursts (arrivals only in the first on_s of every on_s + off_s cycle).
class TimeWarp {
 public:
  explicit TimeWarp(const SourceSpec& spec);
  double operator()(double operational_s) const;

 private:
  double on_s_, off_s_, amplitude_, period_s_;
};

// Prompt and output lengths for generated requests, capped by the model's context length.
class LengthSampler {
 public:
  // `table` is the resolved path of spec.lengths.table (kind table).
  LengthSampler(const SourceSpec& spec, const std::filesystem::path& table, RandomStream random);
  std::pair<int64_t, int64_t> draw(int64_t max_context);

 private:
  std::string kind_;
  int64_t input_, output_;
  double input_sigma_, output_sigma_;
  std::vector<std::pair<int64_t, int64_t>> table_;
  RandomStream random_;
};

// Reads a length table (header with num_prefill_tokens and num_decode_tokens); errors name the line.
std::vector<std::pair<int64_t, int64_t>> read_length_table(const std::filesystem::path& path);

// Caps a request to a context window: the prompt leaves room for one output token.
std::pair<int64_t, int64_t> cap_to_context(int64_t input, int64_t output, int64_t max_context);

class GeneratedSource final : public RequestSource {
 public:
  // `rate_scale` is folded into the rate; `requests` 0 generates without end.
  GeneratedSource(const SourceSpec& spec, const ModelCatalogue& catalogue, ModelAssigner assigner,
                  LengthSampler lengths, RandomStream arrivals);
  std::optional<Request> next() override;

 private:
  GapDistribution gaps_;
  TimeWarp warp_;
  int64_t requests_;
  IdVector<ModelId, int64_t> max_context_;
  ModelAssigner assigner_;
  LengthSampler lengths_;
  RandomStream arrivals_;
  int64_t emitted_ = 0;
  double clock_s_ = 0;
};

}  // namespace slsim
