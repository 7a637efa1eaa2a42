#pragma once
// A request as the workload produces it. Everything that happens to it afterwards is the
// serving layer's state, kept elsewhere.

#include <cstdint>
#include <vector>

#include "sim/core/ids.h"
#include "sim/core/time.h"

namespace slsim {

struct Request {
  RequestId id;
  ModelId model;
  Time arrival;
  int64_t input_tokens = 0;
  int64_t output_tokens = 0;
  // Parallel samples (n) and beam width: sequences that share the prompt's KV blocks.
  int64_t samples = 1;
  int64_t beam_width = 1;
  // Ids of cached prefix blocks the prompt starts with (shared between requests); empty
  // for most traces, so it costs no allocation.
  std::vector<uint64_t> prefix_blocks;
};

}  // namespace slsim
