// gemm_bench: cuBLASLt time of each catalogue model's linear layers (one
// decoder layer's projections and the LM head, no tensor parallelism) over
// token counts, bf16 or fp16 with fp32 accumulation. Writes JSON.
//
// The engine's latency model multiplies these per-layer times by the layer
// count. Weights are rotated over enough copies to exceed the L2 several times:
// in a real forward pass each layer's weights are read once, from HBM.
#include <algorithm>
#include <cstdio>
#include <string>
#include <utility>
#include <vector>

#include "common/architecture.h"
#include "common/args.h"
#include "common/cuda_check.h"
#include "common/environment.h"
#include "common/fill.cuh"
#include "common/json_output.h"
#include "common/timing.h"
#include "gemm/lt_gemm.h"

using namespace slsim::kernels;

namespace {

struct Linear {
  const char* name;
  int in_features;
  int out_features;
};

std::vector<Linear> linears(const Architecture& a) {
  const int q = a.attention_heads * a.head_dim;
  const int kv = a.kv_heads * a.head_dim;
  std::vector<Linear> l = {{"qkv_proj", a.hidden_size, q + 2 * kv}, {"o_proj", q, a.hidden_size}};
  if (a.ffn_kind == "gated") {
    l.push_back({"gate_up_proj", a.hidden_size, 2 * a.ffn_size});
    l.push_back({"down_proj", a.ffn_size, a.hidden_size});
  } else {
    l.push_back({"fc1", a.hidden_size, a.ffn_size});
    l.push_back({"fc2", a.ffn_size, a.hidden_size});
  }
  l.push_back({"lm_head", a.hidden_size, a.vocab_size});
  return l;
}

}  // namespace

int main(int argc, char** argv) {
  Args args(argc, argv);
  const std::string out_path = args.str("out", "gemm.json");
  const std::string dtype_name = args.str("dtype", "bf16");
  const std::string models = args.str("models", "");
  const auto arch_specs = args.all("arch");
  const auto tokens = args.integers("tokens", "1,2,4,8,16,32,64,128,256,512,1024,2048,4096,8192");
  const int trials = static_cast<int>(args.integer("trials", 5));
  args.reject_unknown();
  if (!gpu_available()) {
    std::fprintf(stderr, "gemm_bench: no CUDA device\n");
    return kSkipExitCode;
  }
  std::vector<Architecture> archs;
  for (const auto& s : arch_specs) archs.push_back(parse_architecture(s));
  if (!models.empty()) {
    std::size_t pos = 0;
    while (pos <= models.size()) {
      const std::size_t comma = std::min(models.find(',', pos), models.size());
      const std::string name = models.substr(pos, comma - pos);
      const Architecture* a = builtin_architecture(name);
      if (a == nullptr) {
        std::fprintf(stderr, "gemm_bench: unknown model '%s'; give --arch\n", name.c_str());
        return 2;
      }
      archs.push_back(*a);
      pos = comma + 1;
    }
  }
  if (archs.empty()) {
    int n = 0;
    const Architecture* all = builtin_architectures(&n);
    archs.assign(all, all + n);
  }
  const bool bf16 = dtype_name == "bf16";
  const cudaDataType_t dtype = bf16 ? CUDA_R_16BF : CUDA_R_16F;

  int device = 0;
  int l2_bytes = 0;
  CUDA_CHECK(cudaGetDevice(&device));
  CUDA_CHECK(cudaDeviceGetAttribute(&l2_bytes, cudaDevAttrL2CacheSize, device));
  cublasLtHandle_t handle = nullptr;
  CUBLAS_CHECK(cublasLtCreate(&handle));
  const std::size_t workspace_bytes = 32u << 20;  // what PyTorch gives cuBLASLt on Hopper
  void* workspace = nullptr;
  CUDA_CHECK(cudaMalloc(&workspace, workspace_bytes));
  cudaStream_t stream{};
  CUDA_CHECK(cudaStreamCreate(&stream));
  const long long max_tokens = *std::max_element(tokens.begin(), tokens.end());

  Json report;
  report["program"] = "gemm_bench";
  report["environment"] = environment(argc, argv);
  report["config"] = {
      {"dtype", dtype_name},
      {"library", "cuBLASLt, first heuristic algorithm, 32 MiB workspace, fp32 accumulation"},
      {"operation", "y[tokens, out] = x[tokens, in] * W[out, in]^T"},
      {"trials", trials},
      {"statistic", "median over trials of the mean time per GEMM"},
  };
  Json results = Json::array();
  std::printf("%-14s %-13s %6s %6s %6s %10s %8s %8s\n", "model", "layer", "tokens", "in", "out", "us", "TFLOP/s",
              "GB/s");
  for (const auto& arch : archs) {
    for (const Linear& lin : linears(arch)) {
      const std::size_t w_elems = static_cast<std::size_t>(lin.in_features) * lin.out_features;
      const int copies =
          static_cast<int>(std::clamp<std::size_t>(4 * static_cast<std::size_t>(l2_bytes) / (w_elems * 2) + 1, 1, 16));
      void* weights = nullptr;
      void* x = nullptr;
      void* y = nullptr;
      CUDA_CHECK(cudaMalloc(&weights, w_elems * 2 * copies));
      CUDA_CHECK(cudaMalloc(&x, static_cast<std::size_t>(max_tokens) * lin.in_features * 2));
      CUDA_CHECK(cudaMalloc(&y, static_cast<std::size_t>(max_tokens) * lin.out_features * 2));
      fill_uniform(weights, w_elems * copies, bf16, 11, 0.05f);
      fill_uniform(x, static_cast<std::size_t>(max_tokens) * lin.in_features, bf16, 12);
      for (const long long m : tokens) {
        LtLinear gemm(handle, dtype, static_cast<int>(m), lin.in_features, lin.out_features, workspace,
                      workspace_bytes);
        auto launch = [&](int i) {
          gemm.run(static_cast<const char*>(weights) + (i % copies) * w_elems * 2, x, y, stream);
        };
        // About 5 ms per trial: enough launches to hide the event overhead, few for huge GEMMs.
        const double probe_ms = median_ms_per_iter(launch, stream, 3, 1, 2);
        const int iters = static_cast<int>(std::clamp(5.0 / std::max(probe_ms, 1e-3), 3.0, 200.0));
        const double ms = median_ms_per_iter(launch, stream, iters, trials, 3);
        const double flops = 2.0 * static_cast<double>(m) * lin.in_features * lin.out_features;
        const double bytes =
            2.0 * (static_cast<double>(w_elems) + static_cast<double>(m) * (lin.in_features + lin.out_features));
        std::printf("%-14s %-13s %6lld %6d %6d %10.1f %8.1f %8.0f\n", arch.name.c_str(), lin.name, m, lin.in_features,
                    lin.out_features, ms * 1e3, flops / (ms * 1e-3) / 1e12, bytes / (ms * 1e-3) / 1e9);
        results.push_back({
            {"model", arch.name},
            {"layer", lin.name},
            {"tokens", m},
            {"in_features", lin.in_features},
            {"out_features", lin.out_features},
            {"us", ms * 1e3},
            {"TFLOPs", flops / (ms * 1e-3) / 1e12},
            {"GBps", bytes / (ms * 1e-3) / 1e9},
        });
      }
      CUDA_CHECK(cudaFree(weights));
      CUDA_CHECK(cudaFree(x));
      CUDA_CHECK(cudaFree(y));
    }
  }
  CUBLAS_CHECK(cublasLtDestroy(handle));
  report["results"] = std::move(results);
  if (!write_json_file(out_path, report)) {
    std::fprintf(stderr, "gemm_bench: cannot write %s\n", out_path.c_str());
    return 1;
  }
  return 0;
}
