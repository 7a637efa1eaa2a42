#pragma once
// A model's architecture as published (models/llm/*.json) and what follows from it: parameter
// count, checkpoint bytes, KV-cache bytes per token, and the FLOPs of a forward pass.

#include <cstdint>
#include <optional>
#include <string>

#include "sim/core/fields.h"

namespace slsim {

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
  }
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

struct ModelSpec {
  std::string name;
  std::string hf_id;
  std::string source;
  Architecture architecture;
  std::string dtype = "fp16";
  PublishedSize published;
  std::string notes;

  template <class V>
  void visit(V& v) {
    v.required("name", name, "catalogue name");
    v.field("hf_id", hf_id, "Hugging Face id");
    v.field("source", source, "where the architecture comes from");
    v.object("architecture", architecture, "the transformer's shape");
    v.choice("dtype", dtype, "parameter and KV-cache dtype", {"fp32", "fp16", "bf16", "int8", "int4"});
    v.object("published", published, "published size, for checking the derivation");
    v.field("notes", notes, "free text");
  }

  double bytes_per_parameter() const;
  // Weights of the q, k, v, o projections and the FFN of one layer, plus the output head.
  int64_t linear_parameters() const;
  int64_t parameters() const;
  int64_t checkpoint_bytes() const;
  // Keys and values of one token across all layers.
  int64_t kv_bytes_per_token() const;
  // Tensors in the checkpoint (each weight, bias and norm its own), for per-tensor load costs.
  int64_t tensor_count() const;
  // A LoRA adapter of `rank` on the q, k, v and o projections of every layer.
  int64_t lora_adapter_bytes(int64_t rank) const;
  // Query heads × head dim: the width attention works at.
  int64_t attention_width() const { return architecture.attention_heads * architecture.head_dim; }
};

}  // namespace slsim
