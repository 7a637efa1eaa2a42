#include "sim/workload/trace_source.h"

#include <gtest/gtest.h>

#include <fstream>
#include <set>

#include "sim/core/errors.h"
#include "sim/workload/factory.h"
#include "tests/unique_temp_dir.h"

namespace slsim {
namespace {

// A Mooncake-style JSONL line: one prefix id per 512-token block of the prompt.
SourceSpec mooncake_source(const std::string& body, int64_t prefix_block_tokens) {
  const auto path = testing_support::unique_temp_dir("trace_source") / "mooncake.jsonl";
  std::ofstream(path) << body;
  const Json config = {{"model", "m"},
                       {"path", path.string()},
                       {"mapping",
                        {{"time_field", "timestamp"},
                         {"time_unit", "ms"},
                         {"input_field", "input_length"},
                         {"output_field", "output_length"},
                         {"prefix_field", "hash_ids"},
                         {"prefix_block_tokens", prefix_block_tokens}}}};
  SourceSpec spec;
  JsonReader::read_struct(config, "", spec);
  return spec;
}

ModelCatalogue one_model(int64_t engine_block_tokens) {
  ModelCatalogue c;
  c.names.push_back("m");
  c.max_context.push_back(1 << 20);
  c.engine_block_tokens = engine_block_tokens;
  return c;
}

}  // namespace

TEST(EnginePrefixBlocks, OneTraceBlockOf512TokensIs32EngineBlocksOf16) {
  const std::vector<uint64_t> trace = {7, 8};
  const std::vector<uint64_t> engine = engine_prefix_blocks(trace, 512, 16);
  ASSERT_EQ(engine.size(), 64u);
  EXPECT_EQ(std::set<uint64_t>(engine.begin(), engine.end()).size(), 64u);  // distinct
  // The same trace block at the same place names the same engine blocks in every request;
  // a request sharing only the first trace block shares only its 32 engine blocks.
  const std::vector<uint64_t> same_start = engine_prefix_blocks(std::vector<uint64_t>{7, 9}, 512, 16);
  ASSERT_EQ(same_start.size(), 64u);
  for (size_t j = 0; j < 32; ++j) EXPECT_EQ(same_start[j], engine[j]) << j;
  for (size_t j = 32; j < 64; ++j) EXPECT_NE(same_start[j], engine[j]) << j;
}

TEST(EnginePrefixBlocks, AnEngineBlockAcrossTwoTraceBlocksIsNamedByTheOneHoldingItsLastToken) {
  // Trace blocks of 24 tokens, engine blocks of 16: engine block 0 is tokens 0-15 (trace block
  // 0), block 1 is tokens 16-31 (ends in trace block 1), block 2 is 32-47 (trace block 1); 72
  // tokens of trace blocks hold 4 whole engine blocks.
  const std::vector<uint64_t> a = engine_prefix_blocks(std::vector<uint64_t>{1, 2, 3}, 24, 16);
  const std::vector<uint64_t> b = engine_prefix_blocks(std::vector<uint64_t>{1, 5, 3}, 24, 16);
  ASSERT_EQ(a.size(), 4u);
  EXPECT_EQ(a[0], b[0]);
  EXPECT_NE(a[1], b[1]);
  EXPECT_NE(a[2], b[2]);
}

TEST(TraceSource, PrefixBlockTokensMapsTraceIdsOntoEngineBlocksAndZeroKeepsThem) {
  const std::string body = R"({"timestamp": 0, "input_length": 1000, "output_length": 4, "hash_ids": [11, 12]})"
                           "\n";
  const auto mapped = make_source(mooncake_source(body, 512), one_model(16), RandomStreams(1), 0)->next();
  ASSERT_TRUE(mapped);
  EXPECT_EQ(mapped->prefix_blocks, engine_prefix_blocks(std::vector<uint64_t>{11, 12}, 512, 16));
  EXPECT_EQ(mapped->prefix_blocks.size(), 64u);
  const auto kept = make_source(mooncake_source(body, 0), one_model(16), RandomStreams(1), 0)->next();
  ASSERT_TRUE(kept);
  EXPECT_EQ(kept->prefix_blocks, (std::vector<uint64_t>{11, 12}));
}

TEST(TraceSource, PrefixBlockTokensWithoutAPrefixFieldIsAConfigError) {
  SourceSpec spec = mooncake_source(R"({"timestamp": 0, "input_length": 8, "output_length": 4})"
                                    "\n",
                                    512);
  spec.mapping.prefix_field = std::string();
  EXPECT_THROW(validate_source(spec, one_model(16), "/", "workload.sources[0]"), ConfigError);
}

}  // namespace slsim
