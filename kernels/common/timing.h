// Timing with CUDA events, as METHOD.md asks: warm up, time many back-to-back
// launches per trial, and report the median trial, so that one slow trial (a
// clock ramp, another process) does not move the figure.
#pragma once

#include <cuda_runtime.h>

#include <algorithm>
#include <vector>

#include "common/cuda_check.h"

namespace slsim::kernels {

// f(i) enqueues iteration i on stream. Returns milliseconds per iteration.
template <typename F>
double median_ms_per_iter(F&& f, cudaStream_t stream, int iters, int trials, int warmup = 10) {
  for (int i = 0; i < warmup; ++i) f(i);
  CUDA_CHECK(cudaStreamSynchronize(stream));
  cudaEvent_t start{};
  cudaEvent_t stop{};
  CUDA_CHECK(cudaEventCreate(&start));
  CUDA_CHECK(cudaEventCreate(&stop));
  std::vector<double> per_iter;
  for (int t = 0; t < trials; ++t) {
    CUDA_CHECK(cudaEventRecord(start, stream));
    for (int i = 0; i < iters; ++i) f(i);
    CUDA_CHECK(cudaEventRecord(stop, stream));
    CUDA_CHECK(cudaEventSynchronize(stop));
    float ms = 0.0f;
    CUDA_CHECK(cudaEventElapsedTime(&ms, start, stop));
    per_iter.push_back(static_cast<double>(ms) / iters);
  }
  CUDA_CHECK(cudaEventDestroy(start));
  CUDA_CHECK(cudaEventDestroy(stop));
  std::sort(per_iter.begin(), per_iter.end());
  return per_iter[per_iter.size() / 2];
}

}  // namespace slsim::kernels
