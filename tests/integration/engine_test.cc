#include <gtest/gtest.h>

#include <algorithm>
#include <nlohmann/json.hpp>

#include "sim/config/experiment_config.h"
#include "sim/config/experiment_runner.h"
#include "sim/engine/latency_model.h"
#include "test_support.h"

namespace slsim {
using namespace testing_support;

namespace {

// summary.json without the count of simulator events, which fast-forwarding exists to cut.
std::string summary_without_events(const std::filesystem::path& dir) {
  Json summary = Json::parse(read_file(dir / "summary.json"));
  summary.erase("events");
  return summary.dump(2);
}

int64_t events(const std::filesystem::path& dir) { return Json::parse(read_file(dir / "summary.json"))["events"]; }

// `command` exits 2 with `message` in its output and leaves `file` as it was.
void expect_refused_leaving(const std::string& file, const std::string& command, const std::string& message) {
  const std::string before = read_file(file);
  const CommandResult r = run_slsim(command);
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_NE(r.output.find(message), std::string::npos) << r.output;
  EXPECT_EQ(read_file(file), before);
}

}  // namespace

constexpr const char* kVariantNames[] = {"recompute", "swap", "contiguous", "chunked_prefill", "stopped_mid_run"};

class FastForward : public testing::TestWithParam<std::vector<std::string>> {};

TEST_P(FastForward, GivesTheSameResultsAsSteppingOneByOne) {
  // ctest runs the variants in parallel processes: each needs folders of its own.
  const std::string name = testing::UnitTest::GetInstance()->current_test_info()->name();
  const auto stepped = fresh_dir("ff_off_" + name.substr(name.rfind('/') + 1));
  const auto forwarded = fresh_dir("ff_on_" + name.substr(name.rfind('/') + 1));
  std::vector<std::string> off = GetParam();
  off.push_back("engine.fast_forward=false");
  run_experiment(load_experiment(testdata("engine_pressure.json"), off), stepped);
  run_experiment(load_experiment(testdata("engine_pressure.json"), GetParam()), forwarded);
  EXPECT_EQ(read_file(stepped / "requests.csv"), read_file(forwarded / "requests.csv"));
  EXPECT_EQ(summary_without_events(stepped), summary_without_events(forwarded));
  EXPECT_LT(events(forwarded), events(stepped));
}

INSTANTIATE_TEST_SUITE_P(
    EngineVariants, FastForward,
    testing::Values(std::vector<std::string>{}, std::vector<std::string>{"engine.preemption_mode=swap"},
                    std::vector<std::string>{"engine.kv_allocator=contiguous"},
                    std::vector<std::string>{"engine.enable_chunked_prefill=true", "engine.max_num_batched_tokens=512"},
                    std::vector<std::string>{"duration_s=30.3"}),
    [](const testing::TestParamInfo<std::vector<std::string>>& info) {
      return std::string(kVariantNames[info.index]);
    });

TEST(EngineOutputs, SummaryReportsKvUtilizationPreemptionsAndThroughput) {
  const auto dir = fresh_dir("engine_outputs");
  run_experiment(load_experiment(testdata("engine_pressure.json"), {"engine.preemption_mode=swap"}), dir);
  const Json summary = Json::parse(read_file(dir / "summary.json"));
  EXPECT_EQ(summary["completed"], 230);
  EXPECT_GT(summary["preemptions"].get<int64_t>(), 0);
  EXPECT_GT(summary["swapped_bytes"].get<int64_t>(), 0);
  const double utilization = summary["kv_cache_utilization"];
  EXPECT_GT(utilization, 0.5);
  EXPECT_LE(utilization, 1.0);
  EXPECT_GT(summary["kv_sharing_savings"].get<double>(), 0.0);
  EXPECT_GT(summary["instance_throughput_tokens_per_s"].get<double>(), 0.0);
  EXPECT_EQ(summary["models"]["opt-13b"]["preemptions"], summary["preemptions"]);
  EXPECT_EQ(summary["latency_estimates"][0]["estimated"][0], "all parts: roofline");
}

TEST(EngineOutputs, ContiguousReservationWastesMostOfTheKvCache) {
  const auto paged = fresh_dir("kv_paged");
  const auto contiguous = fresh_dir("kv_contiguous");
  run_experiment(load_experiment(testdata("engine_pressure.json"), {}), paged);
  run_experiment(load_experiment(testdata("engine_pressure.json"), {"engine.kv_allocator=contiguous"}), contiguous);
  const double paged_utilization = Json::parse(read_file(paged / "summary.json"))["kv_cache_utilization"];
  const double contiguous_utilization = Json::parse(read_file(contiguous / "summary.json"))["kv_cache_utilization"];
  // Sequences of at most 700 tokens in 2048-token reservations use under a third.
  EXPECT_LT(contiguous_utilization, 700.0 / 2048);
  EXPECT_GT(paged_utilization, 2 * contiguous_utilization);
}

TEST(EngineOutputs, CalibratedModelWithoutAProfileIsAnInputErrorBeforeTheRun) {
  EXPECT_THROW(load_experiment(testdata("engine_pressure.json"),
                               {"engine.latency_model=calibrated", "engine.calibration_dir=/nonexistent"}),
               InputError);
}

TEST(Calibrate, MergesKernelMeasurementsIntoAProfileARunAccepts) {
  const auto dir = fresh_dir("calibrate");
  const auto measurements = std::string(SLSIM_SOURCE_DIR) + "/models/calibration/measurements/h200";
  const CommandResult r = run_slsim("calibrate " + measurements + " --gpu h200 -o " + (dir / "h200.json").string());
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const CalibrationProfile profile = load_calibration((dir / "h200.json").string());
  EXPECT_EQ(profile.gpu, "h200");
  EXPECT_EQ(profile.paged_attention.size(), 7u);  // eight files, f16 preferred over bf16 for one shape
  const auto opt13b_qkv = std::find_if(profile.gemm.begin(), profile.gemm.end(), [](const GemmTable& t) {
    return t.in_features == 5120 && t.out_features == 15360;
  });
  ASSERT_NE(opt13b_qkv, profile.gemm.end());
  // LLaMA-2-13B's q/k/v has the same shape and comes first in gemm.json: its measurement stands.
  EXPECT_EQ(opt13b_qkv->model, "llama-2-13b");
  EXPECT_EQ(opt13b_qkv->tokens.front(), 1);
  EXPECT_DOUBLE_EQ(opt13b_qkv->us.front(), 43.1328);
  // components.json: six prefill-attention head shapes, the CUDA-graph elementwise tables of six
  // models, and the overhead: median of the zero-layer steps less their LM head at one token
  // ((124.035 - 105.394) + (95.498 - 69.845)) / 2 = 21.54 µs.
  EXPECT_EQ(profile.prefill_attention.size(), 6u);
  EXPECT_EQ(profile.elementwise.size(), 6u);
  EXPECT_NEAR(profile.step_overhead_us, 21.543, 0.001);
}

TEST(Calibrate, AGivenStepOverheadReplacesTheFittedOne) {
  const auto dir = fresh_dir("calibrate_overhead");
  const auto measurements = std::string(SLSIM_SOURCE_DIR) + "/models/calibration/measurements/h200";
  const CommandResult r =
      run_slsim("calibrate " + measurements + " --gpu h200 --step-overhead-us 5 -o " + (dir / "h200.json").string());
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(load_calibration((dir / "h200.json").string()).step_overhead_us, 5);
}

TEST(EngineOutputs, AnUnknownEngineProfileExitsTwoNamingTheKeyAndTheValidNames) {
  // The H100's calibration profile has the base tables and the testbed's graph-captured profile.
  const std::string config = std::string(SLSIM_SOURCE_DIR) + "/results/demo/experiment.json";
  const CommandResult named =
      run_slsim("validate " + config + " --set engine.latency_model=calibrated --set engine.profile=graph-captured");
  EXPECT_EQ(named.exit_code, 0) << named.output;
  const CommandResult unknown =
      run_slsim("validate " + config + " --set engine.latency_model=calibrated --set engine.profile=graphs");
  EXPECT_EQ(unknown.exit_code, 2);
  EXPECT_NE(unknown.output.find("engine.profile: no engine profile \"graphs\""), std::string::npos) << unknown.output;
  EXPECT_NE(unknown.output.find("h100-sxm.json; expected one of: eager, graph-captured"), std::string::npos)
      << unknown.output;
}

TEST(Calibrate, UpdateRebuildsTheStartupSectionFromTheTestbedsPhases) {
  const auto dir = fresh_dir("calibrate_startup");
  const std::string source = std::string(SLSIM_SOURCE_DIR) + "/models/calibration/";
  std::filesystem::copy_file(source + "h200.json", dir / "h200.json");
  const CommandResult r = run_slsim("calibrate --update " + (dir / "h200.json").string() + " --startup " + source +
                                    "measurements/h100-sxm/testbed/startup_phases_run2.json");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const StartupProfile startup = load_calibration((dir / "h200.json").string()).startup;
  ASSERT_EQ(startup.models.size(), 2u);
  // startup_run2.log, OPT-1.3B's medians of three runs: interpreter 0.103 + import 4.2;
  // allocate_weights 6.396 + allocate_kv 0.062; graph capture 2.612.
  EXPECT_EQ(startup.models[0].model, "opt-1.3b");
  EXPECT_NEAR(startup.models[0].process_start_s, 4.303, 1e-9);
  EXPECT_NEAR(startup.models[0].engine_setup_s, 6.458, 1e-9);
  EXPECT_NEAR(startup.models[0].graph_capture_s, 2.612, 1e-9);
  EXPECT_EQ(startup.driver, "580.159.04");
  // Measured on an H100, not on the H200 the profile is for: the source says so.
  EXPECT_EQ(startup.source.rfind("BORROWED from NVIDIA H100", 0), 0u) << startup.source;
}

TEST(Calibrate, UpdateSetsThePrefillTokenBucketsAndRefusesAListOutOfOrder) {
  const auto dir = fresh_dir("calibrate_buckets");
  const std::string source = std::string(SLSIM_SOURCE_DIR) + "/models/calibration/";
  std::filesystem::copy_file(source + "h100-sxm.json", dir / "h100-sxm.json");
  const std::string file = (dir / "h100-sxm.json").string();
  const CommandResult r = run_slsim("calibrate --update " + file + " --prefill-token-buckets 16,32,64,128");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const CalibrationProfile profile = load_calibration(file);
  ASSERT_NE(profile.engine_profile("graph-captured", "", file), nullptr);
  EXPECT_EQ(profile.engine_profile("graph-captured", "", file)->prefill_token_buckets,
            (std::vector<int64_t>{16, 32, 64, 128}));
  expect_refused_leaving(file, "calibrate --update " + file + " --prefill-token-buckets 16,64,32",
                         "--prefill-token-buckets[2]: expected ascending values");
  expect_refused_leaving(file, "calibrate --update " + file + " --prefill-token-buckets 16,x",
                         "--prefill-token-buckets: expected token counts separated by commas, got \"x\"");
}

// An engine steps file records the buckets its engine captured: the derived profile takes them,
// and a prompt between buckets is fitted at the bucket the engine ran it as.
TEST(Calibrate, EngineStepsBringTheirTokenBucketsAndAPromptBetweenThemIsFittedAtItsBucket) {
  const auto dir = fresh_dir("calibrate_steps_buckets");
  const std::string source = std::string(SLSIM_SOURCE_DIR) + "/models/calibration/";
  std::filesystem::copy_file(source + "h100-sxm.json", dir / "h100-sxm.json");
  nlohmann::json steps =
      nlohmann::json::parse(read_file(source + "measurements/h100-sxm/testbed/graphs-run5/engine_steps_run1.json"));
  steps["config"]["prefill_token_buckets"] = {64, 128, 256, 512, 1024, 2048, 4096};
  for (auto& model : steps["models"])
    for (auto& row : model["prefill"])
      if (row["batch"] == 1 && row["prompt_tokens"] == 512) row["prompt_tokens"] = 450;
  std::ofstream(dir / "engine_steps_buckets.json") << steps.dump();
  const std::string file = (dir / "h100-sxm.json").string();
  const std::string command = "calibrate --update " + file + " --engine-steps " +
                              (dir / "engine_steps_buckets.json").string() + " --gpu-profile " + SLSIM_SOURCE_DIR +
                              "/models/hardware/gpus/h100-sxm.json";
  const CommandResult r = run_slsim(command);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const CalibrationProfile profile = load_calibration(file);
  const EngineProfile* graph = profile.engine_profile("graph-captured", "", file);
  ASSERT_NE(graph, nullptr);
  EXPECT_EQ(graph->prefill_token_buckets, (std::vector<int64_t>{64, 128, 256, 512, 1024, 2048, 4096}));
  EXPECT_NE(graph->source.find("prefill token buckets: 7 counts, 64 to 4096, from engine_steps_buckets.json"),
            std::string::npos)
      << graph->source;
  const auto opt = std::find_if(graph->prefill_elementwise.begin(), graph->prefill_elementwise.end(),
                                [](const ElementwiseTable& t) { return t.model == "opt-1.3b"; });
  ASSERT_NE(opt, graph->prefill_elementwise.end());
  EXPECT_NE(std::find(opt->tokens.begin(), opt->tokens.end(), 512.0), opt->tokens.end());
  EXPECT_EQ(std::find(opt->tokens.begin(), opt->tokens.end(), 450.0), opt->tokens.end());

  steps["config"]["prefill_token_buckets"] = {64, 32};
  std::ofstream(dir / "engine_steps_buckets.json") << steps.dump();
  expect_refused_leaving(file, command,
                         "engine_steps_buckets.json: config.prefill_token_buckets[1]: expected ascending values");
}

TEST(Calibrate, UpdateReadsTheGroupedAndFp8GemmTables) {
  const auto dir = fresh_dir("calibrate_moe");
  const std::string source = std::string(SLSIM_SOURCE_DIR) + "/models/calibration/";
  std::filesystem::copy_file(source + "h200.json", dir / "h200.json");
  const CommandResult r = run_slsim("calibrate --update " + (dir / "h200.json").string() + " --moe-gemm " + source +
                                    "measurements/h100-sxm/moe_gemm.json");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const CalibrationProfile profile = load_calibration((dir / "h200.json").string());
  // 24 expert sets (six MoE shapes x all experts or an 8-GPU share x bf16 or fp8), two GEMMs each.
  ASSERT_EQ(profile.grouped_gemm.size(), 48u);
  const auto qwen = std::find_if(profile.grouped_gemm.begin(), profile.grouped_gemm.end(), [](const auto& t) {
    return t.model == "qwen3-30b-a3b" && t.dtype == "bf16" && t.experts == 16 && t.in_features == 2048;
  });
  ASSERT_NE(qwen, profile.grouped_gemm.end());
  EXPECT_EQ(qwen->out_features, 2 * 768);
  // One token's and two tokens' copies both reached one of these 16 experts: the first stands.
  EXPECT_EQ(qwen->assignments[0], 1);
  EXPECT_NEAR(qwen->us[0], 22.0928, 1e-4);
  EXPECT_EQ(qwen->assignments[1], 2);
  ASSERT_EQ(profile.fp8_gemm.size(), 60u);
  EXPECT_EQ(profile.fp8_gemm[0].layer, "o_proj");
  EXPECT_NEAR(profile.fp8_gemm[0].us[0], 31.2208, 1e-4);
  // The 16-bit tables stay.
  EXPECT_EQ(profile.gemm.size(), 60u);
}

TEST(Calibrate, AMissingFolderExitsTwo) {
  const auto dir = fresh_dir("calibrate_missing");
  const CommandResult r = run_slsim("calibrate /nonexistent --gpu h200 -o " + (dir / "x.json").string());
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.output.find("/nonexistent: not a folder of measurements"), std::string::npos);
  EXPECT_FALSE(std::filesystem::exists(dir / "x.json"));
}

}  // namespace slsim
