#include "sim/config/memory_estimate.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "sim/core/errors.h"
#include "tests/unique_temp_dir.h"

namespace slsim {
using ::testing::HasSubstr;

namespace {
// 2 servers of 4 A40s (8 GPUs), opt-13b on one GPU, 10 Poisson requests.
Json minimal() {
  return Json::parse(R"({
    "cluster": {"server_groups": [{"profile": "serverlessllm-testbed-a40", "count": 2}]},
    "models": [{"name": "opt-13b"}],
    "workload": {"sources": [{"kind": "poisson", "model": "opt-13b", "requests": 10}]}})");
}
MemoryEstimate estimate(const Json& doc) { return estimate_run_memory_bytes(resolve_experiment(doc, ".")); }

// Sets an environment variable for the scope of a test.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const char* value) : name_(name) { ::setenv(name, value, 1); }
  ~ScopedEnv() { ::unsetenv(name_); }
  ScopedEnv(const ScopedEnv&) = delete;
  ScopedEnv& operator=(const ScopedEnv&) = delete;

 private:
  const char* name_;
};
}  // namespace

TEST(MemoryEstimate, SumsBaseGpusInstancesAndTheWorkloadsRequests) {
  const MemoryEstimate e = estimate(minimal());
  // 8 GPUs, 8 one-GPU instances, and the workload's 10 requests (fewer than 8 × 256 in batches).
  EXPECT_EQ(e.requests_in_flight, 10);
  EXPECT_EQ(e.bytes_per_request, kBytesPerRequest);
  EXPECT_EQ(e.structure_bytes, kBaseBytes + 8 * kBytesPerGpu + 8 * kBytesPerInstance);
  EXPECT_EQ(e.total_bytes(), e.structure_bytes + 10 * kBytesPerRequest);
  EXPECT_THAT(e.describe(), HasSubstr("for 8 GPUs on 2 servers"));
  EXPECT_THAT(e.describe(), HasSubstr("for 10 requests in flight (all 10 of the workload"));
}

TEST(MemoryEstimate, RequestsInFlightAreCappedByFullBatches) {
  Json doc = minimal();
  doc["workload"]["sources"][0]["requests"] = 1'000'000;
  doc["engine"]["max_num_seqs"] = 3;
  const MemoryEstimate e = estimate(doc);
  EXPECT_EQ(e.requests_in_flight, 8 * 3);
  EXPECT_THAT(e.describe(), HasSubstr("every instance's batch full, 3 sequences"));
}

TEST(MemoryEstimate, TensorParallelInstancesAreFewer) {
  Json doc = minimal();
  doc["models"][0]["name"] = "opt-66b";  // TP 4 on A40s: 2 instances on 8 GPUs
  doc["workload"]["sources"][0]["model"] = "opt-66b";
  EXPECT_EQ(estimate(doc).structure_bytes, kBaseBytes + 8 * kBytesPerGpu + 2 * kBytesPerInstance);
}

TEST(MemoryEstimate, SamplesAddPerSequenceBytesAndMaterializedBlocks) {
  Json doc = minimal();
  doc["workload"]["sources"][0]["samples"] = 4;
  const MemoryEstimate e = estimate(doc);
  EXPECT_EQ(e.bytes_per_request, kBytesPerRequest + 3 * kBytesPerExtraSequence);
  EXPECT_GT(e.structure_bytes, kBaseBytes + 8 * kBytesPerGpu + 8 * kBytesPerInstance);
  EXPECT_THAT(e.describe(), HasSubstr("materialized KV blocks"));
}

TEST(MemoryEstimate, GeneratorWithoutACountIsBoundedByRateTimesWindow) {
  SourceSpec s;
  s.kind = "poisson";
  s.rate_per_s = 2;
  s.duration_s = 100;
  EXPECT_EQ(source_request_bound(s, std::nullopt), 320);  // ⌈2 × 100 × 1.1 + 100⌉
  EXPECT_EQ(source_request_bound(s, 50.0), 210);          // the experiment's shorter window
  s.duration_s.reset();
  EXPECT_EQ(source_request_bound(s, std::nullopt), std::nullopt);
  s.requests = 7;
  EXPECT_EQ(source_request_bound(s, std::nullopt), 7);
}

TEST(MemoryEstimate, TraceRequestsAreItsLinesTimesTheRoundedUpRateScale) {
  const auto dir = testing_support::unique_temp_dir("memory_trace");
  std::ofstream(dir / "t.csv") << "arrival_s,input_tokens,output_tokens\n0,1,1\n1,1,1\n2,1,1";  // no final newline
  SourceSpec s;
  s.path = (dir / "t.csv").string();
  EXPECT_EQ(source_request_bound(s, std::nullopt), 4);  // the header counts: an upper bound
  s.rate_scale = 1.5;
  EXPECT_EQ(source_request_bound(s, std::nullopt), 8);
  std::filesystem::remove_all(dir);
}

TEST(MemoryEstimate, CheckRefusesAnEstimateAboveTheAvailableMemoryNamingTheWayAround) {
  const MemoryEstimate e = estimate(minimal());
  EXPECT_NO_THROW(check_run_memory(e, e.total_bytes()));
  try {
    check_run_memory(e, e.total_bytes() - 1);
    FAIL() << "expected a refusal";
  } catch (const InputError& error) {
    EXPECT_THAT(error.what(), HasSubstr("the run would need about 12.1 MiB: 12.0 MiB base"));
    EXPECT_THAT(error.what(), HasSubstr("more than the 12.1 MiB of memory available"));
    EXPECT_THAT(error.what(), HasSubstr("--no-memory-check"));
  }
}

TEST(MemoryEstimate, RequestsInFlightAllowedAreTheRoomBesideTheStructure) {
  const MemoryEstimate e = estimate(minimal());
  EXPECT_EQ(max_requests_in_flight(e, e.structure_bytes + 100 * kBytesPerRequest + 1), 100);
  EXPECT_EQ(max_requests_in_flight(e, 0), e.requests_in_flight);
}

TEST(MemoryEstimate, AvailableMemoryCanBeInjectedForTests) {
  {
    const ScopedEnv env("SLSIM_AVAILABLE_MEMORY_BYTES", "12345");
    EXPECT_EQ(available_memory_bytes(), 12345);
  }
  {
    const ScopedEnv env("SLSIM_AVAILABLE_MEMORY_BYTES", "lots");
    EXPECT_THROW(available_memory_bytes(), InputError);
  }
  const std::optional<int64_t> measured = available_memory_bytes();
  ASSERT_TRUE(measured.has_value());  // /proc/meminfo on Linux
  EXPECT_GT(*measured, 0);
}

TEST(MemoryEstimate, BytesAreFormattedInBinaryUnits) {
  EXPECT_EQ(format_bytes(320), "320 B");
  EXPECT_EQ(format_bytes(1536), "1.5 KiB");
  EXPECT_EQ(format_bytes(12.3 * (1 << 30)), "12.3 GiB");
}

}  // namespace slsim
