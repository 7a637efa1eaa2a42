// A C interface to the project's paged decode-attention kernel, so that the testbed's
// Python engine can call it through ctypes (no PyTorch extension build on the GPU machine).
// The launch goes to the caller's stream, so it is captured when that stream is capturing.
#include <cuda_runtime.h>

#include "paged_attention/paged_attention.h"

namespace {

slsim::kernels::PagedAttentionParams make_params(const void* q, const void* k_cache, const void* v_cache,
                                                 const int* block_tables, const int* context_lens, void* out, int batch,
                                                 int num_q_heads, int num_kv_heads, int head_dim, int block_size,
                                                 int max_blocks_per_seq, int max_context_len, float scale,
                                                 int is_bf16) {
  slsim::kernels::PagedAttentionParams p;
  p.q = q;
  p.k_cache = k_cache;
  p.v_cache = v_cache;
  p.block_tables = block_tables;
  p.context_lens = context_lens;
  p.out = out;
  p.batch = batch;
  p.num_q_heads = num_q_heads;
  p.num_kv_heads = num_kv_heads;
  p.head_dim = head_dim;
  p.block_size = block_size;
  p.max_blocks_per_seq = max_blocks_per_seq;
  p.max_context_len = max_context_len;
  p.scale = scale;
  p.dtype = is_bf16 ? slsim::kernels::AttnDtype::bf16 : slsim::kernels::AttnDtype::f16;
  return p;
}

}  // namespace

extern "C" {

// Splits the launcher would use (0 when the configuration is unsupported).
int slsim_pa_splits(int batch, int num_q_heads, int num_kv_heads, int head_dim, int block_size, int max_blocks_per_seq,
                    int max_context_len, int is_bf16) {
  const auto p = make_params(nullptr, nullptr, nullptr, nullptr, nullptr, nullptr, batch, num_q_heads, num_kv_heads,
                             head_dim, block_size, max_blocks_per_seq, max_context_len, 1.0f, is_bf16);
  if (slsim::kernels::paged_attention_unsupported(p)[0] != '\0') return 0;
  return slsim::kernels::paged_attention_splits(p, 0);
}

unsigned long long slsim_pa_workspace_bytes(int batch, int num_q_heads, int num_kv_heads, int head_dim, int block_size,
                                            int max_blocks_per_seq, int max_context_len, int is_bf16, int num_splits) {
  const auto p = make_params(nullptr, nullptr, nullptr, nullptr, nullptr, nullptr, batch, num_q_heads, num_kv_heads,
                             head_dim, block_size, max_blocks_per_seq, max_context_len, 1.0f, is_bf16);
  return slsim::kernels::paged_attention_workspace_bytes(p, num_splits);
}

// Returns 0 on success, else a CUDA error code (of the launch).
int slsim_pa_run(const void* q, const void* k_cache, const void* v_cache, const int* block_tables,
                 const int* context_lens, void* out, int batch, int num_q_heads, int num_kv_heads, int head_dim,
                 int block_size, int max_blocks_per_seq, int max_context_len, float scale, int is_bf16, int num_splits,
                 void* workspace, void* stream) {
  const auto p = make_params(q, k_cache, v_cache, block_tables, context_lens, out, batch, num_q_heads, num_kv_heads,
                             head_dim, block_size, max_blocks_per_seq, max_context_len, scale, is_bf16);
  slsim::kernels::paged_attention(p, num_splits, workspace, static_cast<cudaStream_t>(stream));
  return static_cast<int>(cudaGetLastError());
}

}  // extern "C"
