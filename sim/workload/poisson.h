#pragma once
// Poisson arrivals at a fixed rate with fixed request lengths: the textbook open-loop load.

#include <cstdint>

#include "sim/core/random.h"
#include "sim/workload/source.h"

namespace slsim {

struct PoissonSpec {
  double rate_per_s = 1;
  int64_t requests = 0;
  int64_t input_tokens = 0;
  int64_t output_tokens = 0;
};

class PoissonSource final : public RequestSource {
 public:
  PoissonSource(const PoissonSpec& spec, ModelId model, RandomStream random)
      : spec_(spec), model_(model), random_(random) {}
  std::optional<Request> next() override;

 private:
  PoissonSpec spec_;
  ModelId model_;
  RandomStream random_;
  int64_t emitted_ = 0;
  double clock_s_ = 0;
};

}  // namespace slsim
