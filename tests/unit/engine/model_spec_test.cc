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
  EXPECT_GE(checked, 21);
}

TEST(ModelSpec, DenseCatalogueEntriesResolveWithoutTheOptionalKeys) {
  // The resolved config inlines each model: keys a dense model leaves unset must not appear,
  // so that existing runs' config.json stay byte-identical.
  const fs::path file = fs::path(SLSIM_SOURCE_DIR) / "models/llm/llama-3.1-8b.json";
  ModelSpec spec = load(file);
  const Json written = JsonWriter::to_json(spec);
  for (const char* key : {"linear_dtype", "expert_dtype", "kv_dtype"}) EXPECT_FALSE(written.contains(key)) << key;
  for (const char* key : {"moe", "mla", "mtp_layers"}) EXPECT_FALSE(written["architecture"].contains(key)) << key;
}

TEST(ModelSpec, MoeEntriesRoundTripThroughTheResolvedConfig) {
  const fs::path file = fs::path(SLSIM_SOURCE_DIR) / "models/llm/deepseek-v3.json";
  ModelSpec spec = load(file);
  ModelSpec again;
  JsonReader::read_struct(JsonWriter::to_json(spec), "models[0].spec", again);
  EXPECT_EQ(again.checkpoint_bytes(), spec.checkpoint_bytes());
  EXPECT_EQ(again.active_parameters(), spec.active_parameters());
  EXPECT_EQ(*again.linear_dtype, "fp8");
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
  EXPECT_EQ(m.active_parameters(), m.parameters());
}

namespace {
// Two layers of tiny width: a dense one, then an MoE one with 4 routed experts (top-2) and a
// shared expert of width 4.
ModelSpec tiny_moe() {
  ModelSpec m;
  m.architecture.layers = 2;
  m.architecture.hidden_size = 8;
  m.architecture.attention_heads = 2;
  m.architecture.kv_heads = 1;
  m.architecture.head_dim = 4;
  m.architecture.ffn_size = 16;
  m.architecture.ffn_kind = "gated";
  m.architecture.vocab_size = 10;
  m.architecture.norm = "rmsnorm";
  m.dtype = "bf16";
  MoeArchitecture moe;
  moe.routed_experts = 4;
  moe.experts_per_token = 2;
  moe.shared_experts = 1;
  moe.expert_ffn_size = 4;
  moe.dense_layers_first = 1;
  moe.router_bias = true;
  m.architecture.moe = moe;
  return m;
}
}  // namespace

TEST(ModelSpec, CountsAnMoeLayerAfterADenseOneByHand) {
  const ModelSpec m = tiny_moe();
  // Attention 192 a layer; dense FFN 3 x 8 x 16 = 384; an expert 3 x 8 x 4 = 96.
  // Layer 0: 192 + 384 + norms 16 = 592. Layer 1: 192 + (4 + 1) x 96 + router 4 x 8 + bias 4
  // + norms 16 = 724. Embedding and head 2 x 80, final norm 8.
  EXPECT_EQ(m.parameters(), 592 + 724 + 160 + 8);
  // A token: attention twice, the dense FFN, the shared and two routed experts, the router, the head.
  EXPECT_EQ(m.linear_parameters(), 2 * 192 + 384 + 3 * 96 + 32 + 80);
  // Two of the four routed experts are not used.
  EXPECT_EQ(m.active_parameters(), 1484 - 2 * 96);
  EXPECT_EQ(m.checkpoint_bytes(), 2 * 1484);
  EXPECT_EQ(m.routed_expert_bytes(), 2 * 96);
  EXPECT_EQ(m.shared_weight_bytes(), 2 * 1484 - 4 * 2 * 96);
  // Layer 0: q, k, v, o, 2 norms, 3 FFN matrices = 9; layer 1: 6 + router + its bias + 5 x 3;
  // embedding, head, final norm.
  EXPECT_EQ(m.tensor_count(), 9 + 23 + 3);
}

TEST(ModelSpec, ExpertsInMxfp4CountTheirBlockScales) {
  ModelSpec m = tiny_moe();
  m.expert_dtype = "mxfp4";
  // 4 experts x 96 weights at 4.25 bits = 204 bytes; the other 1100 parameters in bf16.
  EXPECT_EQ(m.checkpoint_bytes(), 204 + 2 * 1100);
  EXPECT_EQ(m.routed_expert_bytes(), 51);
  m.linear_dtype = "fp8";
  // The shared expert's 96, the dense FFN's 384 and attention's 2 x 192 weights now take a byte each.
  EXPECT_EQ(m.checkpoint_bytes(), 204 + (96 + 384 + 384) + 2 * (1100 - 96 - 384 - 384));
  EXPECT_EQ(m.kv_cache_dtype(), "bf16");
  m.kv_dtype = "fp8";
  EXPECT_EQ(m.kv_bytes_per_token(), 2 * 2 * 1 * 4 * 1);
}

TEST(ModelSpec, QuantizedWeightsKeepASixteenBitCacheUnlessToldOtherwise) {
  ModelSpec m = tiny_moe();
  m.dtype = "int4";
  EXPECT_EQ(m.kv_cache_dtype(), "bf16");
  m.dtype = "fp32";
  EXPECT_EQ(m.kv_cache_dtype(), "fp32");
  m.dtype = "fp16";
  EXPECT_EQ(m.kv_cache_dtype(), "fp16");
}

TEST(ModelSpec, LatentAttentionCachesTheLatentAndTheRotaryKey) {
  ModelSpec m;
  m.architecture.layers = 1;
  m.architecture.hidden_size = 16;
  m.architecture.attention_heads = 2;
  m.architecture.kv_heads = 2;
  m.architecture.head_dim = 6;
  m.architecture.ffn_size = 4;
  m.architecture.vocab_size = 10;
  m.architecture.norm = "rmsnorm";
  m.architecture.mla = MlaArchitecture{0, 8, 2, 4, 3};
  // q 16 x 2 x (4 + 2) = 192, kv_a 16 x (8 + 2) = 160, kv_b 8 x 2 x (4 + 3) = 112, o 2 x 3 x 16 = 96.
  EXPECT_EQ(m.attention_weights_per_layer(), 192 + 160 + 112 + 96);
  EXPECT_EQ(m.kv_bytes_per_token(), (8 + 2) * 1 * 2);
  // QK^T over 6 and AV over 3 per head, two FLOPs a multiply-add, two heads.
  EXPECT_EQ(m.attention_flops_per_pair_per_layer(), 2 * 2 * (6 + 3));
  // With q compressed to rank 4: q_a 16 x 4, q_b 4 x 12 and the q_a norm of 4.
  m.architecture.mla->q_lora_rank = 4;
  EXPECT_EQ(m.attention_weights_per_layer(), 64 + 48 + 160 + 112 + 96);
}

TEST(ModelSpec, PredictionModulesAreStoredButNotActive) {
  const fs::path file = fs::path(SLSIM_SOURCE_DIR) / "models/llm/deepseek-v3.json";
  ModelSpec spec = load(file);
  const int64_t with_module = spec.parameters();
  const int64_t active = spec.active_parameters();
  spec.architecture.mtp_layers.reset();
  // The main model is the card's 671B; the module adds 13.46B (a layer, eh_proj, norms and
  // its copies of the embedding and head); neither changes what a token uses (37B).
  EXPECT_EQ(spec.parameters(), 671026419200);
  EXPECT_EQ(with_module - spec.parameters(), 13463426304);
  EXPECT_EQ(spec.active_parameters(), active);
  EXPECT_NEAR(static_cast<double>(active), 37.6e9, 0.1e9);
  EXPECT_EQ(spec.kv_bytes_per_token(), (512 + 64) * 61 * 2);
}

TEST(ModelSpec, RefusesMoreExpertsPerTokenThanExpertsAndUnknownDtypes) {
  Json doc = load_json_file(fs::path(SLSIM_SOURCE_DIR) / "models/llm/mixtral-8x7b.json");
  doc["architecture"]["moe"]["experts_per_token"] = 9;
  ModelSpec spec;
  try {
    JsonReader::read_struct(doc, "models[0].spec", spec);
    FAIL() << "expected a ConfigError";
  } catch (const ConfigError& e) {
    EXPECT_EQ(e.path(), "models[0].spec.architecture.moe.experts_per_token");
  }
  doc["architecture"]["moe"]["experts_per_token"] = 2;
  doc["kv_dtype"] = "int4";
  try {
    JsonReader::read_struct(doc, "models[0].spec", spec);
    FAIL() << "expected a ConfigError";
  } catch (const ConfigError& e) {
    EXPECT_EQ(e.path(), "models[0].spec.kv_dtype");
  }
}

}  // namespace slsim
