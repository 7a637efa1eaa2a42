// pa_bench: times paged decode attention over (batch, context) grids and writes JSON.
//
// Bytes moved are counted as the minimum any decode kernel must move: every K
// and V element once, the queries read and the outputs written once. Each
// timed launch reads a different set of cache blocks (rotating over enough
// sets to exceed the L2 several times), so the figure is HBM bandwidth, not L2.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <numeric>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "common/args.h"
#include "common/cuda_check.h"
#include "common/environment.h"
#include "common/fill.cuh"
#include "common/json_output.h"
#include "common/timing.h"
#include "paged_attention/paged_attention.h"

using namespace slsim::kernels;

int main(int argc, char** argv) {
  Args args(argc, argv);
  const std::string out_path = args.str("out", "paged_attention.json");
  const std::string label = args.str("label", "");
  const std::string dtype_name = args.str("dtype", "f16");
  const int q_heads = static_cast<int>(args.integer("q-heads", 32));
  const int kv_heads = static_cast<int>(args.integer("kv-heads", 32));
  const int head_dim = static_cast<int>(args.integer("head-dim", 128));
  const int block_size = static_cast<int>(args.integer("block-size", 16));
  const auto batches = args.integers("batches", "1,8,32,64");
  const auto contexts = args.integers("contexts", "512,2048,8192");
  const int forced_splits = static_cast<int>(args.integer("splits", 0));
  const int heads_per_cta = static_cast<int>(args.integer("heads-per-cta", 0));
  const int iters = static_cast<int>(args.integer("iters", 50));
  const int trials = static_cast<int>(args.integer("trials", 5));
  args.reject_unknown();
  if (!gpu_available()) {
    std::fprintf(stderr, "pa_bench: no CUDA device\n");
    return kSkipExitCode;
  }
  const AttnDtype dtype = dtype_name == "bf16" ? AttnDtype::bf16 : AttnDtype::f16;
  const std::size_t elem = 2;

  int device = 0;
  CUDA_CHECK(cudaGetDevice(&device));
  int l2_bytes = 0;
  CUDA_CHECK(cudaDeviceGetAttribute(&l2_bytes, cudaDevAttrL2CacheSize, device));

  Json report;
  report["program"] = "pa_bench";
  report["environment"] = environment(argc, argv);
  report["config"] = {
      {"label", label},
      {"dtype", dtype_name},
      {"q_heads", q_heads},
      {"kv_heads", kv_heads},
      {"head_dim", head_dim},
      {"block_size", block_size},
      {"heads_per_cta_requested", heads_per_cta},
      {"layout", "k/v [num_blocks, kv_heads, block_size, head_dim]"},
      {"iters_per_trial", iters},
      {"trials", trials},
      {"statistic", "median over trials of the mean time per launch"},
  };
  Json results = Json::array();

  cudaStream_t stream{};
  CUDA_CHECK(cudaStreamCreate(&stream));
  std::mt19937 rng(1234);
  std::printf("%-24s %6s %6s %7s %10s %10s\n", "config", "batch", "ctx", "splits", "us", "GB/s");
  for (const long long batch_ll : batches) {
    for (const long long ctx_ll : contexts) {
      const int batch = static_cast<int>(batch_ll);
      const int ctx = static_cast<int>(ctx_ll);
      const int blocks_per_seq = (ctx + block_size - 1) / block_size;
      const std::size_t block_bytes = static_cast<std::size_t>(kv_heads) * block_size * head_dim * elem;
      const std::size_t set_blocks = static_cast<std::size_t>(batch) * blocks_per_seq;
      const std::size_t set_bytes = 2 * set_blocks * block_bytes;
      const int sets = static_cast<int>(
          std::clamp<std::size_t>((4 * static_cast<std::size_t>(l2_bytes) + set_bytes - 1) / set_bytes, 1, 64));
      const std::size_t pool_blocks = set_blocks * sets;

      // Physical blocks shuffled across the pool, as a block manager that has run a while leaves them.
      std::vector<int> perm(pool_blocks);
      std::iota(perm.begin(), perm.end(), 0);
      std::shuffle(perm.begin(), perm.end(), rng);
      std::vector<int> lens(batch, ctx);

      void* k = nullptr;
      void* v = nullptr;
      void* q = nullptr;
      void* o = nullptr;
      int* tables = nullptr;
      int* d_lens = nullptr;
      const std::size_t cache_elems = pool_blocks * block_bytes / elem;
      const std::size_t q_elems = static_cast<std::size_t>(batch) * q_heads * head_dim;
      CUDA_CHECK(cudaMalloc(&k, cache_elems * elem));
      CUDA_CHECK(cudaMalloc(&v, cache_elems * elem));
      CUDA_CHECK(cudaMalloc(&q, q_elems * elem));
      CUDA_CHECK(cudaMalloc(&o, q_elems * elem));
      CUDA_CHECK(cudaMalloc(&tables, pool_blocks * sizeof(int)));
      CUDA_CHECK(cudaMalloc(&d_lens, batch * sizeof(int)));
      const bool bf16 = dtype == AttnDtype::bf16;
      fill_uniform(k, cache_elems, bf16, 1);
      fill_uniform(v, cache_elems, bf16, 2);
      fill_uniform(q, q_elems, bf16, 3);
      CUDA_CHECK(cudaMemcpy(tables, perm.data(), pool_blocks * sizeof(int), cudaMemcpyHostToDevice));
      CUDA_CHECK(cudaMemcpy(d_lens, lens.data(), batch * sizeof(int), cudaMemcpyHostToDevice));

      PagedAttentionParams p;
      p.q = q;
      p.k_cache = k;
      p.v_cache = v;
      p.context_lens = d_lens;
      p.out = o;
      p.batch = batch;
      p.num_q_heads = q_heads;
      p.num_kv_heads = kv_heads;
      p.head_dim = head_dim;
      p.block_size = block_size;
      p.max_blocks_per_seq = blocks_per_seq;
      p.max_context_len = ctx;
      p.scale = 1.0f / std::sqrt(static_cast<float>(head_dim));
      p.dtype = dtype;
      p.max_heads_per_cta = heads_per_cta;
      if (const char* why = paged_attention_unsupported(p); why[0] != '\0') {
        std::fprintf(stderr, "pa_bench: unsupported configuration: %s\n", why);
        return 2;
      }
      const int splits = paged_attention_splits(p, forced_splits);
      void* ws = nullptr;
      const std::size_t ws_bytes = paged_attention_workspace_bytes(p, splits);
      if (ws_bytes > 0) CUDA_CHECK(cudaMalloc(&ws, ws_bytes));

      const double ms = median_ms_per_iter(
          [&](int i) {
            PagedAttentionParams pi = p;
            pi.block_tables = tables + static_cast<std::size_t>(i % sets) * set_blocks;
            paged_attention(pi, splits, ws, stream);
          },
          stream, iters, trials);
      const double bytes = static_cast<double>(set_bytes) + 2.0 * q_elems * elem;
      const double gbytes_per_s = bytes / (ms * 1e-3) / 1e9;
      std::printf("%-24s %6d %6d %7d %10.1f %10.1f\n", label.c_str(), batch, ctx, splits, ms * 1e3, gbytes_per_s);
      results.push_back({
          {"batch", batch},
          {"context", ctx},
          {"splits", splits},
          {"ctas_per_sm", paged_attention_ctas_per_sm(p)},
          {"cache_sets_rotated", sets},
          {"bytes", bytes},
          {"us", ms * 1e3},
          {"GBps", gbytes_per_s},
      });

      CUDA_CHECK(cudaFree(k));
      CUDA_CHECK(cudaFree(v));
      CUDA_CHECK(cudaFree(q));
      CUDA_CHECK(cudaFree(o));
      CUDA_CHECK(cudaFree(tables));
      CUDA_CHECK(cudaFree(d_lens));
      if (ws != nullptr) CUDA_CHECK(cudaFree(ws));
    }
  }
  report["results"] = std::move(results);
  if (!write_json_file(out_path, report)) {
    std::fprintf(stderr, "pa_bench: cannot write %s\n", out_path.c_str());
    return 1;
  }
  return 0;
}
