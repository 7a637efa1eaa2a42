// Transformer shapes the measuring programs need: checkpoint tensors (loader)
// and linear-layer GEMMs (gemm). Keys follow the catalogue's models/llm/*.json
// (architecture.*); scripts/gpu_measure.sh passes catalogue entries as --arch.
#pragma once

#include <string>
#include <string_view>

namespace slsim::kernels {

struct Architecture {
  std::string name;
  int layers = 0;
  int hidden_size = 0;
  int attention_heads = 0;
  int kv_heads = 0;
  int head_dim = 0;
  int ffn_size = 0;
  std::string ffn_kind;  // "gated" (LLaMA: gate, up, down; RMSNorm; no biases) or "mlp" (OPT)
  int vocab_size = 0;
  int max_positions = 2048;  // learned position embeddings (OPT only)
};

// Built-in shapes: opt-125m, opt-1.3b, opt-6.7b, opt-13b, llama-2-7b, llama-2-13b,
// llama-3.1-8b. Returns nullptr for an unknown name.
const Architecture* builtin_architecture(std::string_view name);
const Architecture* builtin_architectures(int* count);

// Parses "name,layers,hidden,heads,kv_heads,head_dim,ffn,ffn_kind,vocab"; throws
// std::runtime_error on a malformed spec.
Architecture parse_architecture(const std::string& spec);

}  // namespace slsim::kernels
