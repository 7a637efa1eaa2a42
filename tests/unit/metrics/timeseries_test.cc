// timeseries.csv for a tiny scripted run: the one-GPU server and model "tiny" of
// tests/testdata/hand_computed.json, one request at 0.001 s with 100 tokens in and 30 out, a
// keep-alive of 0.05 s, and a row every 0.02 s.
//
// From the figures derived in tests/integration/hand_computed_test.cc: the checkpoint
// (29,274,112 bytes) loads from remote storage at 1 GB/s in 29.27 ms, so the instance loads
// over [0.001, 0.0303) while the request waits at the router. Each of the 30 engine steps
// (one prefill, 29 decodes) takes the 1 ms step overhead plus about 0.03 ms of weight reads,
// so the instance is busy until 0.0303 + 30 × (1.00 to 1.03 ms), i.e. within [0.0603, 0.0613],
// then idle for the 0.05 s keep-alive, and released within [0.1103, 0.1113], which ends the run.
// The remote load leaves the checkpoint in the server's DRAM cache (as HandComputed's second
// load from DRAM shows), and it stays there after the release. The SSD cache has no room.
//
//   time   busy idle loading free  dram bytes  tiny: loading idle busy queued
//   0      0    0    0       1     0                 0       0    0    0
//   0.02   0    0    1       0     (mid-load)        1       0    0    1
//   0.04   1    0    0       0     29,274,112        0       0    1    0
//   0.06   1    0    0       0     29,274,112        0       0    1    0
//   0.08   0    1    0       0     29,274,112        0       1    0    0
//   0.10   0    1    0       0     29,274,112        0       1    0    0
//   end    0    0    0       1     29,274,112        0       0    0    0

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "sim/config/experiment_config.h"
#include "sim/config/experiment_runner.h"
#include "tests/unit/metrics/test_temp_dir.h"

namespace slsim {
namespace {

std::vector<std::vector<std::string>> read_csv(const std::filesystem::path& path) {
  std::ifstream in(path);
  std::vector<std::vector<std::string>> rows;
  std::string line;
  while (std::getline(in, line)) {
    std::vector<std::string> cells;
    std::stringstream s(line);
    std::string cell;
    while (std::getline(s, cell, ',')) cells.push_back(cell);
    rows.push_back(cells);
  }
  return rows;
}

TEST(Timeseries, RowsFollowOneRequestThroughLoadingBusyIdleAndRelease) {
  testing::TempDir dir;
  const auto trace = dir.path() / "one.csv";
  std::ofstream(trace) << "arrival_s,input_tokens,output_tokens\n0.001,100,30\n";
  const auto experiment =
      load_experiment(std::filesystem::path(SLSIM_SOURCE_DIR) / "tests/testdata/hand_computed.json",
                      {"workload.sources.0={\"kind\": \"trace\", \"model\": \"tiny\", \"path\": \"" + trace.string() +
                           "\", \"mapping\": {\"relative\": false}}",
                       "policies.keepalive.params.ttl_s=0.05", "output.timeseries_interval_s=0.02"});
  const auto out = dir.path() / "out";
  run_experiment(experiment, out);
  const auto rows = read_csv(out / "timeseries.csv");

  const std::vector<std::string> header{
      "time_s",    "gpus_busy",         "gpus_idle",        "gpus_loading",        "gpus_migrating",
      "gpus_free", "dram_cached_bytes", "ssd_cached_bytes", "prefix_hit_rate.gpu", "tiny.loading",
      "tiny.idle", "tiny.busy",         "tiny.migrating",   "tiny.queued"};
  ASSERT_EQ(rows.size(), 8u);
  EXPECT_EQ(rows[0], header);
  // Columns other than time and the DRAM bytes, which are checked apart.
  const auto state = [](const std::vector<std::string>& row) {
    std::vector<std::string> s(row.begin() + 1, row.end());
    s.erase(s.begin() + 5);
    return s;
  };
  using Cells = std::vector<std::string>;
  // The hit rate is of the prompts admitted since the row before: the one prompt (no prefix ids,
  // so 0) in the row at 0.040, none in the others.
  //                 busy idle load migr free ssd  hit rate loading idle busy migr queued
  const Cells empty{"0", "0", "0", "0", "1", "0", "", "0", "0", "0", "0", "0"};
  const Cells loading{"0", "0", "1", "0", "0", "0", "", "1", "0", "0", "0", "1"};
  const Cells admitted{"1", "0", "0", "0", "0", "0", "0.0000", "0", "0", "1", "0", "0"};
  const Cells busy{"1", "0", "0", "0", "0", "0", "", "0", "0", "1", "0", "0"};
  const Cells idle{"0", "1", "0", "0", "0", "0", "", "0", "1", "0", "0", "0"};
  const std::vector<std::pair<std::string, Cells>> expected{{"0.000", empty}, {"0.020", loading}, {"0.040", admitted},
                                                            {"0.060", busy},  {"0.080", idle},    {"0.100", idle}};
  for (size_t i = 0; i < expected.size(); ++i) {
    const auto& row = rows[i + 1];
    ASSERT_EQ(row.size(), header.size()) << "row " << i + 1;
    EXPECT_EQ(row[0], expected[i].first);
    EXPECT_EQ(state(row), expected[i].second) << "at " << row[0];
  }
  EXPECT_EQ(rows[1][6], "0");
  for (size_t i = 3; i <= 7; ++i) EXPECT_EQ(rows[i][6], "29274112") << "at " << rows[i][0];
  // The last row is taken when the release ends the run.
  const auto& last = rows[7];
  EXPECT_GE(std::stod(last[0]), 0.110);
  EXPECT_LE(std::stod(last[0]), 0.112);
  EXPECT_EQ(state(last), empty);
}

// With KV offload tiers each tier's hit rate follows the GPU's, overall and per model. Two
// identical 1,024-token prompts (64 full 16-token blocks) at 1 s and 11 s on one instance kept
// alive: the first finds nothing; v0 retention sends its blocks to the DRAM tier when it
// finishes, so the second finds all 1,024 tokens there (the engine still computes the last).
TEST(Timeseries, WithKvTiersEachTiersHitRateFollowsTheGpusOverallAndPerModel) {
  testing::TempDir dir;
  const auto trace = dir.path() / "pair.jsonl";
  std::ofstream(trace) << R"({"timestamp": 1000, "input_length": 1024, "output_length": 2, "hash_ids": [0, 1]})"
                          "\n"
                          R"({"timestamp": 11000, "input_length": 1024, "output_length": 2, "hash_ids": [0, 1]})"
                          "\n";
  const std::string source = R"({"kind": "trace", "model": "tiny", "path": ")" + trace.string() +
                             R"(", "mapping": {"time_field": "timestamp", "time_unit": "ms", "relative": false, )"
                             R"("input_field": "input_length", "output_field": "output_length", )"
                             R"("prefix_field": "hash_ids", "prefix_block_tokens": 512}})";
  const auto experiment =
      load_experiment(std::filesystem::path(SLSIM_SOURCE_DIR) / "tests/testdata/hand_computed.json",
                      {"workload.sources.0=" + source, "engine.mode=vllm_v0", "policies.keepalive.params.ttl_s=20",
                       "output.timeseries_interval_s=5", "cluster.kv_tiers.dram_bytes_per_server=1000000000"});
  const auto out = dir.path() / "out";
  run_experiment(experiment, out);
  const auto rows = read_csv(out / "timeseries.csv");
  ASSERT_GE(rows.size(), 5u);
  const std::vector<std::string> header{"time_s",
                                        "gpus_busy",
                                        "gpus_idle",
                                        "gpus_loading",
                                        "gpus_migrating",
                                        "gpus_free",
                                        "dram_cached_bytes",
                                        "ssd_cached_bytes",
                                        "prefix_hit_rate.gpu",
                                        "prefix_hit_rate.dram",
                                        "tiny.loading",
                                        "tiny.idle",
                                        "tiny.busy",
                                        "tiny.migrating",
                                        "tiny.queued",
                                        "tiny.prefix_hit_rate.gpu",
                                        "tiny.prefix_hit_rate.dram"};
  EXPECT_EQ(rows[0], header);
  const auto rates = [&](const std::string& time) {
    for (auto row : rows) {
      row.resize(header.size());  // read_csv drops a row's trailing empty cells
      if (row[0] == time) return std::vector<std::string>{row[8], row[9], row[15], row[16]};
    }
    return std::vector<std::string>{};
  };
  using Cells = std::vector<std::string>;
  EXPECT_EQ(rates("5.000"), (Cells{"0.0000", "0.0000", "0.0000", "0.0000"}));   // the first prompt
  EXPECT_EQ(rates("10.000"), (Cells{"", "", "", ""}));                          // none admitted
  EXPECT_EQ(rates("15.000"), (Cells{"0.0000", "1.0000", "0.0000", "1.0000"}));  // the second, from DRAM
}

}  // namespace
}  // namespace slsim
