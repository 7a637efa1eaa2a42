// Paged decode attention: one CTA per (sequence, KV head, head chunk, context split).
//
// Why this shape: decode attention reads every K and V element once and does
// two multiply-adds per element and query head, so it is bound by memory
// bandwidth. The kernel therefore
//  - loads each KV tile once for all query heads of a GQA group,
//  - streams tiles of kTile tokens into shared memory with 16-byte cp.async,
//    double-buffered so the next tile is in flight while this one is used,
//  - swizzles the 16-byte chunks of each row (chunk ^ (row & 7)) so that both
//    the row-wise reads of Q·K and the column-wise reads of P·V are free of
//    bank conflicts without padding (padding would cost a third CTA per SM),
//  - splits long contexts across CTAs when batch × heads cannot fill the GPU,
//    and combines the partial softmax results in a second small kernel.
// Scores are kept in the log2 domain (scaled by scale·log2 e) so the softmax
// uses exp2.
//
// Q·Kᵀ and P·V run on the tensor cores (mma.sync m16n8k16, fp32 accumulation):
// the CTA's query heads are the M dimension, padded to 16 with zero rows. An
// earlier CUDA-core version (fp32 FMAs) did g times the multiply-adds per KV
// byte for a GQA group of g heads and became issue-bound on the H200 (0.56–0.82
// of SDPA's bandwidth for g = 4, 8); for MHA the two were within ±1.5% except
// where this one is faster (see kernels/README.md), so only this one is kept.
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <algorithm>
#include <cmath>
#include <cstdint>

#include "common/cuda_check.h"
#include "paged_attention/paged_attention.h"

namespace slsim::kernels {
namespace {

constexpr int kThreads = 128;
constexpr int kVec = 8;       // 16-byte vector = 8 half-precision values
constexpr int kMmaRows = 16;  // query heads per CTA sharing one KV tile (mma M)
constexpr int kMinTilesPerSplit = 4;
constexpr int kMaxSplits = 64;
constexpr float kLog2e = 1.4426950408889634f;

// Per-type conversions and the mma instruction (its type suffix differs).
template <typename T>
struct Elem;
template <>
struct Elem<__half> {
  static __device__ __half from_float(float v) { return __float2half_rn(v); }
  static __device__ std::uint32_t pack(float lo, float hi) {
    const __half2 h = __floats2half2_rn(lo, hi);
    return *reinterpret_cast<const std::uint32_t*>(&h);
  }
  // c += a·b for one m16n8k16 tile (a row-major 16×16, b column-major 16×8).
  static __device__ void mma(float (&c)[4], const std::uint32_t (&a)[4], std::uint32_t b0, std::uint32_t b1) {
    asm("mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, "
        "{%8,%9}, {%0,%1,%2,%3};\n"
        : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
  }
};
template <>
struct Elem<__nv_bfloat16> {
  static __device__ __nv_bfloat16 from_float(float v) { return __float2bfloat16_rn(v); }
  static __device__ std::uint32_t pack(float lo, float hi) {
    const __nv_bfloat162 h = __floats2bfloat162_rn(lo, hi);
    return *reinterpret_cast<const std::uint32_t*>(&h);
  }
  static __device__ void mma(float (&c)[4], const std::uint32_t (&a)[4], std::uint32_t b0, std::uint32_t b1) {
    asm("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, "
        "{%8,%9}, {%0,%1,%2,%3};\n"
        : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
  }
};

__device__ __forceinline__ void cp_async_16(void* smem, const void* gmem, bool valid) {
  const unsigned s = static_cast<unsigned>(__cvta_generic_to_shared(smem));
  const int src_size = valid ? 16 : 0;  // 0 zero-fills: masked tokens must not carry NaNs into P·V
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(s), "l"(gmem), "r"(src_size));
}
__device__ __forceinline__ void cp_async_commit() { asm volatile("cp.async.commit_group;\n" ::); }
template <int N>
__device__ __forceinline__ void cp_async_wait() {
  asm volatile("cp.async.wait_group %0;\n" ::"n"(N));
}

__device__ __forceinline__ int swizzled_chunk(int row, int chunk) { return chunk ^ (row & 7); }

// Four 8×8 matrices of 16-bit values; lane i gives the row address of row i % 8
// of matrix i / 8. Plain: lane t gets row t / 4, columns 2(t % 4), +1 of each
// (an mma B fragment when the rows are tokens of K). trans: the transposed
// matrix, i.e. rows 2(t % 4), +1 of column t / 4 (a B fragment from V).
__device__ __forceinline__ void ldmatrix_x4(std::uint32_t (&r)[4], const void* smem) {
  const unsigned s = static_cast<unsigned>(__cvta_generic_to_shared(smem));
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0,%1,%2,%3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(s));
}
__device__ __forceinline__ void ldmatrix_x4_trans(std::uint32_t (&r)[4], const void* smem) {
  const unsigned s = static_cast<unsigned>(__cvta_generic_to_shared(smem));
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0,%1,%2,%3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(s));
}

// Tokens per shared-memory tile: 16 KB of K per stage whatever the head size,
// so that a CTA keeps as many bytes in flight at head_dim 64 as at 128.
__host__ __device__ constexpr int tile_tokens(int head_dim) { return 8192 / head_dim; }

// Copies tokens [tile_begin, tile_begin + kTile) of one KV head into swizzled K
// and V tiles; tokens at or past end are zero-filled. Each thread copies a fixed
// chunk column of several rows (rows tid / kChunks + j·kRowsPerPass).
template <typename T, int kHeadDim>
__device__ __forceinline__ void load_kv_tile(T* k_dst, T* v_dst, const T* k_cache, const T* v_cache, const int* table,
                                             int tile_begin, int end, int kv_head, int num_kv_heads,
                                             int log2_block_size) {
  constexpr int kTile = tile_tokens(kHeadDim);
  constexpr int kChunks = kHeadDim / kVec;
  constexpr int kRowsPerPass = kThreads / kChunks;
  const int load_chunk = threadIdx.x % kChunks;
  const int block_mask = (1 << log2_block_size) - 1;
#pragma unroll
  for (int j = 0; j < kTile / kRowsPerPass; ++j) {
    const int row = threadIdx.x / kChunks + j * kRowsPerPass;
    const int token = tile_begin + row;
    const bool valid = token < end;
    std::int64_t offset = 0;
    if (valid) {
      const std::int64_t block = table[token >> log2_block_size];
      offset =
          (((block * num_kv_heads + kv_head) << log2_block_size) + (token & block_mask)) * kHeadDim + load_chunk * kVec;
    }
    const int dst = row * kHeadDim + swizzled_chunk(row, load_chunk) * kVec;
    cp_async_16(k_dst + dst, k_cache + offset, valid);
    cp_async_16(v_dst + dst, v_cache + offset, valid);
  }
  cp_async_commit();
}

// The CTA's query heads (up to 16) are the rows of the
// m16n8k16 A operand; warp w owns tokens [w·kWarpTokens, (w+1)·kWarpTokens) of
// every tile and keeps its own running max, denominator and output, which are
// merged across the four warps once, after the last tile. Fragment layouts
// (PTX ISA, mma.m16n8k16): lane t holds rows t/4 and t/4 + 8 and columns
// 2(t%4), +1 (and +8) of A and C, and column t/4 of B.
template <typename T, int kHeadDim>
struct Shape {
  static constexpr int kTile = tile_tokens(kHeadDim);
  static constexpr int kWarps = kThreads / 32;
  static constexpr int kWarpTokens = kTile / kWarps;   // 16 (head_dim 128) or 32 (64)
  static constexpr int kScoreTiles = kWarpTokens / 8;  // n-tiles of Q·Kᵀ per warp
  static constexpr int kDimSteps = kHeadDim / 16;      // k-steps of Q·Kᵀ
  static constexpr int kOutTiles = kHeadDim / 8;       // n-tiles of P·V
  static constexpr int kTileElems = kTile * kHeadDim;
  static constexpr std::size_t kBytes = 2 * 2 * kTileElems * sizeof(T);
  // The merge reuses the tile buffers: each warp's output rows, then its max and sum.
  static_assert(kWarps * kMmaRows * (kHeadDim + 2) * sizeof(float) <= kBytes,
                "the merge of the warps' results reuses the KV tile buffers");
};

template <typename T, int kHeadDim>
__global__ void __launch_bounds__(kThreads)
    paged_decode_kernel(PagedAttentionParams p, int heads_per_cta, int log2_block_size, int tokens_per_split,
                        int num_splits, float* __restrict__ ws_out, float2* __restrict__ ws_ml) {
  using S = Shape<T, kHeadDim>;
  using E = Elem<T>;
  constexpr int kTile = S::kTile;
  extern __shared__ __align__(16) unsigned char smem_raw[];
  T* kv_s = reinterpret_cast<T*>(smem_raw);

  const int tid = threadIdx.x;
  const int warp = tid / 32;
  const int lane = tid % 32;
  const int group_size = p.num_q_heads / p.num_kv_heads;
  const int chunks_per_kv_head = (group_size + heads_per_cta - 1) / heads_per_cta;
  const int kv_head = blockIdx.x / chunks_per_kv_head;
  const int head0 = kv_head * group_size + (blockIdx.x % chunks_per_kv_head) * heads_per_cta;
  const int heads_here = min(heads_per_cta, kv_head * group_size + group_size - head0);
  const int seq = blockIdx.y;
  const int split = blockIdx.z;

  const int context_len = p.context_lens[seq];
  const int begin = split * tokens_per_split;
  const int end = min(context_len, begin + tokens_per_split);
  const int num_tiles = end > begin ? (end - begin + kTile - 1) / kTile : 0;

  const int* table = p.block_tables + static_cast<std::int64_t>(seq) * p.max_blocks_per_seq;
  const T* k_cache = static_cast<const T*>(p.k_cache);
  const T* v_cache = static_cast<const T*>(p.v_cache);
  auto load_tile = [&](int tile, int stage) {
    T* k_dst = kv_s + (stage * 2) * S::kTileElems;
    load_kv_tile<T, kHeadDim>(k_dst, k_dst + S::kTileElems, k_cache, v_cache, table, begin + tile * kTile, end, kv_head,
                              p.num_kv_heads, log2_block_size);
  };
  if (num_tiles > 0) load_tile(0, 0);

  // Q as A fragments, unscaled (exact in its own type); rows past the CTA's heads are zeros.
  const int row0 = lane / 4;
  const int col2 = (lane % 4) * 2;
  std::uint32_t qa[S::kDimSteps][4];
  {
    const auto* q32 = static_cast<const std::uint32_t*>(p.q);
    const std::int64_t q_row0 = static_cast<std::int64_t>(seq) * p.num_q_heads + head0;
#pragma unroll
    for (int ks = 0; ks < S::kDimSteps; ++ks) {
#pragma unroll
      for (int i = 0; i < 4; ++i) {
        const int row = row0 + (i & 1) * 8;
        const int col = ks * 16 + col2 + (i >> 1) * 8;
        qa[ks][i] = row < heads_here ? q32[((q_row0 + row) * kHeadDim + col) / 2] : 0u;
      }
    }
  }
  const float scale_log2 = p.scale * kLog2e;

  float o[S::kOutTiles][4];
#pragma unroll
  for (int n = 0; n < S::kOutTiles; ++n) o[n][0] = o[n][1] = o[n][2] = o[n][3] = 0.0f;
  float m[2] = {-INFINITY, -INFINITY};  // rows row0 and row0 + 8
  float l[2] = {0.0f, 0.0f};            // this lane's part of the denominators
  const int mat = lane / 8;             // which of ldmatrix's four matrices this lane addresses
  const int mat_row = lane % 8;

  for (int tile = 0; tile < num_tiles; ++tile) {
    const int stage = tile & 1;
    if (tile + 1 < num_tiles) {
      load_tile(tile + 1, stage ^ 1);
      cp_async_wait<1>();
    } else {
      cp_async_wait<0>();
    }
    __syncthreads();
    const T* k_tile = kv_s + (stage * 2) * S::kTileElems;
    const T* v_tile = k_tile + S::kTileElems;
    const int warp_row = warp * S::kWarpTokens;
    const int token0 = begin + tile * kTile + warp_row;

    if (token0 < end) {  // warp-uniform: a warp past the context skips its empty slice
      // S = Q·Kᵀ: matrices (tokens +0..7 | +8..15) × (dims 16ks+0..7 | +8..15).
      float s[S::kScoreTiles][4];
#pragma unroll
      for (int j = 0; j < S::kScoreTiles; ++j) s[j][0] = s[j][1] = s[j][2] = s[j][3] = 0.0f;
#pragma unroll
      for (int ks = 0; ks < S::kDimSteps; ++ks) {
#pragma unroll
        for (int jp = 0; jp < S::kScoreTiles / 2; ++jp) {
          const int row = warp_row + jp * 16 + (mat >> 1) * 8 + mat_row;
          const int chunk = 2 * ks + (mat & 1);
          std::uint32_t b[4];
          ldmatrix_x4(b, k_tile + row * kHeadDim + swizzled_chunk(row, chunk) * kVec);
          E::mma(s[2 * jp], qa[ks], b[0], b[1]);
          E::mma(s[2 * jp + 1], qa[ks], b[2], b[3]);
        }
      }

      // Online softmax over this warp's tokens; the four lanes of a quad share a row.
      float tile_max[2] = {-INFINITY, -INFINITY};
#pragma unroll
      for (int j = 0; j < S::kScoreTiles; ++j) {
#pragma unroll
        for (int e = 0; e < 4; ++e) {
          const int token = token0 + j * 8 + col2 + (e & 1);
          s[j][e] = token < end ? s[j][e] * scale_log2 : -INFINITY;
          tile_max[e >> 1] = fmaxf(tile_max[e >> 1], s[j][e]);
        }
      }
      float m_ref[2];
#pragma unroll
      for (int h = 0; h < 2; ++h) {
        tile_max[h] = fmaxf(tile_max[h], __shfl_xor_sync(~0u, tile_max[h], 1));
        tile_max[h] = fmaxf(tile_max[h], __shfl_xor_sync(~0u, tile_max[h], 2));
        const float m_new = fmaxf(m[h], tile_max[h]);
        // A row with no finite score yet keeps weight 0 instead of exp2(-inf + inf) = NaN.
        m_ref[h] = m_new == -INFINITY ? 0.0f : m_new;
        const float alpha = exp2f(m[h] - m_ref[h]);
        m[h] = m_new;
        l[h] *= alpha;
#pragma unroll
        for (int n = 0; n < S::kOutTiles; ++n) {
          o[n][2 * h] *= alpha;
          o[n][2 * h + 1] *= alpha;
        }
      }
#pragma unroll
      for (int j = 0; j < S::kScoreTiles; ++j) {
#pragma unroll
        for (int e = 0; e < 4; ++e) {
          s[j][e] = exp2f(s[j][e] - m_ref[e >> 1]);
          l[e >> 1] += s[j][e];
        }
      }

      // O += P·V. The C fragments of two score n-tiles are the A fragment of one
      // 16-token k-step; V's B fragments come transposed: (tokens +0..7 | +8..15) × dims.
#pragma unroll
      for (int kk = 0; kk < S::kWarpTokens / 16; ++kk) {
        const std::uint32_t pa[4] = {E::pack(s[2 * kk][0], s[2 * kk][1]), E::pack(s[2 * kk][2], s[2 * kk][3]),
                                     E::pack(s[2 * kk + 1][0], s[2 * kk + 1][1]),
                                     E::pack(s[2 * kk + 1][2], s[2 * kk + 1][3])};
#pragma unroll
        for (int np = 0; np < S::kOutTiles / 2; ++np) {
          const int row = warp_row + kk * 16 + (mat & 1) * 8 + mat_row;
          const int chunk = 2 * np + (mat >> 1);
          std::uint32_t b[4];
          ldmatrix_x4_trans(b, v_tile + row * kHeadDim + swizzled_chunk(row, chunk) * kVec);
          E::mma(o[2 * np], pa, b[0], b[1]);
          E::mma(o[2 * np + 1], pa, b[2], b[3]);
        }
      }
    }
    __syncthreads();  // the next iteration's prefetch overwrites this stage
  }

  // Merge the warps: each writes its unnormalized rows, max and sum into the
  // (now idle) tile buffers; then one thread per (head, dim) rescales to the
  // common max and adds.
#pragma unroll
  for (int h = 0; h < 2; ++h) {
    l[h] += __shfl_xor_sync(~0u, l[h], 1);
    l[h] += __shfl_xor_sync(~0u, l[h], 2);
  }
  float* o_s = reinterpret_cast<float*>(smem_raw);     // [kWarps][kMmaRows][kHeadDim]
  float* m_s = o_s + S::kWarps * kMmaRows * kHeadDim;  // [kWarps][kMmaRows]
  float* l_s = m_s + S::kWarps * kMmaRows;
#pragma unroll
  for (int h = 0; h < 2; ++h) {
    const int r = warp * kMmaRows + row0 + h * 8;
#pragma unroll
    for (int n = 0; n < S::kOutTiles; ++n) {
      *reinterpret_cast<float2*>(o_s + r * kHeadDim + n * 8 + col2) = make_float2(o[n][2 * h], o[n][2 * h + 1]);
    }
    if (lane % 4 == 0) {
      m_s[r] = m[h];
      l_s[r] = l[h];
    }
  }
  __syncthreads();
  for (int i = tid; i < heads_here * kHeadDim; i += kThreads) {
    const int g = i / kHeadDim;
    const int d = i % kHeadDim;
    float m_max = -INFINITY;
#pragma unroll
    for (int w = 0; w < S::kWarps; ++w) m_max = fmaxf(m_max, m_s[w * kMmaRows + g]);
    float o_sum = 0.0f;
    float l_sum = 0.0f;
#pragma unroll
    for (int w = 0; w < S::kWarps; ++w) {
      const float m_w = m_s[w * kMmaRows + g];
      const float weight = m_w == -INFINITY ? 0.0f : exp2f(m_w - m_max);
      o_sum += weight * o_s[(w * kMmaRows + g) * kHeadDim + d];
      l_sum += weight * l_s[w * kMmaRows + g];
    }
    const float out = l_sum > 0.0f ? o_sum / l_sum : 0.0f;
    const std::int64_t row = static_cast<std::int64_t>(seq) * p.num_q_heads + head0 + g;
    if (num_splits == 1) {
      static_cast<T*>(p.out)[row * kHeadDim + d] = E::from_float(out);
    } else {
      ws_out[(row * num_splits + split) * kHeadDim + d] = out;
      if (d == 0) ws_ml[row * num_splits + split] = make_float2(m_max, l_sum);
    }
  }
}

// Combines the splits of one (sequence, head): weights each split's normalized
// output by its share of the softmax denominator.
template <typename T, int kHeadDim>
__global__ void __launch_bounds__(kHeadDim)
    combine_splits_kernel(int num_q_heads, int num_splits, const float* __restrict__ ws_out,
                          const float2* __restrict__ ws_ml, T* __restrict__ out) {
  const std::int64_t row = static_cast<std::int64_t>(blockIdx.y) * num_q_heads + blockIdx.x;
  const int d = threadIdx.x;
  float m_max = -INFINITY;
  for (int s = 0; s < num_splits; ++s) {
    const float2 ml = ws_ml[row * num_splits + s];
    if (ml.y > 0.0f) m_max = fmaxf(m_max, ml.x);
  }
  float num = 0.0f;
  float den = 0.0f;
  for (int s = 0; s < num_splits; ++s) {
    const float2 ml = ws_ml[row * num_splits + s];
    if (ml.y > 0.0f) {
      const float w = exp2f(ml.x - m_max) * ml.y;
      num += w * ws_out[(row * num_splits + s) * kHeadDim + d];
      den += w;
    }
  }
  out[row * kHeadDim + d] = Elem<T>::from_float(den > 0.0f ? num / den : 0.0f);
}

// Query heads per CTA: the group size rounded up to a power of two, capped at
// the mma M and by the caller.
int group_tile(const PagedAttentionParams& p) {
  const int group_size = p.num_q_heads / p.num_kv_heads;
  const int cap = p.max_heads_per_cta > 0 ? std::min(p.max_heads_per_cta, kMmaRows) : kMmaRows;
  int g = 1;
  while (g < group_size && g < cap) g *= 2;
  return g;
}

template <typename T, int kHeadDim>
int ctas_per_sm() {
  static int cached = [] {
    const auto kernel = paged_decode_kernel<T, kHeadDim>;
    const int bytes = static_cast<int>(Shape<T, kHeadDim>::kBytes);
    CUDA_CHECK(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, bytes));
    int n = 0;
    CUDA_CHECK(cudaOccupancyMaxActiveBlocksPerMultiprocessor(&n, kernel, kThreads, bytes));
    return std::max(n, 1);
  }();
  return cached;
}

int sm_count() {
  static int cached = [] {
    int device = 0;
    int n = 0;
    CUDA_CHECK(cudaGetDevice(&device));
    CUDA_CHECK(cudaDeviceGetAttribute(&n, cudaDevAttrMultiProcessorCount, device));
    return n;
  }();
  return cached;
}

int occupancy(const PagedAttentionParams& p) {
  if (p.dtype == AttnDtype::f16) {
    return p.head_dim == 64 ? ctas_per_sm<__half, 64>() : ctas_per_sm<__half, 128>();
  }
  return p.head_dim == 64 ? ctas_per_sm<__nv_bfloat16, 64>() : ctas_per_sm<__nv_bfloat16, 128>();
}

int tokens_per_split(const PagedAttentionParams& p, int num_splits) {
  const int tile = tile_tokens(p.head_dim);
  const int per_split = (p.max_context_len + num_splits - 1) / num_splits;
  return (per_split + tile - 1) / tile * tile;
}

template <typename T, int kHeadDim>
void launch(const PagedAttentionParams& p, int num_splits, void* workspace, cudaStream_t stream) {
  const int group = group_tile(p);
  const int group_size = p.num_q_heads / p.num_kv_heads;
  const dim3 grid(p.num_kv_heads * ((group_size + group - 1) / group), p.batch, num_splits);
  ctas_per_sm<T, kHeadDim>();  // raises the dynamic shared-memory limit once
  int log2_block = 0;
  while ((1 << log2_block) < p.block_size) ++log2_block;
  auto* ws_out = static_cast<float*>(workspace);
  auto* ws_ml =
      reinterpret_cast<float2*>(ws_out + static_cast<std::size_t>(p.batch) * p.num_q_heads * num_splits * kHeadDim);
  paged_decode_kernel<T, kHeadDim><<<grid, kThreads, Shape<T, kHeadDim>::kBytes, stream>>>(
      p, group, log2_block, tokens_per_split(p, num_splits), num_splits, ws_out, ws_ml);
  CUDA_CHECK_LAUNCH();
  if (num_splits > 1) {
    combine_splits_kernel<T, kHeadDim><<<dim3(p.num_q_heads, p.batch), kHeadDim, 0, stream>>>(
        p.num_q_heads, num_splits, ws_out, ws_ml, static_cast<T*>(p.out));
    CUDA_CHECK_LAUNCH();
  }
}

}  // namespace

const char* paged_attention_unsupported(const PagedAttentionParams& p) {
  if (p.head_dim != 64 && p.head_dim != 128) return "head_dim must be 64 or 128";
  if (p.num_kv_heads <= 0 || p.num_q_heads % p.num_kv_heads != 0)
    return "num_q_heads must be a positive multiple of num_kv_heads";
  if (p.block_size <= 0 || (p.block_size & (p.block_size - 1)) != 0) return "block_size must be a power of two";
  if (p.batch <= 0 || p.batch > 65535) return "batch must be in [1, 65535]";
  if (p.max_context_len < 0) return "max_context_len must be non-negative";
  return "";
}

int paged_attention_splits(const PagedAttentionParams& p, int requested_splits) {
  const int min_split_tokens = tile_tokens(p.head_dim) * kMinTilesPerSplit;
  const int max_by_length =
      std::max(1, std::min(kMaxSplits, (p.max_context_len + min_split_tokens - 1) / min_split_tokens));
  if (requested_splits > 0) return std::min(requested_splits, max_by_length);
  const int group_size = p.num_q_heads / p.num_kv_heads;
  const int group = group_tile(p);
  const int base = p.batch * p.num_kv_heads * ((group_size + group - 1) / group);
  const int slots = sm_count() * occupancy(p);
  // When one wave holds every CTA: enough splits for two CTAs per SM, not for
  // every slot. Two CTAs keep enough bytes in flight to saturate HBM, and each
  // further split only adds a partial write and a longer combine (measured in
  // one run each on the H200 and the H100: GQA 64/8 at 16 × 4096 was fastest
  // with 2 splits rather than 3, GQA 32/8 at 8 × 2048 with 4 rather than 6; a
  // second, partial wave leaves a tail: GQA 32/8 at 32 × 2048 took 68 µs with
  // 1 split, 88 with 2, 77 with 3).
  if (base <= slots) {
    const int two_per_sm = sm_count() * std::min(occupancy(p), 2);
    return std::min(max_by_length, std::max(1, two_per_sm / base));
  }
  // Otherwise flash-decoding's heuristic: the fewest splits whose last wave is
  // nearly as full as the best choice's (every split adds a partial write and
  // a combine).
  auto efficiency = [&](int s) {
    const double ctas = static_cast<double>(base) * s;
    const double waves = std::ceil(ctas / slots);
    return ctas / (waves * slots);
  };
  double best = 0.0;
  for (int s = 1; s <= max_by_length; ++s) best = std::max(best, efficiency(s));
  for (int s = 1; s <= max_by_length; ++s) {
    if (efficiency(s) >= 0.85 * best) return s;
  }
  return 1;
}

int paged_attention_ctas_per_sm(const PagedAttentionParams& p) { return occupancy(p); }

std::size_t paged_attention_workspace_bytes(const PagedAttentionParams& p, int num_splits) {
  if (num_splits <= 1) return 0;
  const std::size_t rows = static_cast<std::size_t>(p.batch) * p.num_q_heads * num_splits;
  return rows * p.head_dim * sizeof(float) + rows * sizeof(float2);
}

void paged_attention(const PagedAttentionParams& p, int num_splits, void* workspace, cudaStream_t stream) {
  if (p.dtype == AttnDtype::f16) {
    if (p.head_dim == 64) return launch<__half, 64>(p, num_splits, workspace, stream);
    return launch<__half, 128>(p, num_splits, workspace, stream);
  }
  if (p.head_dim == 64) return launch<__nv_bfloat16, 64>(p, num_splits, workspace, stream);
  return launch<__nv_bfloat16, 128>(p, num_splits, workspace, stream);
}

}  // namespace slsim::kernels
