// Paged decode attention against a float64 CPU reference, for every supported
// configuration: fp16/bf16, head_dim 64/128, MHA and GQA (including group sizes
// that are not a power of two and larger than one CTA's head tile), block sizes
// 8/16/32, one split and several. Inputs are fresh random values each case, the
// output is poisoned first, and context lengths include 1 and lengths that end
// mid-tile and mid-block. Exits 77 (skipped) without a GPU.
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <numeric>
#include <random>
#include <vector>

#include "common/cuda_check.h"
#include "paged_attention/paged_attention.h"

namespace {

using namespace slsim::kernels;

struct Case {
  AttnDtype dtype;
  int head_dim;
  int q_heads;
  int kv_heads;
  int block_size;
  int splits;         // 1 or a forced number; 0 = the launcher's choice
  int heads_per_cta;  // 0 = the launcher's choice
};

std::uint16_t to_bits(float x, AttnDtype dtype) {
  if (dtype == AttnDtype::f16) {
    const __half h = __float2half_rn(x);
    return *reinterpret_cast<const std::uint16_t*>(&h);
  }
  const __nv_bfloat16 b = __float2bfloat16_rn(x);
  return *reinterpret_cast<const std::uint16_t*>(&b);
}

double from_bits(std::uint16_t bits, AttnDtype dtype) {
  if (dtype == AttnDtype::f16) return __half2float(*reinterpret_cast<const __half*>(&bits));
  return __bfloat162float(*reinterpret_cast<const __nv_bfloat16*>(&bits));
}

// Returns the relative error ‖out − ref‖ / ‖ref‖, or infinity when an output is not finite.
double run_case(const Case& c, std::mt19937& rng, int batch) {
  std::uniform_real_distribution<float> uni(-1.0f, 1.0f);
  std::uniform_int_distribution<int> len_dist(1, 1500);
  std::vector<int> lens(batch);
  const int fixed[] = {1, 64, 65, 1023};
  for (int b = 0; b < batch; ++b) lens[b] = b < 4 ? fixed[b] : len_dist(rng);
  const int max_len = *std::max_element(lens.begin(), lens.end());
  const int max_blocks = (max_len + c.block_size - 1) / c.block_size;
  const int num_blocks = batch * max_blocks + 7;  // spare blocks never referenced

  std::vector<int> perm(num_blocks);
  std::iota(perm.begin(), perm.end(), 0);
  std::shuffle(perm.begin(), perm.end(), rng);
  std::vector<int> tables(static_cast<std::size_t>(batch) * max_blocks);
  for (std::size_t i = 0; i < tables.size(); ++i) tables[i] = perm[i];

  const std::size_t cache_elems = static_cast<std::size_t>(num_blocks) * c.kv_heads * c.block_size * c.head_dim;
  const std::size_t q_elems = static_cast<std::size_t>(batch) * c.q_heads * c.head_dim;
  std::vector<std::uint16_t> k(cache_elems), v(cache_elems), q(q_elems);
  // Scaled so that softmax is neither uniform nor one-hot.
  for (auto& x : k) x = to_bits(uni(rng) * 2.0f, c.dtype);
  for (auto& x : v) x = to_bits(uni(rng), c.dtype);
  for (auto& x : q) x = to_bits(uni(rng) * 2.0f, c.dtype);

  void *dk, *dv, *dq, *dout;
  int *dtables, *dlens;
  CUDA_CHECK(cudaMalloc(&dk, cache_elems * 2));
  CUDA_CHECK(cudaMalloc(&dv, cache_elems * 2));
  CUDA_CHECK(cudaMalloc(&dq, q_elems * 2));
  CUDA_CHECK(cudaMalloc(&dout, q_elems * 2));
  CUDA_CHECK(cudaMalloc(&dtables, tables.size() * sizeof(int)));
  CUDA_CHECK(cudaMalloc(&dlens, batch * sizeof(int)));
  CUDA_CHECK(cudaMemcpy(dk, k.data(), cache_elems * 2, cudaMemcpyHostToDevice));
  CUDA_CHECK(cudaMemcpy(dv, v.data(), cache_elems * 2, cudaMemcpyHostToDevice));
  CUDA_CHECK(cudaMemcpy(dq, q.data(), q_elems * 2, cudaMemcpyHostToDevice));
  CUDA_CHECK(cudaMemcpy(dtables, tables.data(), tables.size() * sizeof(int), cudaMemcpyHostToDevice));
  CUDA_CHECK(cudaMemcpy(dlens, lens.data(), batch * sizeof(int), cudaMemcpyHostToDevice));
  CUDA_CHECK(cudaMemset(dout, 0xFF, q_elems * 2));  // NaN in both formats: unwritten outputs fail

  PagedAttentionParams p;
  p.q = dq;
  p.k_cache = dk;
  p.v_cache = dv;
  p.block_tables = dtables;
  p.context_lens = dlens;
  p.out = dout;
  p.batch = batch;
  p.num_q_heads = c.q_heads;
  p.num_kv_heads = c.kv_heads;
  p.head_dim = c.head_dim;
  p.block_size = c.block_size;
  p.max_blocks_per_seq = max_blocks;
  p.max_context_len = max_len;
  p.scale = 1.0f / std::sqrt(static_cast<float>(c.head_dim));
  p.dtype = c.dtype;
  p.max_heads_per_cta = c.heads_per_cta;
  if (const char* why = paged_attention_unsupported(p); why[0] != '\0') {
    std::fprintf(stderr, "unsupported: %s\n", why);
    std::exit(1);
  }
  const int splits = paged_attention_splits(p, c.splits);
  void* ws = nullptr;
  if (const std::size_t bytes = paged_attention_workspace_bytes(p, splits); bytes > 0)
    CUDA_CHECK(cudaMalloc(&ws, bytes));
  paged_attention(p, splits, ws, nullptr);
  CUDA_CHECK(cudaDeviceSynchronize());
  std::vector<std::uint16_t> out(q_elems);
  CUDA_CHECK(cudaMemcpy(out.data(), dout, q_elems * 2, cudaMemcpyDeviceToHost));

  const int group = c.q_heads / c.kv_heads;
  double err2 = 0.0;
  double ref2 = 0.0;
  std::vector<double> scores;
  for (int b = 0; b < batch; ++b) {
    for (int h = 0; h < c.q_heads; ++h) {
      const int kvh = h / group;
      scores.assign(lens[b], 0.0);
      double m = -INFINITY;
      for (int t = 0; t < lens[b]; ++t) {
        const std::size_t base =
            ((static_cast<std::size_t>(tables[b * max_blocks + t / c.block_size]) * c.kv_heads + kvh) * c.block_size +
             t % c.block_size) *
            c.head_dim;
        double s = 0.0;
        for (int d = 0; d < c.head_dim; ++d)
          s += from_bits(q[(b * c.q_heads + h) * c.head_dim + d], c.dtype) * from_bits(k[base + d], c.dtype);
        scores[t] = s * p.scale;
        m = std::max(m, scores[t]);
      }
      double den = 0.0;
      for (auto& s : scores) den += (s = std::exp(s - m));
      for (int d = 0; d < c.head_dim; ++d) {
        double ref = 0.0;
        for (int t = 0; t < lens[b]; ++t) {
          const std::size_t base =
              ((static_cast<std::size_t>(tables[b * max_blocks + t / c.block_size]) * c.kv_heads + kvh) * c.block_size +
               t % c.block_size) *
              c.head_dim;
          ref += scores[t] * from_bits(v[base + d], c.dtype);
        }
        ref /= den;
        const double got = from_bits(out[(b * c.q_heads + h) * c.head_dim + d], c.dtype);
        if (!std::isfinite(got)) return INFINITY;
        err2 += (got - ref) * (got - ref);
        ref2 += ref * ref;
      }
    }
  }
  CUDA_CHECK(cudaFree(dk));
  CUDA_CHECK(cudaFree(dv));
  CUDA_CHECK(cudaFree(dq));
  CUDA_CHECK(cudaFree(dout));
  CUDA_CHECK(cudaFree(dtables));
  CUDA_CHECK(cudaFree(dlens));
  if (ws != nullptr) CUDA_CHECK(cudaFree(ws));
  return std::sqrt(err2 / ref2);
}

}  // namespace

int main() {
  if (!gpu_available()) {
    std::printf("SKIP: no CUDA device\n");
    return kSkipExitCode;
  }
  std::mt19937 rng(20261121);
  // Group sizes 1, 4, 8, 3, 16 and 32 (more than the 16 heads one CTA can hold).
  const int head_configs[][2] = {{4, 4}, {8, 2}, {16, 2}, {12, 4}, {32, 2}, {64, 2}};
  int failures = 0;
  int cases = 0;
  for (const AttnDtype dtype : {AttnDtype::f16, AttnDtype::bf16}) {
    // Output rounding dominates: half a unit in the last place of each format, with margin.
    const double tolerance = dtype == AttnDtype::f16 ? 2e-3 : 1e-2;
    for (const int head_dim : {64, 128}) {
      for (const auto& hc : head_configs) {
        for (const int block_size : {8, 16, 32}) {
          for (const int splits : {1, 3, 0}) {
            // Capped head tiles (several CTAs per KV head) with every split mode.
            const int heads_per_cta = splits == 3 ? 1 : (splits == 1 ? 2 : 0);
            const Case c{dtype, head_dim, hc[0], hc[1], block_size, splits, heads_per_cta};
            const double err = run_case(c, rng, 6);
            ++cases;
            const bool ok = err < tolerance;
            if (!ok) ++failures;
            if (!ok || (block_size == 16 && splits == 0)) {
              std::printf("%s %s d=%d hq=%d hkv=%d bs=%d splits=%d heads/cta=%d rel_err=%.3g\n", ok ? "ok  " : "FAIL",
                          dtype == AttnDtype::f16 ? "f16" : "bf16", head_dim, hc[0], hc[1], block_size, splits,
                          heads_per_cta, err);
            }
          }
        }
      }
    }
  }
  std::printf("%d of %d cases passed\n", cases - failures, cases);
  return failures == 0 ? 0 : 1;
}
