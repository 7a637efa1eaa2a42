// Workloads end to end: a trace in its own format replays through a mapping alone, bad lines
// are skipped and counted, and `slsim trace` inspects, converts and synthesizes traces.

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "sim/config/experiment_config.h"
#include "sim/config/experiment_runner.h"
#include "test_support.h"

namespace slsim {
using namespace testing_support;
namespace fs = std::filesystem;
using ::testing::HasSubstr;
using ::testing::Not;

namespace {
// Three requests for two functions in a JSONL trace with its own field names and times in ms.
constexpr const char* kJsonlTrace = R"({"when_ms": 1000, "fn": "chat", "prompt": 100, "completion": 5, "n": 2})"
                                    "\n"
                                    R"({"when_ms": 1250, "fn": "code", "prompt": 200, "completion": 3, "n": 1})"
                                    "\n"
                                    R"({"when_ms": 4000, "fn": "chat", "prompt": 300, "completion": 4, "n": 1})"
                                    "\n";

Json jsonl_config() {
  return Json::parse(R"({
    "name": "jsonl", "cluster": {"server_groups": [{"profile": "serverlessllm-testbed-a40"}]},
    "models": [{"name": "opt-6.7b"}, {"name": "opt-13b"}],
    "workload": {"sources": [{"kind": "trace", "path": "trace.jsonl", "models": ["opt-6.7b", "opt-13b"],
      "mapping": {"time_field": "when_ms", "time_unit": "ms", "input_field": "prompt",
                  "output_field": "completion", "model_field": "fn", "samples_field": "n"}}]}})");
}
}  // namespace

TEST(Workload, JsonlTraceWithItsOwnFieldNamesReplaysThroughAMappingAlone) {
  const auto dir = fresh_dir("workload_jsonl");
  std::ofstream(dir / "trace.jsonl") << kJsonlTrace;
  const auto experiment = resolve_experiment(jsonl_config(), dir);
  const Json summary = run_experiment(experiment, dir / "out");
  EXPECT_EQ(summary["requests"], 3);
  EXPECT_EQ(summary["completed"], 3);
  EXPECT_EQ(summary["models"]["opt-6.7b"]["requests"], 2);  // chat: the first id, round robin
  EXPECT_EQ(summary["models"]["opt-13b"]["requests"], 1);
  const std::string rows = read_file(dir / "out" / "requests.csv");
  EXPECT_THAT(rows, HasSubstr("\n0,opt-6.7b,0.000000,100,5,"));  // arrivals relative to the first
  EXPECT_THAT(rows, HasSubstr("\n1,opt-13b,0.250000,200,3,"));
  EXPECT_THAT(rows, HasSubstr("\n2,opt-6.7b,3.000000,300,4,"));
}

// Two identical 1,024-token prompts (Mooncake hash_ids 0 and 1, 512 tokens each) arrive together
// and are admitted in one step: the second finds the first's blocks. Mapped onto 16-token
// engine blocks, both trace blocks are 64 engine blocks and all 1,024 tokens hit; taken as
// engine blocks themselves (prefix_block_tokens 0), the ids cover only 32 tokens.
TEST(Workload, MooncakePrefixBlocksMappedOntoEngineBlocksHitTheWholeSharedPrompt) {
  const auto dir = fresh_dir("workload_prefix");
  std::ofstream(dir / "trace.jsonl")
      << R"({"timestamp": 0, "input_length": 1024, "output_length": 2, "hash_ids": [0, 1]})"
         "\n"
         R"({"timestamp": 0, "input_length": 1024, "output_length": 2, "hash_ids": [0, 1]})"
         "\n";
  const auto run = [&](int64_t prefix_block_tokens) {
    const std::string source = R"({"kind": "trace", "model": "tiny", "path": ")" + (dir / "trace.jsonl").string() +
                               R"(", "mapping": {"time_field": "timestamp", "time_unit": "ms", "input_field": )"
                               R"("input_length", "output_field": "output_length", "prefix_field": "hash_ids", )"
                               R"("prefix_block_tokens": )" +
                               std::to_string(prefix_block_tokens) + "}}";
    const auto experiment = load_experiment(testdata("hand_computed.json"),
                                            {"workload.sources.0=" + source, "policies.routing.name=prefix-aware"});
    return run_experiment(experiment, dir / ("out" + std::to_string(prefix_block_tokens)));
  };
  const Json mapped = run(512)["prefix_cache"];
  EXPECT_EQ(mapped["prompt_tokens"], 2048);
  EXPECT_EQ(mapped["hit_tokens"]["gpu"], 1024);
  EXPECT_DOUBLE_EQ(mapped["hit_rate"]["gpu"].get<double>(), 0.5);
  const Json engine_blocks = run(0)["models"]["tiny"]["prefix_cache"];
  EXPECT_EQ(engine_blocks["hit_tokens"]["gpu"], 32);
  EXPECT_DOUBLE_EQ(engine_blocks["hit_rate"]["gpu"].get<double>(), 32.0 / 2048);
}

TEST(Workload, UnknownModelInTheSourceIsNamedByItsJsonPath) {
  Json config = jsonl_config();
  config["workload"]["sources"][0]["models"][1] = "gpt-5";
  const auto dir = fresh_dir("workload_bad_model");
  std::ofstream(dir / "trace.jsonl") << kJsonlTrace;
  try {
    resolve_experiment(config, dir);
    FAIL();
  } catch (const ConfigError& e) {
    EXPECT_THAT(e.what(), HasSubstr("workload.sources[0].models[1]: \"gpt-5\" is not one of the models"));
  }
}

TEST(Workload, ValidateCatchesAMappingThatDoesNotFitTheFile) {
  Json config = jsonl_config();
  config["workload"]["sources"][0]["mapping"]["input_field"] = "prompt_tokens";
  const auto dir = fresh_dir("workload_bad_mapping");
  std::ofstream(dir / "trace.jsonl") << kJsonlTrace;
  try {
    resolve_experiment(config, dir);
    FAIL();
  } catch (const InputError& e) {
    EXPECT_THAT(e.what(), HasSubstr("trace.jsonl:1: field prompt_tokens: missing"));
  }
}

TEST(Workload, RunSkipBadCountsSkippedLinesAndFailsBeyondTheAllowance) {
  const auto dir = fresh_dir("workload_skip");
  std::ofstream(dir / "trace.csv") << "arrival_s,input_tokens,output_tokens\n0,oops,5\n1,100,5\n2,100,5\n3,100\n";
  std::ofstream(dir / "config.json") << R"({
    "name": "skip", "cluster": {"server_groups": [{"profile": "serverlessllm-testbed-a40"}]},
    "models": [{"name": "opt-6.7b"}],
    "workload": {"sources": [{"kind": "trace", "model": "opt-6.7b", "path": "trace.csv"}]}})";
  const auto ok = run_slsim("run " + (dir / "config.json").string() + " -o " + (dir / "ok").string() + " --skip-bad 2");
  EXPECT_EQ(ok.exit_code, 0) << ok.output;
  EXPECT_THAT(ok.output, HasSubstr("skipped 2 bad trace lines"));
  const Json summary = Json::parse(read_file(dir / "ok" / "summary.json"));
  EXPECT_EQ(summary["skipped_trace_lines"], 2);
  EXPECT_EQ(summary["requests"], 2);
  const auto bad =
      run_slsim("run " + (dir / "config.json").string() + " -o " + (dir / "bad").string() + " --skip-bad 1");
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_THAT(
      bad.output,
      HasSubstr(
          "trace.csv:5: field output_tokens: missing (the line has 2 fields) (more than the 1 bad lines allowed)"));
  EXPECT_FALSE(fs::exists(dir / "bad" / "summary.json"));
}

TEST(Workload, TraceStatsPrintsTheFiguresAsJson) {
  const auto r = run_slsim("trace stats " + std::string(SLSIM_SOURCE_DIR) +
                           "/traces/azure-llm-2023/AzureLLMInferenceTrace_conv.csv --preset azure-llm-2023 --json");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const Json j = Json::parse(r.output);
  EXPECT_EQ(j["requests"], 19366);
  EXPECT_EQ(j["peak_rate_1s"], 16);
  EXPECT_EQ(j["output_tokens"]["p50"], 129.0);
}

TEST(Workload, TraceStatsReadsTheSameTraceThroughCommandLineMappingOptions) {
  const auto dir = fresh_dir("workload_stats");
  std::ofstream(dir / "t.csv") << "a,b,c\n2,10,20\n1,30,40\n";  // times unsorted on purpose
  const auto sorted = run_slsim("trace stats " + (dir / "t.csv").string() +
                                " --time-field a --input-field b --output-field c --time-unit ms");
  EXPECT_EQ(sorted.exit_code, 2);
  EXPECT_THAT(sorted.output, HasSubstr("t.csv:3: field a: earlier than the previous row"));
  const auto unit = run_slsim("trace stats " + (dir / "t.csv").string() + " --time-unit minutes");
  EXPECT_EQ(unit.exit_code, 2);
  EXPECT_THAT(unit.output, HasSubstr("mapping.time_unit: unknown value \"minutes\""));
}

// A Mooncake-style trace, one id per 512-token block. Request 2 (1024 tokens) repeats request 1's
// two blocks; request 3 (600 tokens) shares the first and ends 88 tokens into a new one. 3 of
// 6 references were seen before; 1024 + 512 of 2648 prompt tokens are under them.
TEST(Workload, TraceStatsReportsPrefixReuseAndTheHitBound) {
  const auto dir = fresh_dir("workload_stats_prefix");
  std::ofstream(dir / "t.jsonl") << R"({"timestamp": 0, "input_length": 1024, "output_length": 1, "hash_ids": [0, 1]})"
                                    "\n"
                                    R"({"timestamp": 5, "input_length": 1024, "output_length": 1, "hash_ids": [0, 1]})"
                                    "\n"
                                    R"({"timestamp": 9, "input_length": 600, "output_length": 1, "hash_ids": [0, 2]})"
                                    "\n";
  const std::string stats = "trace stats " + (dir / "t.jsonl").string() +
                            " --time-field timestamp --time-unit ms --input-field input_length"
                            " --output-field output_length --prefix-field hash_ids --prefix-block-tokens 512";
  const auto r = run_slsim(stats + " --json");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const Json p = Json::parse(r.output)["prefix"];
  EXPECT_EQ(p["block_tokens"], 512);
  EXPECT_EQ(p["block_references"], 6);
  EXPECT_DOUBLE_EQ(p["block_reuse"].get<double>(), 0.5);
  EXPECT_EQ(p["reused_tokens"], 1536);
  EXPECT_DOUBLE_EQ(p["hit_bound"].get<double>(), 1536.0 / 2648);
  const auto text = run_slsim(stats);
  ASSERT_EQ(text.exit_code, 0) << text.output;
  EXPECT_THAT(text.output, HasSubstr("prefix_blocks    6 references of 512 tokens, 3 distinct; reuse 0.5\n"));
  const auto unsized = run_slsim("trace stats " + (dir / "t.jsonl").string() +
                                 " --time-field timestamp --input-field input_length --output-field output_length"
                                 " --prefix-block-tokens 512");
  EXPECT_EQ(unsized.exit_code, 2);
  EXPECT_THAT(unsized.output, HasSubstr("--prefix-field"));
}

// Inputs 1, 1, 2: a mean of 4/3, printed with every digit of the double (1.3333333333333333)
// rather than rounded; an integer-valued float (2.0) counts as 2.
TEST(Workload, TraceStatsTextPrintsFullPrecision) {
  const auto dir = fresh_dir("workload_stats_precision");
  std::ofstream(dir / "t.csv") << "arrival_s,input_tokens,output_tokens\n0,1,1\n1,1,1\n3,2.0,1\n";
  const auto r = run_slsim("trace stats " + (dir / "t.csv").string());
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_THAT(r.output, HasSubstr("mean 1.3333333333333333 "));
  EXPECT_THAT(r.output, HasSubstr("duration_s       3\n"));
}

// 172800000 is 2 days in ms (2 · 86400 · 1000): read as seconds it spans 2000 days, which warns;
// read as ms, 2 days, under the 30-day bound.
TEST(Workload, TraceStatsWarnsOfATimeUnitMistakeAndRefusesATraceWithEveryLineSkipped) {
  const auto dir = fresh_dir("workload_stats_unit");
  std::ofstream(dir / "ms.csv") << "arrival_s,input_tokens,output_tokens\n0,1,1\n172800000,1,1\n";
  const auto as_s = run_slsim("trace stats " + (dir / "ms.csv").string());
  EXPECT_EQ(as_s.exit_code, 0) << as_s.output;
  EXPECT_THAT(as_s.output, HasSubstr("warning: " + (dir / "ms.csv").string() + ": the trace spans 2000 days"));
  const auto as_ms = run_slsim("trace stats " + (dir / "ms.csv").string() + " --time-unit ms");
  EXPECT_EQ(as_ms.exit_code, 0) << as_ms.output;
  EXPECT_THAT(as_ms.output, Not(HasSubstr("warning")));

  std::ofstream(dir / "bad.csv") << "arrival_s,input_tokens,output_tokens\n0,x,1\n";
  const auto skipped = run_slsim("trace stats " + (dir / "bad.csv").string() + " --skip-bad 10");
  EXPECT_EQ(skipped.exit_code, 2) << skipped.output;
  EXPECT_THAT(skipped.output, HasSubstr("bad.csv:2: every line was bad (1 skipped)"));
}

TEST(Workload, ConvertWritesTheCanonicalCsvThatReplaysWithTheDefaultMapping) {
  const auto dir = fresh_dir("workload_convert");
  std::ofstream(dir / "trace.jsonl") << kJsonlTrace;
  const auto r = run_slsim("trace convert " + (dir / "trace.jsonl").string() +
                           " --time-field when_ms --time-unit ms --input-field prompt --output-field completion"
                           " --model-field fn --samples-field n -o " +
                           (dir / "canonical.csv").string());
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(read_file(dir / "canonical.csv"),
            "arrival_s,model,input_tokens,output_tokens,samples,beam_width,prefix_blocks\n"
            "0.000000000,chat,100,5,2,1,\n0.250000000,code,200,3,1,1,\n3.000000000,chat,300,4,1,1,\n");
  const auto stats = run_slsim("trace stats " + (dir / "canonical.csv").string() + " --model-field model --json");
  ASSERT_EQ(stats.exit_code, 0) << stats.output;
  EXPECT_EQ(Json::parse(stats.output)["requests"], 3);
}

TEST(Workload, SynthWritesTheSameTraceForTheSameSeed) {
  const auto dir = fresh_dir("workload_synth");
  const std::string spec =
      R"('{"kind": "gamma", "models": ["a", "b"], "assign": "zipf", "rate_per_s": 5, "cv": 2, "requests": 200,)"
      R"( "lengths": {"kind": "lognormal"}}')";
  for (const char* out : {"one.csv", "two.csv"}) {
    const auto r = run_slsim("trace synth " + spec + " --max-context 2048 -o " + (dir / out).string());
    ASSERT_EQ(r.exit_code, 0) << r.output;
  }
  EXPECT_EQ(read_file(dir / "one.csv"), read_file(dir / "two.csv"));
  const auto stats = run_slsim("trace stats " + (dir / "one.csv").string() + " --json");
  ASSERT_EQ(stats.exit_code, 0) << stats.output;
  EXPECT_EQ(Json::parse(stats.output)["requests"], 200);
}

// One session of three turns (20 new user tokens and 10 output tokens each, 16-token blocks):
// prompts of 20, 50 and 80 tokens, 64 of their 150 tokens under blocks seen before
// (tests/unit/workload/sessions_test.cc counts them). The block size travels in the CSV, and
// `trace convert` with the canonical mapping writes the same file back.
TEST(Workload, SynthSessionsDeclareTheirBlockSizeAndConvertKeepsIt) {
  const auto dir = fresh_dir("workload_synth_sessions");
  const std::string spec =
      R"('{"kind": "poisson", "model": "m", "requests": 1, "input_tokens": 20, "output_tokens": 10,)"
      R"( "sessions": {"turns": 3, "think_time_s": 30, "block_tokens": 16}}')";
  const auto r = run_slsim("trace synth " + spec + " -o " + (dir / "sessions.csv").string());
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const std::string canonical =
      " --model-field model --samples-field samples --beam-field beam_width --prefix-field prefix_blocks"
      " --prefix-block-tokens-field prefix_block_tokens";
  const auto stats = run_slsim("trace stats " + (dir / "sessions.csv").string() + canonical + " --json");
  ASSERT_EQ(stats.exit_code, 0) << stats.output;
  const Json p = Json::parse(stats.output)["prefix"];
  EXPECT_EQ(p["block_tokens"], 16);
  EXPECT_EQ(p["block_references"], 11);
  EXPECT_DOUBLE_EQ(p["hit_bound"].get<double>(), 64.0 / 150);
  const auto converted = run_slsim("trace convert " + (dir / "sessions.csv").string() + canonical + " --absolute -o " +
                                   (dir / "converted.csv").string());
  ASSERT_EQ(converted.exit_code, 0) << converted.output;
  EXPECT_EQ(read_file(dir / "converted.csv"), read_file(dir / "sessions.csv"));
}

// A Mooncake-style trace converted with its declared 512-token blocks keeps the size in a column.
TEST(Workload, ConvertKeepsTheDeclaredPrefixBlockSize) {
  const auto dir = fresh_dir("workload_convert_sized");
  std::ofstream(dir / "t.jsonl") << R"({"timestamp": 0, "input_length": 1024, "output_length": 1, "hash_ids": [0, 1]})"
                                    "\n";
  const auto r = run_slsim("trace convert " + (dir / "t.jsonl").string() +
                           " --time-field timestamp --input-field input_length --output-field output_length"
                           " --prefix-field hash_ids --prefix-block-tokens 512 -o " +
                           (dir / "canonical.csv").string());
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(read_file(dir / "canonical.csv"),
            "arrival_s,model,input_tokens,output_tokens,samples,beam_width,prefix_blocks,prefix_block_tokens\n"
            "0.000000000,,1024,1,1,1,0 1,512\n");
}

}  // namespace slsim
