#include "sim/workload/trace_stats.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <vector>

#include "sim/workload/trace_reader.h"

namespace slsim {

// Arrivals at 0, 0.5, 1.0, 3.0 s: gaps 0.5, 0.5, 2 (mean 1, population sd sqrt(0.5));
// windows [0,1) holds 2 and [1,2) holds 1; 4 requests over 3 s.
TEST(TraceStats, HandComputedFigures) {
  TraceStats stats;
  const int64_t s = 1'000'000'000;
  stats.add(0, 10, 1);
  stats.add(s / 2, 20, 2);
  stats.add(s, 30, 3);
  stats.add(3 * s, 40, 4);
  const Json j = stats.to_json();
  EXPECT_EQ(j["requests"], 4);
  EXPECT_DOUBLE_EQ(j["duration_s"].get<double>(), 3.0);
  EXPECT_DOUBLE_EQ(j["mean_rate"].get<double>(), 4.0 / 3);
  EXPECT_NEAR(j["interarrival_cv"].get<double>(), std::sqrt(0.5), 1e-12);
  EXPECT_EQ(j["peak_rate_1s"], 2);
  EXPECT_DOUBLE_EQ(j["input_tokens"]["mean"].get<double>(), 25);
  EXPECT_DOUBLE_EQ(j["input_tokens"]["p50"].get<double>(), 25);     // between 20 and 30
  EXPECT_NEAR(j["input_tokens"]["p99"].get<double>(), 39.7, 1e-9);  // 30 + 0.97 · 10
}

// Blocks of 4 tokens. Request 1 (12 tokens: blocks 1, 2, 3) reuses nothing; request 2 (6 tokens:
// 1, 2) reuses both, 4 + 2 tokens (its second block ends with its prompt); request 3 (6 tokens:
// 1, 4) reuses block 1, 4 tokens. 3 of 7 references were seen before; 10 of 24 prompt tokens.
TEST(TraceStats, PrefixReuseAndTheInfiniteCacheHitBound) {
  TraceStats stats;
  const std::vector<uint64_t> blocks[] = {{1, 2, 3}, {1, 2}, {1, 4}};
  const int64_t inputs[] = {12, 6, 6};
  for (size_t i = 0; i < 3; ++i) {
    stats.add(static_cast<int64_t>(i), inputs[i], 1);
    stats.add_prefix(inputs[i], blocks[i], 4);
  }
  const Json p = stats.to_json()["prefix"];
  EXPECT_EQ(p["block_references"], 7);
  EXPECT_EQ(p["distinct_blocks"], 4);
  EXPECT_DOUBLE_EQ(p["block_reuse"].get<double>(), 3.0 / 7);
  EXPECT_EQ(p["prompt_tokens"], 24);
  EXPECT_EQ(p["reused_tokens"], 10);
  EXPECT_DOUBLE_EQ(p["hit_bound"].get<double>(), 10.0 / 24);
  EXPECT_FALSE(TraceStats().to_json().contains("prefix"));
}

// 31 days between two arrivals is a month: times in ms read as s. 1001 arrivals 1 ms apart
// span 1 s exactly, not under it; 1001 arrivals 0.9 ms apart span 0.9 s: seconds read as ms.
TEST(TraceStats, WarnsOfASpanThatLooksLikeAUnitMistake) {
  const int64_t day_ns = 24LL * 3600 * 1'000'000'000;
  TraceStats month;
  month.add(0, 1, 1);
  month.add(31 * day_ns, 1, 1);
  ASSERT_EQ(month.unit_warnings().size(), 1u);
  EXPECT_NE(month.unit_warnings()[0].find("spans 31 days"), std::string::npos) << month.unit_warnings()[0];
  TraceStats thirty_days;
  thirty_days.add(0, 1, 1);
  thirty_days.add(30 * day_ns, 1, 1);
  EXPECT_TRUE(thirty_days.unit_warnings().empty());

  TraceStats one_second, burst;
  for (int64_t i = 0; i <= 1000; ++i) {
    one_second.add(i * 1'000'000, 1, 1);
    burst.add(i * 900'000, 1, 1);
  }
  EXPECT_TRUE(one_second.unit_warnings().empty());
  ASSERT_EQ(burst.unit_warnings().size(), 1u);
  EXPECT_NE(burst.unit_warnings()[0].find("all 1001 requests arrive within 0.9 s"), std::string::npos)
      << burst.unit_warnings()[0];
}

// The figures of ../shared/traces/README.md (and traces/README.md) for the bundled traces.
TEST(TraceStats, BundledAzureTracesMatchThePublishedTable) {
  struct Expected {
    const char* name;
    int64_t requests;
    double duration_s, mean_rate, cv;
    int64_t peak;
    double in_mean, in_p50, in_p99, out_mean, out_p50, out_p99;
  };
  const Expected table[] = {
      {"code", 8819, 3435.9, 2.57, 13.2, 67, 2048, 1469, 7436, 27.9, 13, 251},
      {"conv", 19366, 3501.7, 5.53, 1.09, 16, 1155, 1020, 4142, 211, 129, 601},
  };
  for (const auto& e : table) {
    const auto path = std::filesystem::path(SLSIM_SOURCE_DIR) / "traces/azure-llm-2023" /
                      (std::string("AzureLLMInferenceTrace_") + e.name + ".csv");
    TraceReader reader(path.string(), preset_mapping("azure-llm-2023"));
    TraceStats stats;
    while (const TraceRecord* r = reader.next()) stats.add(r->time_ns, r->input_tokens, r->output_tokens);
    const Json j = stats.to_json();
    SCOPED_TRACE(e.name);
    EXPECT_EQ(j["requests"], e.requests);
    EXPECT_NEAR(j["duration_s"].get<double>(), e.duration_s, 0.05);
    EXPECT_NEAR(j["mean_rate"].get<double>(), e.mean_rate, 0.005);
    EXPECT_NEAR(j["interarrival_cv"].get<double>(), e.cv, e.cv < 2 ? 0.005 : 0.05);
    EXPECT_EQ(j["peak_rate_1s"], e.peak);
    EXPECT_NEAR(j["input_tokens"]["mean"].get<double>(), e.in_mean, 0.5);
    EXPECT_NEAR(j["input_tokens"]["p50"].get<double>(), e.in_p50, 0.5);
    EXPECT_NEAR(j["input_tokens"]["p99"].get<double>(), e.in_p99, 0.5);
    EXPECT_NEAR(j["output_tokens"]["mean"].get<double>(), e.out_mean, 0.5);
    EXPECT_NEAR(j["output_tokens"]["p50"].get<double>(), e.out_p50, 0.5);
    EXPECT_NEAR(j["output_tokens"]["p99"].get<double>(), e.out_p99, 0.5);
  }
}

}  // namespace slsim
