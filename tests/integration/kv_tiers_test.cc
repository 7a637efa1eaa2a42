// KV offload tiers end to end, computed by hand from tests/testdata/hand_computed.json: one
// server, a GPU with a 100 GB/s host link, an SSD reading 5 GB/s, latencies 0; model "tiny" has
// 4,096 KV bytes per token. Two identical 1,024-token prompts (two 512-token trace blocks, so
// 64 engine blocks of 16 tokens) arrive 10 s apart on one instance kept alive in between; the
// second computes only its last token wherever its blocks were found. The engine is vLLM v0's,
// whose retention forgets freed blocks unless `lru` is set.

#include <gtest/gtest.h>

#include <fstream>
#include <string>
#include <vector>

#include "sim/config/experiment_config.h"
#include "sim/config/experiment_runner.h"
#include "test_support.h"

namespace slsim {
using namespace testing_support;

namespace {

Json run_pair(const std::string& name, std::vector<std::string> overrides) {
  const auto dir = fresh_dir(name);
  std::ofstream(dir / "trace.jsonl")
      << R"({"timestamp": 0, "input_length": 1024, "output_length": 2, "hash_ids": [0, 1]})"
         "\n"
         R"({"timestamp": 10000, "input_length": 1024, "output_length": 2, "hash_ids": [0, 1]})"
         "\n";
  const std::string source = R"({"kind": "trace", "model": "tiny", "path": ")" + (dir / "trace.jsonl").string() +
                             R"(", "mapping": {"time_field": "timestamp", "time_unit": "ms", "input_field": )"
                             R"("input_length", "output_field": "output_length", "prefix_field": "hash_ids", )"
                             R"("prefix_block_tokens": 512}})";
  overrides.insert(overrides.begin(), "engine.mode=vllm_v0");
  overrides.push_back("workload.sources.0=" + source);
  overrides.push_back("policies.keepalive.params.ttl_s=60");
  return run_experiment(load_experiment(testdata("hand_computed.json"), overrides), dir / "out");
}

}  // namespace

// Baseline: vLLM v1's lru retention keeps the blocks on the GPU, a GPU hit. With v0's retention
// they leave the GPU when the first request finishes and go to the DRAM tier: the second prompt
// is a DRAM hit whose 1,024 × 4,096 B come back over the host link at 100 GB/s, 41,943.04 ns,
// rounded up to 41,944 ns; its prefill and decode steps are the GPU hit's.
TEST(KvTiers, ABlockEvictedFromTheGpuIsADramHitFetchedOverTheHostLink) {
  const Json gpu = run_pair("kv_tiers_gpu", {"engine.prefix_retention=lru"});
  const Json dram = run_pair("kv_tiers_dram", {"cluster.kv_tiers.dram_bytes_per_server=1000000000"});
  EXPECT_EQ(gpu["prefix_cache"]["hit_tokens"]["gpu"], 1024);
  EXPECT_FALSE(gpu["prefix_cache"]["hit_tokens"].contains("dram"));
  EXPECT_EQ(dram["prefix_cache"]["hit_tokens"]["gpu"], 0);
  EXPECT_EQ(dram["prefix_cache"]["hit_tokens"]["dram"], 1024);
  EXPECT_DOUBLE_EQ(dram["prefix_cache"]["hit_rate"]["dram"].get<double>(), 0.5);
  EXPECT_EQ(dram["models"]["tiny"]["prefix_cache"]["hit_tokens"]["dram"], 1024);
  EXPECT_EQ(dram["prefilled_tokens"], gpu["prefilled_tokens"]);
  // The mean of the two TTFTs: the first is the same in both runs.
  EXPECT_NEAR(dram["ttft_s"]["mean"].get<double>() - gpu["ttft_s"]["mean"].get<double>(), 41'944e-9 / 2, 1e-12);
}

// With an SSD tier alone the same block comes from the SSD at 5 GB/s, then over the host link
// (the slower stage sets the rate): 4,194,304 B / 5 GB/s = 838,860.8 ns, rounded up.
TEST(KvTiers, WithOnlyAnSsdTierTheHitIsAnSsdHitReadAtTheSsdsBandwidth) {
  const Json gpu = run_pair("kv_tiers_gpu_ssd", {"engine.prefix_retention=lru"});
  const Json ssd = run_pair("kv_tiers_ssd", {"cluster.kv_tiers.ssd_bytes_per_server=1000000000"});
  EXPECT_EQ(ssd["prefix_cache"]["hit_tokens"]["ssd"], 1024);
  EXPECT_FALSE(ssd["prefix_cache"]["hit_tokens"].contains("dram"));
  EXPECT_NEAR(ssd["ttft_s"]["mean"].get<double>() - gpu["ttft_s"]["mean"].get<double>(), 838'861e-9 / 2, 1e-12);
}

}  // namespace slsim
