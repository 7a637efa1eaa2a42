#include "sim/engine/model_spec.h"

#include <fmt/format.h>

#include <cmath>

#include "sim/core/errors.h"

namespace slsim {

namespace {

const std::vector<std::string> kWeightDtypes = {"fp32", "fp16", "bf16", "fp8", "int8", "int4", "mxfp4"};
const std::vector<std::string> kKvDtypes = {"fp32", "fp16", "bf16", "fp8"};

void check_choice(const std::optional<std::string>& value, const std::vector<std::string>& choices,
                  const std::string& path) {
  if (!value) return;
  std::string list;
  for (const std::string& c : choices) {
    if (*value == c) return;
    list += (list.empty() ? "" : ", ") + c;
  }
  throw ConfigError(path, fmt::format("expected one of {}, got \"{}\"", list, *value));
}

// A checkpoint's parameters by the dtype they are stored in: the decoder layers' matrices
// (linear_dtype), the routed experts' matrices (expert_dtype) and the rest (dtype).
struct ParameterSplit {
  int64_t linear = 0;
  int64_t experts = 0;
  int64_t other = 0;
  int64_t total() const { return linear + experts + other; }
};

int64_t norm_width(const Architecture& a) { return a.norm == "layernorm" ? 2 : 1; }
int64_t ffn_matrices(const Architecture& a) { return a.ffn_kind == "gated" ? 3 : 2; }

// Biases of one FFN of `width` (gate and up, or up, then down).
int64_t ffn_bias_parameters(const Architecture& a, int64_t width) {
  return a.mlp_bias ? (a.ffn_kind == "gated" ? 2 : 1) * width + a.hidden_size : 0;
}

// Parameters of one layer besides its matrices and its FFN's biases: attention biases, norms.
int64_t layer_small_parameters(const Architecture& a) {
  const int64_t q_width = a.attention_heads * a.head_dim;
  const int64_t kv_width = a.kv_heads * a.head_dim;
  int64_t small = a.norms_per_layer * norm_width(a) * a.hidden_size;
  if (a.qkv_bias) small += q_width + 2 * kv_width;
  if (a.out_bias) small += a.hidden_size;
  if (a.qk_norm) small += 2 * a.head_dim;
  if (a.mla) small += norm_width(a) * (a.mla->q_lora_rank + a.mla->kv_lora_rank);
  return small;
}

// The router and the experts' biases of one MoE layer.
int64_t moe_small_parameters(const Architecture& a) {
  const MoeArchitecture& moe = *a.moe;
  return (moe.routed_experts + moe.shared_experts) * ffn_bias_parameters(a, moe.expert_ffn_size) +
         moe.routed_experts * a.hidden_size + (moe.router_bias ? moe.routed_experts : 0);
}

ParameterSplit main_model_split(const ModelSpec& m) {
  const Architecture& a = m.architecture;
  ParameterSplit split;
  split.linear = a.layers * m.attention_weights_per_layer() + m.dense_ffn_layers() * m.ffn_weights(a.ffn_size);
  split.other = a.layers * layer_small_parameters(a) + m.dense_ffn_layers() * ffn_bias_parameters(a, a.ffn_size);
  if (a.moe) {
    split.linear += m.moe_layers() * a.moe->shared_experts * m.expert_weights();
    split.experts = m.moe_layers() * a.moe->routed_experts * m.expert_weights();
    split.other += m.moe_layers() * moe_small_parameters(a);
  }
  // The output head, the input embedding unless the head is it, the position table.
  split.other += a.vocab_size * a.hidden_size * (a.tied_embeddings ? 1 : 2) + a.position_embeddings * a.hidden_size +
                 (a.final_norm ? norm_width(a) * a.hidden_size : 0) + a.extra_params;
  return split;
}

// DeepSeek-V3's multi-token-prediction modules: a decoder layer of the model's last kind, a
// projection of [embedding; hidden state] (2h x h), three norms, and their own copies of the
// embedding and output head as the published checkpoint stores them.
ParameterSplit prediction_modules_split(const ModelSpec& m) {
  const Architecture& a = m.architecture;
  const int64_t modules = a.mtp_layers.value_or(0);
  ParameterSplit split;
  if (modules == 0) return split;
  split.linear = m.attention_weights_per_layer() + 2 * a.hidden_size * a.hidden_size;
  split.other = layer_small_parameters(a) + 3 * norm_width(a) * a.hidden_size + 2 * a.vocab_size * a.hidden_size;
  if (a.moe) {
    split.linear += a.moe->shared_experts * m.expert_weights();
    split.experts = a.moe->routed_experts * m.expert_weights();
    split.other += moe_small_parameters(a);
  } else {
    split.linear += m.ffn_weights(a.ffn_size);
    split.other += ffn_bias_parameters(a, a.ffn_size);
  }
  return {modules * split.linear, modules * split.experts, modules * split.other};
}

double bytes_of(const ModelSpec& m, const ParameterSplit& split) {
  return static_cast<double>(split.other) * m.bytes_per_parameter() +
         static_cast<double>(split.linear) * dtype_bytes(m.linear_weight_dtype()) +
         static_cast<double>(split.experts) * dtype_bytes(m.expert_weight_dtype());
}

}  // namespace

double dtype_bytes(const std::string& dtype) {
  if (dtype == "fp32") return 4;
  if (dtype == "fp8" || dtype == "int8") return 1;
  if (dtype == "int4") return 0.5;
  // OCP MX: blocks of 32 four-bit values share one 8-bit scale, 4 + 8 / 32 = 4.25 bits.
  if (dtype == "mxfp4") return 4.25 / 8;
  return 2;
}

void MoeArchitecture::check(const std::string& path) const {
  if (experts_per_token > routed_experts)
    throw ConfigError(join_path(path, "experts_per_token"),
                      fmt::format("expected at most routed_experts ({}), got {}", routed_experts, experts_per_token));
}

void Architecture::check(const std::string& path) const {
  if (moe && moe->dense_layers_first >= layers)
    throw ConfigError(join_path(join_path(path, "moe"), "dense_layers_first"),
                      fmt::format("expected fewer than layers ({}), got {}", layers, moe->dense_layers_first));
}

void ModelSpec::check(const std::string& path) const {
  check_choice(linear_dtype, kWeightDtypes, join_path(path, "linear_dtype"));
  check_choice(expert_dtype, kWeightDtypes, join_path(path, "expert_dtype"));
  check_choice(kv_dtype, kKvDtypes, join_path(path, "kv_dtype"));
}

double ModelSpec::bytes_per_parameter() const { return dtype_bytes(dtype); }

std::string ModelSpec::kv_cache_dtype() const {
  if (kv_dtype) return *kv_dtype;
  // Weight-only quantization keeps a 16-bit cache.
  return dtype == "fp32" || is_16_bit(dtype) ? dtype : "bf16";
}

int64_t ModelSpec::moe_layers() const {
  return architecture.moe ? architecture.layers - architecture.moe->dense_layers_first : 0;
}

int64_t ModelSpec::dense_ffn_layers() const { return architecture.layers - moe_layers(); }

int64_t ModelSpec::attention_weights_per_layer() const {
  const Architecture& a = architecture;
  if (a.mla) {
    const MlaArchitecture& mla = *a.mla;
    const int64_t q_head = mla.qk_nope_head_dim + mla.qk_rope_head_dim;
    const int64_t q = mla.q_lora_rank > 0
                          ? a.hidden_size * mla.q_lora_rank + mla.q_lora_rank * a.attention_heads * q_head
                          : a.hidden_size * a.attention_heads * q_head;
    const int64_t kv = a.hidden_size * (mla.kv_lora_rank + mla.qk_rope_head_dim) +
                       mla.kv_lora_rank * a.attention_heads * (mla.qk_nope_head_dim + mla.v_head_dim);
    return q + kv + a.attention_heads * mla.v_head_dim * a.hidden_size;
  }
  const int64_t q_width = a.attention_heads * a.head_dim;
  const int64_t kv_width = a.kv_heads * a.head_dim;
  return a.hidden_size * (q_width + 2 * kv_width) + q_width * a.hidden_size;
}

int64_t ModelSpec::ffn_weights(int64_t ffn_size) const {
  return ffn_matrices(architecture) * architecture.hidden_size * ffn_size;
}

int64_t ModelSpec::expert_weights() const {
  return architecture.moe ? ffn_weights(architecture.moe->expert_ffn_size) : 0;
}

double ModelSpec::routed_expert_bytes() const {
  if (!architecture.moe) return 0;
  return static_cast<double>(expert_weights()) * dtype_bytes(expert_weight_dtype()) +
         static_cast<double>(ffn_bias_parameters(architecture, architecture.moe->expert_ffn_size)) *
             bytes_per_parameter();
}

int64_t ModelSpec::linear_parameters() const {
  const Architecture& a = architecture;
  int64_t active = a.layers * attention_weights_per_layer() + dense_ffn_layers() * ffn_weights(a.ffn_size);
  if (a.moe)
    active += moe_layers() * ((a.moe->shared_experts + a.moe->experts_per_token) * expert_weights() +
                              a.hidden_size * a.moe->routed_experts);
  return active + a.vocab_size * a.hidden_size;
}

int64_t ModelSpec::parameters() const {
  return main_model_split(*this).total() + prediction_modules_split(*this).total();
}

int64_t ModelSpec::active_parameters() const {
  const Architecture& a = architecture;
  int64_t unused_experts = 0;
  if (a.moe)
    unused_experts = moe_layers() * (a.moe->routed_experts - a.moe->experts_per_token) *
                     (expert_weights() + ffn_bias_parameters(a, a.moe->expert_ffn_size));
  return main_model_split(*this).total() - unused_experts;
}

int64_t ModelSpec::checkpoint_bytes() const {
  return static_cast<int64_t>(
      std::llround(bytes_of(*this, main_model_split(*this)) + bytes_of(*this, prediction_modules_split(*this))));
}

double ModelSpec::shared_weight_bytes() const {
  return static_cast<double>(checkpoint_bytes()) - bytes_of(*this, prediction_modules_split(*this)) -
         static_cast<double>(moe_layers() * (architecture.moe ? architecture.moe->routed_experts : 0)) *
             routed_expert_bytes();
}

int64_t ModelSpec::kv_bytes_per_token() const {
  const Architecture& a = architecture;
  const double kv_bytes = dtype_bytes(kv_cache_dtype());
  if (a.mla)
    return static_cast<int64_t>(static_cast<double>(a.layers * (a.mla->kv_lora_rank + a.mla->qk_rope_head_dim)) *
                                kv_bytes);
  return static_cast<int64_t>(2 * a.layers * a.kv_heads * a.head_dim * kv_bytes);
}

int64_t ModelSpec::attention_flops_per_pair_per_layer() const {
  const Architecture& a = architecture;
  if (a.mla) return 2 * a.attention_heads * (a.mla->qk_nope_head_dim + a.mla->qk_rope_head_dim + a.mla->v_head_dim);
  return 4 * attention_width();
}

}  // namespace slsim

namespace slsim {

int64_t ModelSpec::tensor_count() const {
  const Architecture& a = architecture;
  const int64_t norm_tensors = a.norm == "layernorm" ? 2 : 1;
  const int64_t matrices = ffn_matrices(a);
  // One tensor per matrix and per bias; MLA has q_a, q_a_norm, q_b (or one q), kv_a, kv_a_norm, kv_b, o.
  int64_t attention = 4;
  if (a.mla) attention = (a.mla->q_lora_rank > 0 ? 3 : 1) + 4;
  int64_t per_layer = attention + a.norms_per_layer * norm_tensors;
  if (a.qkv_bias) per_layer += 3;
  if (a.out_bias) per_layer += 1;
  if (a.qk_norm) per_layer += 2;
  const int64_t ffn = matrices * (a.mlp_bias ? 2 : 1);
  int64_t moe_ffn = 0;
  if (a.moe) moe_ffn = 1 + (a.moe->router_bias ? 1 : 0) + (a.moe->routed_experts + a.moe->shared_experts) * ffn;
  const int64_t modules = a.mtp_layers.value_or(0);
  const int64_t module_tensors = per_layer + (a.moe ? moe_ffn : ffn) + 1 + 3 * norm_tensors + 2;
  return dense_ffn_layers() * (per_layer + ffn) + moe_layers() * (per_layer + moe_ffn) + modules * module_tensors + 1 +
         (a.tied_embeddings ? 0 : 1) + (a.position_embeddings > 0 ? 1 : 0) + (a.final_norm ? norm_tensors : 0);
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
