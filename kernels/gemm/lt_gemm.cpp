#include "gemm/lt_gemm.h"

namespace slsim::kernels {

LtLinear::LtLinear(cublasLtHandle_t handle, cudaDataType_t dtype, int tokens, int in_features, int out_features,
                   void* workspace, std::size_t workspace_bytes)
    : handle_(handle), workspace_(workspace), workspace_bytes_(workspace_bytes) {
  CUBLAS_CHECK(cublasLtMatmulDescCreate(&desc_, CUBLAS_COMPUTE_32F, CUDA_R_32F));
  const cublasOperation_t trans_a = CUBLAS_OP_T;
  const cublasOperation_t trans_b = CUBLAS_OP_N;
  CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(desc_, CUBLASLT_MATMUL_DESC_TRANSA, &trans_a, sizeof trans_a));
  CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(desc_, CUBLASLT_MATMUL_DESC_TRANSB, &trans_b, sizeof trans_b));
  CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&a_, dtype, in_features, out_features, in_features));
  CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&b_, dtype, in_features, tokens, in_features));
  CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&c_, dtype, out_features, tokens, out_features));
  cublasLtMatmulPreference_t pref = nullptr;
  CUBLAS_CHECK(cublasLtMatmulPreferenceCreate(&pref));
  CUBLAS_CHECK(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &workspace_bytes_,
                                                    sizeof workspace_bytes_));
  cublasLtMatmulHeuristicResult_t result{};
  int found = 0;
  CUBLAS_CHECK(cublasLtMatmulAlgoGetHeuristic(handle_, desc_, a_, b_, c_, c_, pref, 1, &result, &found));
  CUBLAS_CHECK(cublasLtMatmulPreferenceDestroy(pref));
  if (found == 0) {
    std::fprintf(stderr, "cuBLASLt found no algorithm for %d x %d x %d\n", tokens, in_features, out_features);
    std::exit(1);
  }
  algo_ = result.algo;
}

LtLinear::~LtLinear() {
  cublasLtMatrixLayoutDestroy(c_);
  cublasLtMatrixLayoutDestroy(b_);
  cublasLtMatrixLayoutDestroy(a_);
  cublasLtMatmulDescDestroy(desc_);
}

void LtLinear::run(const void* w, const void* x, void* y, cudaStream_t stream) const {
  const float alpha = 1.0f;
  const float beta = 0.0f;
  CUBLAS_CHECK(cublasLtMatmul(handle_, desc_, &alpha, w, a_, x, b_, &beta, y, c_, y, c_, &algo_, workspace_,
                              workspace_bytes_, stream));
}

}  // namespace slsim::kernels
