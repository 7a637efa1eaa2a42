#include "common/architecture.h"

#include <array>
#include <sstream>
#include <stdexcept>
#include <vector>

namespace slsim::kernels {
namespace {

const std::array<Architecture, 7> kBuiltins = {{
    {"opt-125m", 12, 768, 12, 12, 64, 3072, "mlp", 50272},
    {"opt-1.3b", 24, 2048, 32, 32, 64, 8192, "mlp", 50272},
    {"opt-6.7b", 32, 4096, 32, 32, 128, 16384, "mlp", 50272},
    {"opt-13b", 40, 5120, 40, 40, 128, 20480, "mlp", 50272},
    {"llama-2-7b", 32, 4096, 32, 32, 128, 11008, "gated", 32000},
    {"llama-2-13b", 40, 5120, 40, 40, 128, 13824, "gated", 32000},
    {"llama-3.1-8b", 32, 4096, 32, 8, 128, 14336, "gated", 128256},
}};

}  // namespace

const Architecture* builtin_architecture(std::string_view name) {
  for (const auto& a : kBuiltins) {
    if (a.name == name) return &a;
  }
  return nullptr;
}

const Architecture* builtin_architectures(int* count) {
  *count = static_cast<int>(kBuiltins.size());
  return kBuiltins.data();
}

Architecture parse_architecture(const std::string& spec) {
  std::vector<std::string> f;
  std::stringstream ss(spec);
  std::string item;
  while (std::getline(ss, item, ',')) f.push_back(item);
  if (f.size() != 9) {
    throw std::runtime_error("architecture spec '" + spec +
                             "' must be name,layers,hidden,heads,kv_heads,head_dim,ffn,ffn_kind,vocab");
  }
  Architecture a;
  a.name = f[0];
  a.layers = std::stoi(f[1]);
  a.hidden_size = std::stoi(f[2]);
  a.attention_heads = std::stoi(f[3]);
  a.kv_heads = std::stoi(f[4]);
  a.head_dim = std::stoi(f[5]);
  a.ffn_size = std::stoi(f[6]);
  a.ffn_kind = f[7];
  a.vocab_size = std::stoi(f[8]);
  if (a.ffn_kind != "gated" && a.ffn_kind != "mlp")
    throw std::runtime_error("ffn_kind must be 'gated' or 'mlp' in '" + spec + "'");
  return a;
}

}  // namespace slsim::kernels
