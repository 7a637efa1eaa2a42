// Error checking shared by the measuring programs and their tests.
//
// A measuring program that silently ran on a failed call would record a figure
// that means nothing, so every CUDA runtime call goes through CUDA_CHECK and
// aborts the program with the call site.
#pragma once

#include <cuda_runtime.h>

#include <cstdio>
#include <cstdlib>

#define CUDA_CHECK(expr)                                                                                   \
  do {                                                                                                     \
    cudaError_t err_ = (expr);                                                                             \
    if (err_ != cudaSuccess) {                                                                             \
      std::fprintf(stderr, "%s:%d: %s failed: %s\n", __FILE__, __LINE__, #expr, cudaGetErrorString(err_)); \
      std::exit(1);                                                                                        \
    }                                                                                                      \
  } while (0)

// Launches are asynchronous: a bad configuration only shows in the last error.
#define CUDA_CHECK_LAUNCH() CUDA_CHECK(cudaGetLastError())

namespace slsim::kernels {

// ctest reads this exit code as "skipped" (SKIP_RETURN_CODE), so GPU tests pass
// cleanly on CI machines that compile them but have no GPU.
inline constexpr int kSkipExitCode = 77;

inline bool gpu_available() {
  int count = 0;
  return cudaGetDeviceCount(&count) == cudaSuccess && count > 0;
}

}  // namespace slsim::kernels
