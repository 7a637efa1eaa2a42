// Paged decode attention: one CTA per (sequence, KV head, head chunk, context split).
//
// Why this shape: decode attention reads every K and V element once and does
// two multiply-adds per element and query head, so it is bound by memory
// bandwidth. The kernel therefore
//  - loads each KV tile once for all query heads of a GQA group (kGroup heads),
//  - streams tiles of kTile tokens into shared memory with 16-byte cp.async,
//    double-buffered so the next tile is in flight while this one is used,
//  - swizzles the 16-byte chunks of each row (chunk ^ (row & 7)) so that both
//    the row-wise reads of Q·K and the column-wise reads of P·V are free of
//    bank conflicts without padding (padding would cost a third CTA per SM),
//  - splits long contexts across CTAs when batch × heads cannot fill the GPU,
//    and combines the partial softmax results in a second small kernel.
// Scores are kept in the log2 domain (q is pre-scaled by scale·log2 e) so the
// softmax uses exp2.
#include "paged_attention/paged_attention.h"

#include "common/cuda_check.h"

#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <algorithm>
#include <cmath>
#include <cstdint>

namespace slsim::kernels {
namespace {

constexpr int kThreads = 128;
constexpr int kVec = 8;             // 16-byte vector = 8 half-precision values
constexpr int kMaxGroup = 8;        // query heads per CTA sharing one KV tile
constexpr int kMinTilesPerSplit = 4;
constexpr int kMaxSplits = 64;
constexpr float kLog2e = 1.4426950408889634f;

template <typename T>
struct Vec2;
template <>
struct Vec2<__half> {
  using type = __half2;
  static __device__ float2 to_float2(type v) { return __half22float2(v); }
  static __device__ __half from_float(float v) { return __float2half_rn(v); }
  static __device__ float to_float(__half v) { return __half2float(v); }
};
template <>
struct Vec2<__nv_bfloat16> {
  using type = __nv_bfloat162;
  static __device__ float2 to_float2(type v) { return __bfloat1622float2(v); }
  static __device__ __nv_bfloat16 from_float(float v) { return __float2bfloat16_rn(v); }
  static __device__ float to_float(__nv_bfloat16 v) { return __bfloat162float(v); }
};

__device__ __forceinline__ void cp_async_16(void* smem, const void* gmem, bool valid) {
  const unsigned s = static_cast<unsigned>(__cvta_generic_to_shared(smem));
  const int src_size = valid ? 16 : 0;  // 0 zero-fills: masked tokens must not carry NaNs into P·V
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(s), "l"(gmem),
               "r"(src_size));
}
__device__ __forceinline__ void cp_async_commit() { asm volatile("cp.async.commit_group;\n" ::); }
template <int N>
__device__ __forceinline__ void cp_async_wait() {
  asm volatile("cp.async.wait_group %0;\n" ::"n"(N));
}

__device__ __forceinline__ int swizzled_chunk(int row, int chunk) { return chunk ^ (row & 7); }

// Tokens per shared-memory tile: 16 KB of K per stage whatever the head size,
// so that a CTA keeps as many bytes in flight at head_dim 64 as at 128.
constexpr int tile_tokens(int head_dim) { return 8192 / head_dim; }

template <typename T, int kHeadDim, int kGroup>
struct Smem {
  static constexpr int kTile = tile_tokens(kHeadDim);
  static constexpr int kSplitD = kThreads / kTile;  // threads sharing one token's Q·K
  static constexpr int kChunks = kHeadDim / kVec;         // 16-byte chunks per row
  static constexpr int kTileElems = kTile * kHeadDim;
  static constexpr int kPvGroups = kThreads / (kHeadDim / 2);  // token groups in P·V
  // [stage][K|V][kTile][kHeadDim] tiles, then q, scores, softmax state.
  static constexpr std::size_t kKvBytes = 2 * 2 * kTileElems * sizeof(T);
  static constexpr std::size_t kQBytes = kGroup * kHeadDim * sizeof(float);
  static constexpr std::size_t kScoreBytes = kSplitD * kGroup * kTile * sizeof(float);
  static constexpr std::size_t kStateBytes = 3 * kGroup * sizeof(float);
  static constexpr std::size_t kBytes = kKvBytes + kQBytes + kScoreBytes + kStateBytes;
  static_assert(kPvGroups * kGroup * kHeadDim * sizeof(float) <= kKvBytes,
                "the final reduction reuses the KV tile buffers");
};

template <typename T, int kHeadDim, int kGroup>
__global__ void __launch_bounds__(kThreads)
    paged_decode_kernel(PagedAttentionParams p, int log2_block_size, int tokens_per_split,
                        int num_splits, float* __restrict__ ws_out, float2* __restrict__ ws_ml) {
  using S = Smem<T, kHeadDim, kGroup>;
  using V2 = Vec2<T>;
  constexpr int kTile = S::kTile;
  extern __shared__ __align__(16) unsigned char smem_raw[];
  T* kv_s = reinterpret_cast<T*>(smem_raw);
  float* q_s = reinterpret_cast<float*>(smem_raw + S::kKvBytes);
  float* score_s = q_s + kGroup * kHeadDim;  // [kSplitD][kGroup][kTile]; part 0 then holds P
  float* alpha_s = score_s + S::kSplitD * kGroup * kTile;
  float* m_s = alpha_s + kGroup;
  float* l_s = m_s + kGroup;

  const int tid = threadIdx.x;
  const int group_size = p.num_q_heads / p.num_kv_heads;
  // kGroup may be smaller than the group: then several CTAs share one KV head
  // and all but the first read its tiles from L2 (they run side by side).
  const int chunks_per_kv_head = (group_size + kGroup - 1) / kGroup;
  const int kv_head = blockIdx.x / chunks_per_kv_head;
  const int head0 = kv_head * group_size + (blockIdx.x % chunks_per_kv_head) * kGroup;
  const int heads_here = min(kGroup, kv_head * group_size + group_size - head0);
  const int seq = blockIdx.y;
  const int split = blockIdx.z;

  const int context_len = p.context_lens[seq];
  const int begin = split * tokens_per_split;
  const int end = min(context_len, begin + tokens_per_split);
  const int num_tiles = end > begin ? (end - begin + kTile - 1) / kTile : 0;

  const T* q = static_cast<const T*>(p.q);
  for (int i = tid; i < kGroup * kHeadDim; i += kThreads) {
    const int g = i / kHeadDim;
    const float v = g < heads_here
                        ? V2::to_float(q[(static_cast<std::int64_t>(seq) * p.num_q_heads + head0 + g) *
                                             kHeadDim + i % kHeadDim])
                        : 0.0f;
    q_s[i] = v * p.scale * kLog2e;
  }
  if (tid < kGroup) {
    m_s[tid] = -INFINITY;
    l_s[tid] = 0.0f;
  }

  const int* table = p.block_tables + static_cast<std::int64_t>(seq) * p.max_blocks_per_seq;
  const T* k_cache = static_cast<const T*>(p.k_cache);
  const T* v_cache = static_cast<const T*>(p.v_cache);
  const int block_mask = (1 << log2_block_size) - 1;

  // Each thread copies a fixed chunk column of several rows: rows tid / kChunks + j·kRowsPerPass.
  constexpr int kRowsPerPass = kThreads / S::kChunks;
  const int load_chunk = tid % S::kChunks;
  auto load_tile = [&](int tile, int stage) {
    T* k_dst = kv_s + (stage * 2) * S::kTileElems;
    T* v_dst = k_dst + S::kTileElems;
    const int tile_begin = begin + tile * kTile;
#pragma unroll
    for (int j = 0; j < kTile / kRowsPerPass; ++j) {
      const int row = tid / S::kChunks + j * kRowsPerPass;
      const int token = tile_begin + row;
      const bool valid = token < end;
      std::int64_t offset = 0;
      if (valid) {
        const std::int64_t block = table[token >> log2_block_size];
        offset = (((block * p.num_kv_heads + kv_head) << log2_block_size) + (token & block_mask)) *
                     kHeadDim +
                 load_chunk * kVec;
      }
      const int dst = row * kHeadDim + swizzled_chunk(row, load_chunk) * kVec;
      cp_async_16(k_dst + dst, k_cache + offset, valid);
      cp_async_16(v_dst + dst, v_cache + offset, valid);
    }
    cp_async_commit();
  };

  // P·V ownership: a column pair and a contiguous run of tokens.
  const int pv_col = tid % (kHeadDim / 2);
  const int pv_group = tid / (kHeadDim / 2);
  constexpr int kPvTokens = kTile / S::kPvGroups;
  float acc[kGroup][2];
#pragma unroll
  for (int g = 0; g < kGroup; ++g) acc[g][0] = acc[g][1] = 0.0f;

  if (num_tiles > 0) load_tile(0, 0);
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
    const int valid_tokens = min(kTile, end - (begin + tile * kTile));

    {  // Q·K: thread = (token, 1/kSplitD of the head dimension), all heads of the group.
      const int row = tid % kTile;
      const int part = tid / kTile;
      float s[kGroup];
#pragma unroll
      for (int g = 0; g < kGroup; ++g) s[g] = 0.0f;
#pragma unroll
      for (int i = 0; i < S::kChunks / S::kSplitD; ++i) {
        const int chunk = part * (S::kChunks / S::kSplitD) + i;
        const uint4 raw = *reinterpret_cast<const uint4*>(
            k_tile + row * kHeadDim + swizzled_chunk(row, chunk) * kVec);
        const auto* pairs = reinterpret_cast<const typename V2::type*>(&raw);
        float kf[kVec];
#pragma unroll
        for (int e = 0; e < kVec / 2; ++e) {
          const float2 f = V2::to_float2(pairs[e]);
          kf[2 * e] = f.x;
          kf[2 * e + 1] = f.y;
        }
#pragma unroll
        for (int g = 0; g < kGroup; ++g) {
          const float4* qv = reinterpret_cast<const float4*>(q_s + g * kHeadDim + chunk * kVec);
          const float4 a = qv[0];
          const float4 b = qv[1];
          s[g] += a.x * kf[0] + a.y * kf[1] + a.z * kf[2] + a.w * kf[3] + b.x * kf[4] +
                  b.y * kf[5] + b.z * kf[6] + b.w * kf[7];
        }
      }
#pragma unroll
      for (int g = 0; g < kGroup; ++g) score_s[(part * kGroup + g) * kTile + row] = s[g];
    }
    __syncthreads();

    {  // Online softmax: one warp per head; each lane holds kTile / 32 tokens of the tile.
      constexpr int kPerLane = kTile / 32;
      const int warp = tid / 32;
      const int lane = tid % 32;
      for (int g = warp; g < kGroup; g += kThreads / 32) {
        float s[kPerLane];
        float tile_max = -INFINITY;
#pragma unroll
        for (int j = 0; j < kPerLane; ++j) {
          const int t = lane + 32 * j;
          float v = 0.0f;
#pragma unroll
          for (int part = 0; part < S::kSplitD; ++part) v += score_s[(part * kGroup + g) * kTile + t];
          s[j] = t < valid_tokens ? v : -INFINITY;
          tile_max = fmaxf(tile_max, s[j]);
        }
#pragma unroll
        for (int o = 16; o > 0; o /= 2) tile_max = fmaxf(tile_max, __shfl_xor_sync(~0u, tile_max, o));
        const float m_old = m_s[g];
        const float m_new = fmaxf(m_old, tile_max);
        float sum = 0.0f;
#pragma unroll
        for (int j = 0; j < kPerLane; ++j) {
          s[j] = exp2f(s[j] - m_new);
          sum += s[j];
        }
#pragma unroll
        for (int o = 16; o > 0; o /= 2) sum += __shfl_xor_sync(~0u, sum, o);
        __syncwarp();  // every lane has read its scores before part 0 is overwritten with P
#pragma unroll
        for (int j = 0; j < kPerLane; ++j) score_s[g * kTile + lane + 32 * j] = s[j];
        if (lane == 0) {
          const float alpha = exp2f(m_old - m_new);
          alpha_s[g] = alpha;
          m_s[g] = m_new;
          l_s[g] = l_s[g] * alpha + sum;
        }
      }
    }
    __syncthreads();

    {  // P·V: thread = (column pair, run of kPvTokens tokens), all heads of the group.
#pragma unroll
      for (int g = 0; g < kGroup; ++g) {
        const float alpha = alpha_s[g];
        acc[g][0] *= alpha;
        acc[g][1] *= alpha;
      }
      const int chunk = pv_col / 4;
      const int within = (pv_col % 4) * 2;
#pragma unroll 4
      for (int t4 = 0; t4 < kPvTokens; t4 += 4) {
        const int row0 = pv_group * kPvTokens + t4;
        float2 v[4];
#pragma unroll
        for (int u = 0; u < 4; ++u) {
          const int row = row0 + u;
          v[u] = V2::to_float2(*reinterpret_cast<const typename V2::type*>(
              v_tile + row * kHeadDim + swizzled_chunk(row, chunk) * kVec + within));
        }
#pragma unroll
        for (int g = 0; g < kGroup; ++g) {
          const float4 pr = *reinterpret_cast<const float4*>(score_s + g * kTile + row0);
          acc[g][0] += pr.x * v[0].x + pr.y * v[1].x + pr.z * v[2].x + pr.w * v[3].x;
          acc[g][1] += pr.x * v[0].y + pr.y * v[1].y + pr.z * v[2].y + pr.w * v[3].y;
        }
      }
    }
    __syncthreads();  // the next iteration's prefetch overwrites this stage
  }

  // Reduce the token groups of P·V through shared memory (the KV tiles are free now).
  float* red = reinterpret_cast<float*>(smem_raw);
#pragma unroll
  for (int g = 0; g < kGroup; ++g) {
    red[(pv_group * kGroup + g) * kHeadDim + 2 * pv_col] = acc[g][0];
    red[(pv_group * kGroup + g) * kHeadDim + 2 * pv_col + 1] = acc[g][1];
  }
  __syncthreads();
  for (int i = tid; i < heads_here * kHeadDim; i += kThreads) {
    const int g = i / kHeadDim;
    const int d = i % kHeadDim;
    float o = 0.0f;
#pragma unroll
    for (int pg = 0; pg < S::kPvGroups; ++pg) o += red[(pg * kGroup + g) * kHeadDim + d];
    const float l = l_s[g];
    o = l > 0.0f ? o / l : 0.0f;
    const std::int64_t row = static_cast<std::int64_t>(seq) * p.num_q_heads + head0 + g;
    if (num_splits == 1) {
      static_cast<T*>(p.out)[row * kHeadDim + d] = V2::from_float(o);
    } else {
      ws_out[(row * num_splits + split) * kHeadDim + d] = o;
      if (d == 0) ws_ml[row * num_splits + split] = make_float2(m_s[g], l);
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
  out[row * kHeadDim + d] = Vec2<T>::from_float(den > 0.0f ? num / den : 0.0f);
}

// Query heads per CTA: the group size rounded up to a power of two, capped.
int group_tile(const PagedAttentionParams& p) {
  const int group_size = p.num_q_heads / p.num_kv_heads;
  const int cap = p.max_heads_per_cta > 0 ? std::min(p.max_heads_per_cta, kMaxGroup) : kMaxGroup;
  int g = 1;
  while (g < group_size && g < cap) g *= 2;
  return g;
}

template <typename T, int kHeadDim, int kGroup>
int ctas_per_sm() {
  static int cached = [] {
    const auto kernel = paged_decode_kernel<T, kHeadDim, kGroup>;
    const int bytes = static_cast<int>(Smem<T, kHeadDim, kGroup>::kBytes);
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

template <typename T, int kHeadDim>
int occupancy_by_group(int group) {
  switch (group) {
    case 1: return ctas_per_sm<T, kHeadDim, 1>();
    case 2: return ctas_per_sm<T, kHeadDim, 2>();
    case 4: return ctas_per_sm<T, kHeadDim, 4>();
    default: return ctas_per_sm<T, kHeadDim, 8>();
  }
}

int occupancy(const PagedAttentionParams& p, int group) {
  if (p.dtype == AttnDtype::f16) {
    return p.head_dim == 64 ? occupancy_by_group<__half, 64>(group)
                            : occupancy_by_group<__half, 128>(group);
  }
  return p.head_dim == 64 ? occupancy_by_group<__nv_bfloat16, 64>(group)
                          : occupancy_by_group<__nv_bfloat16, 128>(group);
}

int tokens_per_split(const PagedAttentionParams& p, int num_splits) {
  const int tile = tile_tokens(p.head_dim);
  const int per_split = (p.max_context_len + num_splits - 1) / num_splits;
  return (per_split + tile - 1) / tile * tile;
}

template <typename T, int kHeadDim, int kGroup>
void launch(const PagedAttentionParams& p, int num_splits, void* workspace, cudaStream_t stream) {
  const int group_size = p.num_q_heads / p.num_kv_heads;
  const int chunks = (group_size + kGroup - 1) / kGroup;
  const dim3 grid(p.num_kv_heads * chunks, p.batch, num_splits);
  const int bytes = static_cast<int>(Smem<T, kHeadDim, kGroup>::kBytes);
  ctas_per_sm<T, kHeadDim, kGroup>();  // raises the dynamic shared-memory limit once
  int log2_block = 0;
  while ((1 << log2_block) < p.block_size) ++log2_block;
  auto* ws_out = static_cast<float*>(workspace);
  auto* ws_ml = reinterpret_cast<float2*>(
      ws_out + static_cast<std::size_t>(p.batch) * p.num_q_heads * num_splits * kHeadDim);
  paged_decode_kernel<T, kHeadDim, kGroup><<<grid, kThreads, bytes, stream>>>(
      p, log2_block, tokens_per_split(p, num_splits), num_splits, ws_out, ws_ml);
  CUDA_CHECK_LAUNCH();
  if (num_splits > 1) {
    combine_splits_kernel<T, kHeadDim><<<dim3(p.num_q_heads, p.batch), kHeadDim, 0, stream>>>(
        p.num_q_heads, num_splits, ws_out, ws_ml, static_cast<T*>(p.out));
    CUDA_CHECK_LAUNCH();
  }
}

template <typename T, int kHeadDim>
void launch_by_group(const PagedAttentionParams& p, int num_splits, void* ws, cudaStream_t s) {
  switch (group_tile(p)) {
    case 1: return launch<T, kHeadDim, 1>(p, num_splits, ws, s);
    case 2: return launch<T, kHeadDim, 2>(p, num_splits, ws, s);
    case 4: return launch<T, kHeadDim, 4>(p, num_splits, ws, s);
    default: return launch<T, kHeadDim, 8>(p, num_splits, ws, s);
  }
}

}  // namespace

const char* paged_attention_unsupported(const PagedAttentionParams& p) {
  if (p.head_dim != 64 && p.head_dim != 128) return "head_dim must be 64 or 128";
  if (p.num_kv_heads <= 0 || p.num_q_heads % p.num_kv_heads != 0)
    return "num_q_heads must be a positive multiple of num_kv_heads";
  if (p.block_size <= 0 || (p.block_size & (p.block_size - 1)) != 0)
    return "block_size must be a power of two";
  if (p.batch <= 0 || p.batch > 65535) return "batch must be in [1, 65535]";
  if (p.max_context_len < 0) return "max_context_len must be non-negative";
  return "";
}

int paged_attention_splits(const PagedAttentionParams& p, int requested_splits) {
  const int min_split_tokens = tile_tokens(p.head_dim) * kMinTilesPerSplit;
  const int max_by_length = std::max(
      1, std::min(kMaxSplits, (p.max_context_len + min_split_tokens - 1) / min_split_tokens));
  if (requested_splits > 0) return std::min(requested_splits, max_by_length);
  // Flash-decoding's heuristic: the fewest splits whose last wave is nearly as
  // full as the best choice's (every split adds a partial write and a combine).
  const int group_size = p.num_q_heads / p.num_kv_heads;
  const int group = group_tile(p);
  const int base = p.batch * p.num_kv_heads * ((group_size + group - 1) / group);
  const int slots = sm_count() * occupancy(p, group);
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

std::size_t paged_attention_workspace_bytes(const PagedAttentionParams& p, int num_splits) {
  if (num_splits <= 1) return 0;
  const std::size_t rows = static_cast<std::size_t>(p.batch) * p.num_q_heads * num_splits;
  return rows * p.head_dim * sizeof(float) + rows * sizeof(float2);
}

void paged_attention(const PagedAttentionParams& p, int num_splits, void* workspace,
                     cudaStream_t stream) {
  if (p.dtype == AttnDtype::f16) {
    if (p.head_dim == 64) return launch_by_group<__half, 64>(p, num_splits, workspace, stream);
    return launch_by_group<__half, 128>(p, num_splits, workspace, stream);
  }
  if (p.head_dim == 64) return launch_by_group<__nv_bfloat16, 64>(p, num_splits, workspace, stream);
  return launch_by_group<__nv_bfloat16, 128>(p, num_splits, workspace, stream);
}

}  // namespace slsim::kernels
