// The cuBLASLt wrapper computes y = x · Wᵀ with PyTorch's row-major layouts:
// compared with a float64 CPU product on odd sizes, fp16 and bf16. Exits 77
// (skipped) without a GPU.
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <random>
#include <vector>

#include "common/cuda_check.h"
#include "gemm/lt_gemm.h"

using namespace slsim::kernels;

namespace {

double run(bool bf16, int tokens, int in, int out, cublasLtHandle_t handle, void* ws, std::size_t ws_bytes,
           std::mt19937& rng) {
  std::uniform_real_distribution<float> uni(-1.0f, 1.0f);
  auto to_bits = [&](float v) {
    std::uint16_t b = 0;
    if (bf16) {
      const __nv_bfloat16 h = __float2bfloat16_rn(v);
      std::memcpy(&b, &h, 2);
    } else {
      const __half h = __float2half_rn(v);
      std::memcpy(&b, &h, 2);
    }
    return b;
  };
  auto from_bits = [&](std::uint16_t b) -> double {
    if (bf16) {
      __nv_bfloat16_raw raw;
      raw.x = b;
      return __bfloat162float(__nv_bfloat16(raw));
    }
    __half_raw raw;
    raw.x = b;
    return __half2float(__half(raw));
  };
  std::vector<std::uint16_t> x(static_cast<std::size_t>(tokens) * in), w(static_cast<std::size_t>(out) * in),
      y(static_cast<std::size_t>(tokens) * out);
  for (auto& v : x) v = to_bits(uni(rng));
  for (auto& v : w) v = to_bits(uni(rng));
  void *dx, *dw, *dy;
  CUDA_CHECK(cudaMalloc(&dx, x.size() * 2));
  CUDA_CHECK(cudaMalloc(&dw, w.size() * 2));
  CUDA_CHECK(cudaMalloc(&dy, y.size() * 2));
  CUDA_CHECK(cudaMemcpy(dx, x.data(), x.size() * 2, cudaMemcpyHostToDevice));
  CUDA_CHECK(cudaMemcpy(dw, w.data(), w.size() * 2, cudaMemcpyHostToDevice));
  CUDA_CHECK(cudaMemset(dy, 0xFF, y.size() * 2));
  {
    LtLinear lin(handle, bf16 ? CUDA_R_16BF : CUDA_R_16F, tokens, in, out, ws, ws_bytes);
    lin.run(dw, dx, dy, nullptr);
    CUDA_CHECK(cudaDeviceSynchronize());
  }
  CUDA_CHECK(cudaMemcpy(y.data(), dy, y.size() * 2, cudaMemcpyDeviceToHost));
  double err2 = 0.0, ref2 = 0.0;
  for (int t = 0; t < tokens; ++t) {
    for (int o = 0; o < out; ++o) {
      double ref = 0.0;
      for (int i = 0; i < in; ++i) ref += from_bits(x[t * in + i]) * from_bits(w[o * in + i]);
      const double got = from_bits(y[t * out + o]);
      if (!std::isfinite(got)) return INFINITY;
      err2 += (got - ref) * (got - ref);
      ref2 += ref * ref;
    }
  }
  CUDA_CHECK(cudaFree(dx));
  CUDA_CHECK(cudaFree(dw));
  CUDA_CHECK(cudaFree(dy));
  return std::sqrt(err2 / ref2);
}

}  // namespace

int main() {
  if (!gpu_available()) {
    std::printf("SKIP: no CUDA device\n");
    return kSkipExitCode;
  }
  cublasLtHandle_t handle = nullptr;
  CUBLAS_CHECK(cublasLtCreate(&handle));
  const std::size_t ws_bytes = 32u << 20;
  void* ws = nullptr;
  CUDA_CHECK(cudaMalloc(&ws, ws_bytes));
  std::mt19937 rng(7);
  int failures = 0;
  const int shapes[][3] = {{1, 256, 96}, {37, 264, 200}, {512, 128, 384}};
  for (const bool bf16 : {false, true}) {
    for (const auto& s : shapes) {
      const double err = run(bf16, s[0], s[1], s[2], handle, ws, ws_bytes, rng);
      const bool ok = err < (bf16 ? 1e-2 : 2e-3);
      failures += ok ? 0 : 1;
      std::printf("%-4s %s tokens=%d in=%d out=%d rel_err=%.3g\n", ok ? "ok" : "FAIL", bf16 ? "bf16" : "f16", s[0],
                  s[1], s[2], err);
    }
  }
  CUDA_CHECK(cudaFree(ws));
  CUBLAS_CHECK(cublasLtDestroy(handle));
  return failures == 0 ? 0 : 1;
}
