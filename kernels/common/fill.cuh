// Random-looking device data without a host copy: METHOD.md warns that zeros
// can run faster than real data and hide unwritten outputs.
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <cstddef>
#include <cstdint>

#include "common/cuda_check.h"

namespace slsim::kernels {

// Uniform values in [-scale, scale) from a hash of the element index.
template <typename T>
__global__ void fill_uniform_kernel(T* data, std::size_t n, std::uint32_t seed, float scale) {
  for (std::size_t i = blockIdx.x * static_cast<std::size_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<std::size_t>(gridDim.x) * blockDim.x) {
    std::uint32_t h =
        static_cast<std::uint32_t>(i) * 0x9E3779B1u ^ seed ^ static_cast<std::uint32_t>(i >> 32) * 0x85EBCA77u;
    h ^= h >> 15;
    h *= 0x2C1B3C6Du;
    h ^= h >> 12;
    h *= 0x297A2D39u;
    h ^= h >> 15;
    data[i] = static_cast<T>((static_cast<float>(h) * (2.0f / 4294967296.0f) - 1.0f) * scale);
  }
}

inline void fill_uniform(void* data, std::size_t n, bool bf16, std::uint32_t seed, float scale = 1.0f) {
  if (bf16) {
    fill_uniform_kernel<<<1024, 256>>>(static_cast<__nv_bfloat16*>(data), n, seed, scale);
  } else {
    fill_uniform_kernel<<<1024, 256>>>(static_cast<__half*>(data), n, seed, scale);
  }
  CUDA_CHECK_LAUNCH();
}

}  // namespace slsim::kernels
