#pragma once
// A model's architecture as published (models/llm/*.json) and what follows from it: parameter
// count, checkpoint bytes, KV-cache bytes per token, and the FLOPs of a forward pass. Optional
// blocks describe mixture-of-experts layers (`moe`), DeepSeek's multi-head latent attention
// (`mla`) and per-tensor dtypes; a model without them is the dense transformer of models/README.md.

#include <cstdint>
#include <optional>
#include <string>

#include "sim/core/fields.h"

namespace slsim {

// Layers whose FFN is a set of routed experts (each a gated or plain FFN of expert_ffn_size),
// of which a router picks experts_per_token for each token, plus shared experts every token uses.
struct MoeArchitecture {
  int64_t routed_experts = 0;
  int64_t experts_per_token = 0;
  int64_t shared_experts = 0;
  int64_t expert_ffn_size = 0;
  int64_t dense_layers_first = 0;
  bool router_bias = false;
  double expert_skew = 0;

  template <class V>
  void visit(V& v) {
    v.required("routed_experts", routed_experts, "experts a router chooses from in each MoE layer", at_least(1));
    v.required("experts_per_token", experts_per_token, "experts each token is routed to (top-k)", at_least(1));
    v.field("shared_experts", shared_experts, "experts every token passes through besides its routed ones",
            at_least(0));
    v.required("expert_ffn_size", expert_ffn_size, "inner width of one expert's FFN", at_least(1));
    v.field("dense_layers_first", dense_layers_first,
            "leading layers with a dense FFN of ffn_size instead of experts (DeepSeek's first_k_dense_replace)",
            at_least(0));
    v.field("router_bias", router_bias,
            "one value per expert besides the router's matrix (gpt-oss's bias, DeepSeek's e_score_correction_bias)");
    v.field("expert_skew", expert_skew,
            "routing imbalance: Zipf exponent of expert popularity, 0 = uniform (not from config.json; "
            "docs/decisions.md)",
            at_least(0));
  }
  void check(const std::string& path) const;
};

// Multi-head latent attention (DeepSeek-V2/V3): keys and values are cached as one compressed
// latent of kv_lora_rank plus a shared rotary key of qk_rope_head_dim per token and layer.
struct MlaArchitecture {
  int64_t q_lora_rank = 0;
  int64_t kv_lora_rank = 0;
  int64_t qk_rope_head_dim = 0;
  int64_t qk_nope_head_dim = 0;
  int64_t v_head_dim = 0;

  template <class V>
  void visit(V& v) {
    v.field("q_lora_rank", q_lora_rank, "rank of the query compression; 0: a full q projection", at_least(0));
    v.required("kv_lora_rank", kv_lora_rank, "width of the cached key/value latent", at_least(1));
    v.required("qk_rope_head_dim", qk_rope_head_dim, "rotary part of a query/key head (shared key, cached)",
               at_least(1));
    v.required("qk_nope_head_dim", qk_nope_head_dim, "non-rotary part of a query/key head", at_least(1));
    v.required("v_head_dim", v_head_dim, "dimension of one value head", at_least(1));
  }
};

struct Architecture {
  int64_t layers = 0;
  int64_t hidden_size = 0;
  int64_t attention_heads = 0;
  int64_t kv_heads = 0;
  int64_t head_dim = 0;
  int64_t ffn_size = 0;
  std::string ffn_kind = "mlp";
  int64_t vocab_size = 0;
  int64_t max_context = 0;
  int64_t position_embeddings = 0;
  bool tied_embeddings = false;
  bool qkv_bias = false;
  bool out_bias = false;
  bool mlp_bias = false;
  std::string norm = "layernorm";
  int64_t norms_per_layer = 2;
  bool qk_norm = false;
  bool final_norm = true;
  int64_t extra_params = 0;
  std::optional<MoeArchitecture> moe;
  std::optional<MlaArchitecture> mla;
  std::optional<int64_t> mtp_layers;

  template <class V>
  void visit(V& v) {
    v.required("layers", layers, "decoder layers", at_least(1));
    v.required("hidden_size", hidden_size, "model width", at_least(1));
    v.required("attention_heads", attention_heads, "query heads", at_least(1));
    v.required("kv_heads", kv_heads, "key/value heads (< attention_heads for GQA/MQA)", at_least(1));
    v.required("head_dim", head_dim, "dimension of one head", at_least(1));
    v.required("ffn_size", ffn_size, "FFN inner width", at_least(1));
    v.choice("ffn_kind", ffn_kind, "mlp: up+down matrices; gated: gate+up+down (SwiGLU)", {"mlp", "gated"});
    v.required("vocab_size", vocab_size, "vocabulary", at_least(1));
    v.required("max_context", max_context, "longest sequence, tokens", at_least(1));
    v.field("position_embeddings", position_embeddings, "rows of a learned position table; 0 for rotary", at_least(0));
    v.field("tied_embeddings", tied_embeddings, "the output head shares the input embedding");
    v.field("qkv_bias", qkv_bias, "biases on the q, k, v projections");
    v.field("out_bias", out_bias, "bias on the attention output projection");
    v.field("mlp_bias", mlp_bias, "biases on the FFN matrices");
    v.choice("norm", norm, "layernorm has weight and bias, rmsnorm weight only", {"layernorm", "rmsnorm"});
    v.field("norms_per_layer", norms_per_layer, "norm modules per decoder layer", at_least(0));
    v.field("qk_norm", qk_norm, "per-head norms on q and k (Qwen3)");
    v.field("final_norm", final_norm, "a norm after the last layer");
    v.field("extra_params", extra_params, "parameters the formula misses, explained in notes", at_least(0));
    v.optional_object("moe", moe, "mixture-of-experts FFN layers; absent: every FFN dense");
    v.optional_object("mla", mla, "multi-head latent attention (replaces the q, k, v projections and the KV cache)");
    v.optional("mtp_layers", mtp_layers,
               "multi-token-prediction modules stored in the checkpoint (DeepSeek's num_nextn_predict_layers), "
               "loaded but not run by a step",
               at_least(0));
  }
  void check(const std::string& path) const;
};

struct PublishedSize {
  std::optional<int64_t> checkpoint_bytes;
  int64_t parameters = 0;
  std::string source;

  template <class V>
  void visit(V& v) {
    v.field("checkpoint_bytes", checkpoint_bytes, "published checkpoint size, bytes", at_least(0));
    v.required("parameters", parameters, "published parameter count", at_least(0));
    v.required("source", source, "where the size is published");
  }
};

// Bytes per value of a weight or cache dtype; mxfp4 counts its shared scales (docs/decisions.md).
double dtype_bytes(const std::string& dtype);
inline bool is_16_bit(const std::string& dtype) { return dtype == "fp16" || dtype == "bf16"; }

struct ModelSpec {
  std::string name;
  std::string hf_id;
  std::string source;
  Architecture architecture;
  std::string dtype = "fp16";
  std::optional<std::string> linear_dtype;
  std::optional<std::string> expert_dtype;
  std::optional<std::string> kv_dtype;
  PublishedSize published;
  std::string notes;

  template <class V>
  void visit(V& v) {
    v.required("name", name, "catalogue name");
    v.field("hf_id", hf_id, "Hugging Face id");
    v.field("source", source, "where the architecture comes from");
    v.object("architecture", architecture, "the transformer's shape");
    v.choice("dtype", dtype, "dtype of every parameter that no key below names (and of activations)",
             {"fp32", "fp16", "bf16", "fp8", "int8", "int4", "mxfp4"});
    v.optional("linear_dtype", linear_dtype,
               "dtype of the decoder layers' matrices (attention, dense FFN, shared experts; not the router); "
               "absent: dtype");
    v.optional("expert_dtype", expert_dtype, "dtype of the routed experts' matrices; absent: linear_dtype");
    v.optional("kv_dtype", kv_dtype, "KV-cache dtype; absent: dtype when 16- or 32-bit, else bf16");
    v.object("published", published, "published size, for checking the derivation");
    v.field("notes", notes, "free text");
  }
  void check(const std::string& path) const;

  double bytes_per_parameter() const;
  const std::string& linear_weight_dtype() const { return linear_dtype ? *linear_dtype : dtype; }
  const std::string& expert_weight_dtype() const { return expert_dtype ? *expert_dtype : linear_weight_dtype(); }
  std::string kv_cache_dtype() const;

  // Layers whose FFN is dense (all but the MoE layers) and layers whose FFN is experts.
  int64_t dense_ffn_layers() const;
  int64_t moe_layers() const;
  // Weights of one layer's attention projections (MLA: its down- and up-projections).
  int64_t attention_weights_per_layer() const;
  // Weights of one dense FFN of `ffn_size` (gate, up and down, or up and down).
  int64_t ffn_weights(int64_t ffn_size) const;
  // The matrices of one routed expert, and with its biases the bytes it takes.
  int64_t expert_weights() const;
  double routed_expert_bytes() const;
  // Weights a token is multiplied by (attention, its dense FFN or its shared and top-k
  // experts and the router, the output head): 2 x this is the linear FLOPs of a token.
  int64_t linear_parameters() const;
  // Parameters in the checkpoint, and those a token uses (parameters less the routed experts it
  // is not sent to and the multi-token-prediction modules, which a step does not run).
  int64_t parameters() const;
  int64_t active_parameters() const;
  int64_t checkpoint_bytes() const;
  // What every step reads besides the routed experts it touches: the checkpoint less all
  // routed experts and the multi-token-prediction modules. A dense model's checkpoint_bytes().
  double shared_weight_bytes() const;
  // Keys and values of one token across all layers (MLA: its latent and rotary key).
  int64_t kv_bytes_per_token() const;
  // Tensors in the checkpoint (each weight, bias and norm its own), for per-tensor load costs.
  int64_t tensor_count() const;
  // A LoRA adapter of `rank` on the q, k, v and o projections of every layer.
  int64_t lora_adapter_bytes(int64_t rank) const;
  // Query heads × head dim: the width attention works at.
  int64_t attention_width() const { return architecture.attention_heads * architecture.head_dim; }
  // FLOPs of one query-key pair in one layer: QK^T over the query/key head width and AV over
  // the value head width, two FLOPs per multiply-add, for every query head.
  int64_t attention_flops_per_pair_per_layer() const;
};

}  // namespace slsim
