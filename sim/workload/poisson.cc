#include "sim/workload/poisson.h"

namespace slsim {

std::optional<Request> PoissonSource::next() {
  if (emitted_ >= spec_.requests) return std::nullopt;
  ++emitted_;
  clock_s_ += random_.exponential(spec_.rate_per_s);
  Request r;
  r.model = model_;
  r.arrival = Time::from_seconds(clock_s_);
  r.input_tokens = spec_.input_tokens;
  r.output_tokens = spec_.output_tokens;
  return r;
}

}  // namespace slsim
