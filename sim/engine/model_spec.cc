#include "sim/engine/model_spec.h"

#include <cmath>

namespace slsim {

double ModelSpec::bytes_per_parameter() const {
  if (dtype == "fp32") return 4;
  if (dtype == "int8") return 1;
  if (dtype == "int4") return 0.5;
  return 2;
}

int64_t ModelSpec::linear_parameters() const {
  const Architecture& a = architecture;
  const int64_t q_width = a.attention_heads * a.head_dim;
  const int64_t kv_width = a.kv_heads * a.head_dim;
  const int64_t attention = a.hidden_size * (q_width + 2 * kv_width) + q_width * a.hidden_size;
  const int64_t ffn_matrices = a.ffn_kind == "gated" ? 3 : 2;
  const int64_t ffn = ffn_matrices * a.hidden_size * a.ffn_size;
  return a.layers * (attention + ffn) + a.vocab_size * a.hidden_size;
}

int64_t ModelSpec::parameters() const {
  const Architecture& a = architecture;
  const int64_t q_width = a.attention_heads * a.head_dim;
  const int64_t kv_width = a.kv_heads * a.head_dim;
  const int64_t norm_width = a.norm == "layernorm" ? 2 : 1;
  int64_t per_layer = 0;
  if (a.qkv_bias) per_layer += q_width + 2 * kv_width;
  if (a.out_bias) per_layer += a.hidden_size;
  if (a.mlp_bias) per_layer += (a.ffn_kind == "gated" ? 2 : 1) * a.ffn_size + a.hidden_size;
  per_layer += a.norms_per_layer * norm_width * a.hidden_size;
  if (a.qk_norm) per_layer += 2 * a.head_dim;
  // linear_parameters() counts the output head once; a tied head is the input embedding itself.
  const int64_t input_embedding = a.tied_embeddings ? 0 : a.vocab_size * a.hidden_size;
  return linear_parameters() + a.layers * per_layer + input_embedding + a.position_embeddings * a.hidden_size +
         (a.final_norm ? norm_width * a.hidden_size : 0) + a.extra_params;
}

int64_t ModelSpec::checkpoint_bytes() const {
  return static_cast<int64_t>(std::llround(static_cast<double>(parameters()) * bytes_per_parameter()));
}

int64_t ModelSpec::kv_bytes_per_token() const {
  const Architecture& a = architecture;
  const double kv_dtype_bytes = dtype == "fp32" ? 4 : 2;  // quantized weights still keep a 16-bit cache
  return static_cast<int64_t>(2 * a.layers * a.kv_heads * a.head_dim * kv_dtype_bytes);
}

}  // namespace slsim

namespace slsim {

int64_t ModelSpec::tensor_count() const {
  const Architecture& a = architecture;
  const int64_t norm_tensors = a.norm == "layernorm" ? 2 : 1;
  int64_t per_layer = 4 + (a.ffn_kind == "gated" ? 3 : 2) + a.norms_per_layer * norm_tensors;
  if (a.qkv_bias) per_layer += 3;
  if (a.out_bias) per_layer += 1;
  if (a.mlp_bias) per_layer += a.ffn_kind == "gated" ? 3 : 2;
  if (a.qk_norm) per_layer += 2;
  return a.layers * per_layer + 1 + (a.tied_embeddings ? 0 : 1) + (a.position_embeddings > 0 ? 1 : 0) +
         (a.final_norm ? norm_tensors : 0);
}

int64_t ModelSpec::lora_adapter_bytes(int64_t rank) const {
  const Architecture& a = architecture;
  const int64_t q_width = attention_width();
  const int64_t kv_width = a.kv_heads * a.head_dim;
  // Each adapted matrix W (in x out) gains A (rank x in) and B (out x rank).
  const int64_t per_layer = rank * ((a.hidden_size + q_width) * 2 + (a.hidden_size + kv_width) * 2);
  return static_cast<int64_t>(static_cast<double>(a.layers * per_layer) * bytes_per_parameter());
}

}  // namespace slsim
