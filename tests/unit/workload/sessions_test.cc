#include "sim/workload/sessions.h"

#include <gtest/gtest.h>

#include <set>

#include "sim/workload/factory.h"
#include "sim/workload/trace_stats.h"

namespace slsim {
namespace {

// One model; sources keep their own ids (as `slsim trace synth` writes them).
ModelCatalogue one_model(int64_t max_context) {
  ModelCatalogue catalogue{{"m"}, {max_context}};
  catalogue.engine_block_tokens = 0;
  return catalogue;
}

// Sessions of `turns` turns, each bringing 20 new user tokens and 10 output tokens, 16-token blocks.
SourceSpec session_spec(int64_t sessions, int64_t turns, int64_t system_prompt_tokens) {
  SourceSpec spec;
  spec.kind = "poisson";
  spec.model = "m";
  spec.requests = sessions;
  spec.input_tokens = 20;
  spec.output_tokens = 10;
  spec.sessions.turns = turns;
  spec.sessions.think_time_s = 30;
  spec.sessions.system_prompt_tokens = system_prompt_tokens;
  spec.sessions.block_tokens = 16;
  return spec;
}

std::vector<Request> all_requests(const SourceSpec& spec, const ModelCatalogue& catalogue) {
  const auto source = make_source(spec, catalogue, RandomStreams(7), 0);
  std::vector<Request> out;
  while (auto r = source->next()) out.push_back(std::move(*r));
  return out;
}

}  // namespace

// Turn prompts: 20; 20 + 10 + 20 = 50; 50 + 10 + 20 = 80 tokens, in 2, 4 and 5 blocks of 16.
// Turn 1's block 1 ends past its prompt (a partial block, its own id); turn 2 repeats block 0;
// turn 3 repeats blocks 0-2 (turn 2's block 3 was partial). 4 of 11 references were seen
// before, covering 16 + 48 = 64 of 150 prompt tokens.
TEST(SessionSource, OneSessionOfThreeTurnsReusesTheConversationSoFar) {
  const auto requests = all_requests(session_spec(1, 3, 0), one_model(100000));
  ASSERT_EQ(requests.size(), 3U);
  EXPECT_EQ(requests[0].input_tokens, 20);
  EXPECT_EQ(requests[1].input_tokens, 50);
  EXPECT_EQ(requests[2].input_tokens, 80);
  EXPECT_EQ(requests[1].arrival - requests[0].arrival, Time::from_seconds(30));
  EXPECT_EQ(requests[2].arrival - requests[0].arrival, Time::from_seconds(60));
  ASSERT_EQ(requests[0].prefix_blocks.size(), 2U);
  ASSERT_EQ(requests[1].prefix_blocks.size(), 4U);
  ASSERT_EQ(requests[2].prefix_blocks.size(), 5U);
  EXPECT_EQ(requests[1].prefix_blocks[0], requests[0].prefix_blocks[0]);
  EXPECT_NE(requests[1].prefix_blocks[1], requests[0].prefix_blocks[1]);
  for (size_t j = 0; j < 3; ++j) EXPECT_EQ(requests[2].prefix_blocks[j], requests[1].prefix_blocks[j]);
  EXPECT_NE(requests[2].prefix_blocks[3], requests[1].prefix_blocks[3]);

  TraceStats stats;
  for (const Request& r : requests) {
    stats.add(r.arrival.ns(), r.input_tokens, r.output_tokens);
    stats.add_prefix(r.input_tokens, r.prefix_blocks, 16);
  }
  const Json prefix = stats.to_json()["prefix"];
  EXPECT_EQ(prefix["block_references"], 11);
  EXPECT_EQ(prefix["distinct_blocks"], 7);
  EXPECT_DOUBLE_EQ(prefix["block_reuse"].get<double>(), 4.0 / 11);
  EXPECT_EQ(prefix["reused_tokens"], 64);
  EXPECT_DOUBLE_EQ(prefix["hit_bound"].get<double>(), 64.0 / 150);
}

// A 32-token system prompt is two full blocks shared by every session of the model; each 52-token
// prompt's third block is its session's own and its fourth (partial) the request's own.
TEST(SessionSource, SessionsOfOneModelShareTheSystemPromptBlocksOnly) {
  const auto requests = all_requests(session_spec(2, 1, 32), one_model(100000));
  ASSERT_EQ(requests.size(), 2U);
  EXPECT_EQ(requests[0].input_tokens, 52);
  ASSERT_EQ(requests[0].prefix_blocks.size(), 4U);
  ASSERT_EQ(requests[1].prefix_blocks.size(), 4U);
  EXPECT_EQ(requests[1].prefix_blocks[0], requests[0].prefix_blocks[0]);
  EXPECT_EQ(requests[1].prefix_blocks[1], requests[0].prefix_blocks[1]);
  const std::set<uint64_t> ids(requests[0].prefix_blocks.begin(), requests[0].prefix_blocks.end());
  EXPECT_EQ(ids.size(), 4U);
  EXPECT_EQ(ids.count(requests[1].prefix_blocks[2]) + ids.count(requests[1].prefix_blocks[3]), 0U);
}

// With a 70-token context, turn 3 (80 + 10 tokens) does not fit: the session ends after turn 2.
TEST(SessionSource, ASessionEndsAtTheFirstTurnBeyondTheContext) {
  const auto requests = all_requests(session_spec(1, 3, 0), one_model(70));
  ASSERT_EQ(requests.size(), 2U);
  EXPECT_EQ(requests[1].input_tokens, 50);
}

// Turns of open sessions interleave with new sessions in arrival order, and a seed fixes them.
TEST(SessionSource, ManySessionsArriveInOrderAndRepeatForTheSameSeed) {
  SourceSpec spec = session_spec(50, 4, 0);
  spec.rate_per_s = 1;
  const auto first = all_requests(spec, one_model(100000));
  const auto second = all_requests(spec, one_model(100000));
  ASSERT_EQ(first.size(), 200U);
  for (size_t i = 1; i < first.size(); ++i) EXPECT_LE(first[i - 1].arrival, first[i].arrival);
  for (size_t i = 0; i < first.size(); ++i) {
    EXPECT_EQ(first[i].arrival, second[i].arrival);
    EXPECT_EQ(first[i].prefix_blocks, second[i].prefix_blocks);
  }
}

// In a run, the 16-token session blocks are mapped onto 8-token engine blocks as a trace's are:
// turn 2 (50 tokens) covers 6 engine blocks and shares the first 2 (turn 1's one full block).
TEST(SessionSource, ARunMapsTheSessionBlocksOntoEngineBlocks) {
  ModelCatalogue catalogue = one_model(100000);
  catalogue.engine_block_tokens = 8;
  const auto requests = all_requests(session_spec(1, 2, 0), catalogue);
  ASSERT_EQ(requests.size(), 2U);
  ASSERT_EQ(requests[0].prefix_blocks.size(), 4U);
  ASSERT_EQ(requests[1].prefix_blocks.size(), 8U);
  EXPECT_EQ(requests[1].prefix_blocks[0], requests[0].prefix_blocks[0]);
  EXPECT_EQ(requests[1].prefix_blocks[1], requests[0].prefix_blocks[1]);
  EXPECT_NE(requests[1].prefix_blocks[2], requests[0].prefix_blocks[2]);
}

}  // namespace slsim
