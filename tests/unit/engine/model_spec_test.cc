#include "sim/engine/model_spec.h"

#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>

#include "sim/config/experiment_config.h"

namespace slsim {
namespace fs = std::filesystem;

namespace {
ModelSpec load(const fs::path& file) {
  ModelSpec spec;
  JsonReader::read_struct(load_json_file(file), file.string(), spec);
  return spec;
}
}  // namespace

TEST(ModelSpec, EveryCatalogueModelDerivesItsPublishedSize) {
  const fs::path dir = fs::path(SLSIM_SOURCE_DIR) / "models/llm";
  int checked = 0;
  for (const auto& entry : fs::directory_iterator(dir)) {
    if (entry.path().extension() != ".json") continue;
    const ModelSpec spec = load(entry.path());
    SCOPED_TRACE(spec.name);
    EXPECT_EQ(spec.name, entry.path().stem().string());
    const double derived = static_cast<double>(spec.parameters());
    EXPECT_NEAR(derived, static_cast<double>(spec.published.parameters),
                0.01 * static_cast<double>(spec.published.parameters));
    if (spec.published.checkpoint_bytes) {
      EXPECT_NEAR(static_cast<double>(spec.checkpoint_bytes()), static_cast<double>(*spec.published.checkpoint_bytes),
                  0.01 * static_cast<double>(*spec.published.checkpoint_bytes));
    }
    ++checked;
  }
  EXPECT_GE(checked, 14);
}

TEST(ModelSpec, CountsAGatedGqaLayerByHand) {
  ModelSpec m;
  m.architecture.layers = 1;
  m.architecture.hidden_size = 8;
  m.architecture.attention_heads = 2;
  m.architecture.kv_heads = 1;
  m.architecture.head_dim = 4;
  m.architecture.ffn_size = 16;
  m.architecture.ffn_kind = "gated";
  m.architecture.vocab_size = 10;
  m.architecture.norm = "rmsnorm";
  m.architecture.norms_per_layer = 2;
  // q 8x8, k and v 8x4 each, o 8x8: 192; FFN 3x8x16 = 384; head 10x8 = 80; embedding 80;
  // norms 2x8 + final 8 = 24.
  EXPECT_EQ(m.linear_parameters(), 192 + 384 + 80);
  EXPECT_EQ(m.parameters(), 192 + 384 + 80 + 80 + 24);
  EXPECT_EQ(m.checkpoint_bytes(), 2 * m.parameters());
  EXPECT_EQ(m.kv_bytes_per_token(), 2 * 1 * 1 * 4 * 2);
}

}  // namespace slsim
