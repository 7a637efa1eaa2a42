#pragma once
// Dense integer ids: entities live in vectors indexed by these, so events carry a 32-bit
// target instead of a pointer.

#include <cstdint>
#include <limits>

namespace slsim {

using RequestId = uint64_t;
using ModelId = uint32_t;
using ServerId = uint32_t;
using InstanceId = uint32_t;
// A stored checkpoint: a model's weights, or a base model's, or an adapter's delta.
using CheckpointId = uint32_t;

inline constexpr uint32_t kNoId = std::numeric_limits<uint32_t>::max();

}  // namespace slsim
