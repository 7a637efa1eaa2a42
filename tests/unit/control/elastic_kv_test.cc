// Instances of two models on one card shared elastically (gpu_memory_sharing elastic-kv),
// computed by hand from the server and model "tiny" of tests/testdata/hand_computed.json (its
// header derives the figures; compute_sharing_test.cc the shared steps): copies "tiny" and
// "tiny-b" (separate checkpoints of 29,274,112 B, KV 4,096 B per token) each get one request
// (100 tokens in, 3 out). No activation reserve; each instance keeps 1 MB of KV at least, so one
// needs 30,274,112 B of its card's memory x 0.9 to be placed.
//   Both loads at once share the 1 GB/s store: each ends at L2 = 58,548,224 ns; alone L1 = 29,274,112 ns.
//   Alone on its card a request takes prefill P = 1,029,684 ns, then decodes D = 2,059,388 ns.

#include <gtest/gtest.h>

#include <fstream>
#include <string>

#include "sim/config/experiment_config.h"
#include "sim/config/experiment_runner.h"
#include "sim/core/errors.h"
#include "tests/integration/test_support.h"

namespace slsim {
namespace {

using namespace testing_support;

constexpr double kLoadS = 58'548'224e-9;
constexpr double kLoadAloneS = 29'274'112e-9;
constexpr double kPrefillS = 1'029'684e-9;
constexpr double kDecodesS = (1'029'692 + 1'029'696) * 1e-9;

// hand_computed.json on `gpus` GPUs, two per card, shared as `sharing` says, each card of
// `memory_bytes`, and the trace's requests.
Json two_models(const std::filesystem::path& dir, int64_t gpus, const std::string& sharing, int64_t memory_bytes,
                const std::string& trace) {
  Json config = Json::parse(read_file(testdata("hand_computed.json")));
  config["catalog_dir"] = testdata("catalog").string();
  Json& group = config["cluster"]["server_groups"][0];
  group["server"]["gpus"] = gpus;
  group["server"]["gpus_sharing_compute"] = 2;
  group["server"]["compute_sharing_efficiency"] = 1;
  group["server"]["graph_capture_compute_share"] = 0;
  group["server"]["gpu_memory_sharing"] = sharing;
  group["server"]["min_kv_reserve_bytes"] = 1'000'000;
  group["gpu"]["memory_bytes"] = memory_bytes;
  config["engine"]["activation_reserve_bytes"] = 0;
  Json second = config["models"][0];
  second["name"] = "tiny-b";
  config["models"].push_back(second);
  std::ofstream(dir / "trace.csv") << "arrival_s,input_tokens,output_tokens,model\n" << trace;
  config["workload"] = Json::parse(R"({"sources": [{"kind": "trace", "path": "trace.csv",
                                       "mapping": {"model_field": "model"}, "assign": "name"}]})");
  return config;
}

Json run(const std::filesystem::path& dir, const Json& config, const std::string& out) {
  std::ofstream(dir / "config.json") << config.dump(2);
  return run_experiment(load_experiment(dir / "config.json", {}), dir / out);
}

const std::string kBoth = "0,100,3,tiny\n0,100,3,tiny-b\n";

// 10 GB cards: both models go on the first card, whose compute their steps share.
TEST(ElasticKv, TwoModelsShareTheFirstCardAndEachStepTakesTwiceAsLong) {
  const auto dir = fresh_dir("elastic_two");
  const Json s = run(dir, two_models(dir, 4, "elastic-kv", 10'000'000'000, kBoth), "out");
  EXPECT_EQ(s["completed"], 2);
  EXPECT_NEAR(s["ttft_s"]["max"].get<double>(), kLoadS + 2 * kPrefillS, 1e-8);
  EXPECT_NEAR(s["e2e_s"]["max"].get<double>(), kLoadS + 2 * (kPrefillS + kDecodesS), 1e-8);
  EXPECT_NEAR(s["e2e_s"]["p50"].get<double>(), kLoadS + 2 * (kPrefillS + kDecodesS), 1e-8);
}

// 50 MB cards hold 45 MB each: one instance (30.3 MB) leaves 14.7 MB, too little for the second,
// which goes on the second card: neither step is shared.
TEST(ElasticKv, AModelThatDoesNotFitBesideAnotherGoesOnTheNextCard) {
  const auto dir = fresh_dir("elastic_next_card");
  const Json s = run(dir, two_models(dir, 4, "elastic-kv", 50'000'000, kBoth), "out");
  EXPECT_EQ(s["completed"], 2);
  EXPECT_NEAR(s["ttft_s"]["max"].get<double>(), kLoadS + kPrefillS, 1e-8);
  EXPECT_NEAR(s["e2e_s"]["max"].get<double>(), kLoadS + kPrefillS + kDecodesS, 1e-8);
}

// One such card: tiny-b's start waits for memory until tiny's instance goes (keep-alive 0), then
// loads alone.
TEST(ElasticKv, AStartWaitsForMemoryOnAFullCardUntilAnInstanceLeaves) {
  const auto dir = fresh_dir("elastic_wait");
  const Json s = run(dir, two_models(dir, 2, "elastic-kv", 50'000'000, kBoth), "out");
  EXPECT_EQ(s["completed"], 2);
  const double one = kLoadAloneS + kPrefillS + kDecodesS;
  EXPECT_NEAR(s["e2e_s"]["mean"].get<double>(), 1.5 * one, 1e-8);
  EXPECT_NEAR(s["e2e_s"]["max"].get<double>(), 2 * one, 1e-8);
}

// The same card with a keep-alive of 100 s: tiny's instance, idle from 32 ms, yields the card's
// memory to tiny-b's start at 0.1 s (requests wait for it), which then loads alone.
TEST(ElasticKv, AnIdleInstanceYieldsItsCardsMemoryToAStartWithRequestsWaiting) {
  const auto dir = fresh_dir("elastic_yield");
  Json config = two_models(dir, 2, "elastic-kv", 50'000'000, "0,100,3,tiny\n0.1,100,3,tiny-b\n");
  config["policies"]["keepalive"]["params"]["ttl_s"] = 100;
  const Json s = run(dir, config, "out");
  EXPECT_EQ(s["completed"], 2);
  EXPECT_NEAR(s["e2e_s"]["max"].get<double>(), kLoadAloneS + kPrefillS + kDecodesS, 1e-8);
}

// Both models ready on one 10 GB card at the start (cluster.instances_at_start, pinned): no load, and
// their steps share the card.
TEST(ElasticKv, InstancesAtStartShareAnElasticCard) {
  const auto dir = fresh_dir("elastic_at_start");
  Json config = two_models(dir, 2, "elastic-kv", 10'000'000'000, kBoth);
  config["cluster"]["instances_at_start"] =
      Json::parse(R"([{"model": "tiny", "pinned": true}, {"model": "tiny-b", "pinned": true}])");
  const Json s = run(dir, config, "out");
  EXPECT_EQ(s["completed"], 2);
  EXPECT_EQ(s["cold_starts"], 0);
  EXPECT_NEAR(s["e2e_s"]["max"].get<double>(), 2 * (kPrefillS + kDecodesS), 1e-8);
}

// Sliced, the same 50 MB would be each GPU's own: both models place at once on one card.
TEST(ElasticKv, SlicedCardsKeepTheirFixedSlices) {
  const auto dir = fresh_dir("elastic_sliced");
  const Json s = run(dir, two_models(dir, 2, "sliced", 50'000'000, kBoth), "out");
  EXPECT_EQ(s["completed"], 2);
  EXPECT_NEAR(s["e2e_s"]["max"].get<double>(), kLoadS + 2 * (kPrefillS + kDecodesS), 1e-8);
}

TEST(ElasticKv, SameConfigAndSeedGiveIdenticalRequestRows) {
  const auto dir = fresh_dir("elastic_determinism");
  const std::string trace = "0,100,30,tiny\n0.01,300,20,tiny-b\n0.02,50,40,tiny\n0.03,2000,5,tiny-b\n";
  const Json config = two_models(dir, 2, "elastic-kv", 60'000'000, trace);
  run(dir, config, "a");
  run(dir, config, "b");
  EXPECT_EQ(read_file(dir / "a" / "requests.csv"), read_file(dir / "b" / "requests.csv"));
}

void expect_config_error(const Json& config, const std::filesystem::path& dir, const std::string& message) {
  std::ofstream(dir / "config.json") << config.dump(2);
  try {
    load_experiment(dir / "config.json", {});
    FAIL() << "expected an InputError";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find(message), std::string::npos) << e.what();
  }
}

TEST(ElasticKv, ElasticSharingWithOneGpuPerCardIsAConfigError) {
  const auto dir = fresh_dir("elastic_bad_seats");
  Json config = two_models(dir, 2, "elastic-kv", 10'000'000'000, kBoth);
  config["cluster"]["server_groups"][0]["server"]["gpus_sharing_compute"] = 1;
  expect_config_error(config, dir,
                      "config.json: cluster.server_groups[0].server.gpu_memory_sharing: elastic-kv needs "
                      "gpus_sharing_compute of at least 2");
}

TEST(ElasticKv, AnUnknownSharingNameIsAConfigError) {
  const auto dir = fresh_dir("elastic_bad_name");
  expect_config_error(two_models(dir, 2, "elastic", 10'000'000'000, kBoth), dir,
                      "cluster.server_groups[0].server.gpu_memory_sharing");
}

TEST(ElasticKv, AFixedKvCacheSizeIsAConfigErrorOnElasticCards) {
  const auto dir = fresh_dir("elastic_fixed_kv");
  Json config = two_models(dir, 2, "elastic-kv", 10'000'000'000, kBoth);
  config["engine"]["kv_cache_memory_bytes"] = 1'000'000'000;
  expect_config_error(config, dir, "engine.kv_cache_memory_bytes: set, but cluster.server_groups[0] shares");
}

// A fixed KV cache of 7 blocks (7 x 16 tokens x 4,096 B = 458,752 B) holds one request of 100 + 3
// tokens: of two arriving together, the second is prefilled only once the first has finished
// and freed its blocks, each step alone on the card (the other model has no instance).
TEST(ElasticKv, AFixedKvCacheOfOneRequestsBlocksServesTheSecondAfterTheFirst) {
  const auto dir = fresh_dir("sliced_fixed_kv");
  Json config = two_models(dir, 2, "sliced", 10'000'000'000, "0,100,3,tiny\n0,100,3,tiny\n");
  config["engine"]["kv_cache_memory_bytes"] = 458'752;
  // Else the instance would take as many GPUs as hold a full-context sequence (2,048 tokens).
  config["models"][0]["tensor_parallel"] = 1;
  const Json s = run(dir, config, "out");
  EXPECT_EQ(s["completed"], 2);
  // Of two, the nearest-rank p50 is the first.
  EXPECT_NEAR(s["ttft_s"]["p50"].get<double>(), kLoadAloneS + kPrefillS, 1e-8);
  EXPECT_NEAR(s["ttft_s"]["max"].get<double>(), kLoadAloneS + 2 * kPrefillS + kDecodesS, 1e-8);
  EXPECT_NEAR(s["e2e_s"]["max"].get<double>(), kLoadAloneS + 2 * (kPrefillS + kDecodesS), 1e-8);
}

}  // namespace
}  // namespace slsim
