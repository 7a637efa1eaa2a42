// One linear layer y = x · Wᵀ (PyTorch's nn.Linear) through cuBLASLt.
//   x [tokens, in_features], W [out_features, in_features], y [tokens, out_features],
//   all row-major, fp16 or bf16 with fp32 accumulation.
// cuBLAS is column-major, so this computes yᵀ = W · xᵀ: A = W transposed, B = x.
#pragma once

#include <cublasLt.h>
#include <cuda_runtime.h>

#include <cstddef>
#include <cstdio>
#include <cstdlib>

#define CUBLAS_CHECK(expr)                                                                                     \
  do {                                                                                                         \
    cublasStatus_t st_ = (expr);                                                                               \
    if (st_ != CUBLAS_STATUS_SUCCESS) {                                                                        \
      std::fprintf(stderr, "%s:%d: %s failed: status %d\n", __FILE__, __LINE__, #expr, static_cast<int>(st_)); \
      std::exit(1);                                                                                            \
    }                                                                                                          \
  } while (0)

namespace slsim::kernels {

class LtLinear {
 public:
  // Picks cuBLASLt's first heuristic algorithm for this shape, with workspace_bytes of workspace.
  LtLinear(cublasLtHandle_t handle, cudaDataType_t dtype, int tokens, int in_features, int out_features,
           void* workspace, std::size_t workspace_bytes);
  ~LtLinear();
  LtLinear(const LtLinear&) = delete;
  LtLinear& operator=(const LtLinear&) = delete;

  void run(const void* w, const void* x, void* y, cudaStream_t stream) const;

 private:
  cublasLtHandle_t handle_;
  cublasLtMatmulDesc_t desc_ = nullptr;
  cublasLtMatrixLayout_t a_ = nullptr;
  cublasLtMatrixLayout_t b_ = nullptr;
  cublasLtMatrixLayout_t c_ = nullptr;
  cublasLtMatmulAlgo_t algo_{};
  void* workspace_;
  std::size_t workspace_bytes_;
};

}  // namespace slsim::kernels
