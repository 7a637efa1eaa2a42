#pragma once
// A request as the workload produces it. Everything that happens to it afterwards is the
// serving layer's state, kept elsewhere.

#include <cstdint>

#include "sim/core/ids.h"
#include "sim/core/time.h"

namespace slsim {

struct Request {
  RequestId id = 0;
  ModelId model = 0;
  Time arrival;
  int64_t input_tokens = 0;
  int64_t output_tokens = 0;
};

}  // namespace slsim
