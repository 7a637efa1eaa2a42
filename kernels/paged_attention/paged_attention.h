// Decode attention over a paged KV cache (one query token per sequence).
//
// Layouts (row-major):
//   q            [batch, num_q_heads, head_dim]
//   k_cache      [num_blocks, num_kv_heads, block_size, head_dim]
//   v_cache      [num_blocks, num_kv_heads, block_size, head_dim]
//   block_tables [batch, max_blocks_per_seq]   physical block of each logical block
//   context_lens [batch]                       tokens in the cache for each sequence
//   out          [batch, num_q_heads, head_dim]
// Each (block, kv head) is one contiguous block_size × head_dim tile, so a tile
// load is a run of 16-byte vectors (the "HND" layout of FlashInfer).
//
// Supported: fp16 and bf16; head_dim 64 and 128; any num_q_heads that is a
// multiple of num_kv_heads (MHA and GQA); block_size a power of two ≥ 1.
// Long contexts at small batch × heads are split along the context
// (flash-decoding): each split writes a partial result to a workspace and a
// second kernel combines them.
#pragma once

#include <cuda_runtime.h>

#include <cstddef>

namespace slsim::kernels {

enum class AttnDtype { f16, bf16 };

struct PagedAttentionParams {
  const void* q = nullptr;
  const void* k_cache = nullptr;
  const void* v_cache = nullptr;
  const int* block_tables = nullptr;
  const int* context_lens = nullptr;
  void* out = nullptr;
  int batch = 0;
  int num_q_heads = 0;
  int num_kv_heads = 0;
  int head_dim = 0;
  int block_size = 0;
  int max_blocks_per_seq = 0;
  int max_context_len = 0;  // upper bound of context_lens; sizes the split grid
  float scale = 0.0f;       // usually 1/sqrt(head_dim)
  AttnDtype dtype = AttnDtype::f16;
  // Query heads of one GQA group that share a CTA (1, 2, 4, 8 or 16 = the mma
  // M dimension; 0 = the launcher's choice, as many as fit). Fewer heads per CTA
  // means more CTAs; the other CTAs of the group then read the tiles from L2.
  int max_heads_per_cta = 0;
};

// Returns an empty string when the configuration is supported, else why not.
const char* paged_attention_unsupported(const PagedAttentionParams& p);

// Number of context splits the launcher would use on this device (0 = auto).
int paged_attention_splits(const PagedAttentionParams& p, int requested_splits);

// Resident CTAs per SM of the decode kernel for this configuration's type and head size.
int paged_attention_ctas_per_sm(const PagedAttentionParams& p);

// Workspace bytes needed for a given number of splits (0 when splits == 1).
std::size_t paged_attention_workspace_bytes(const PagedAttentionParams& p, int num_splits);

// Launches the decode kernel (and the combine kernel when num_splits > 1) on
// stream. num_splits comes from paged_attention_splits; the workspace must hold
// paged_attention_workspace_bytes(p, num_splits) bytes.
void paged_attention(const PagedAttentionParams& p, int num_splits, void* workspace, cudaStream_t stream);

}  // namespace slsim::kernels
