// A whole engine-bound run, results/kv-allocators/experiment.json (OPT-13B on one A100-40GB at
// saturating load, 1000 ShareGPT-length requests), with fast-forward on and off: the ratio is
// what one event per run of decode steps buys. Items are generated tokens.

#include <benchmark/benchmark.h>

#include <filesystem>
#include <string>

#include "sim/config/experiment_config.h"
#include "sim/config/experiment_runner.h"

namespace slsim {
namespace {

void BM_KvAllocatorsRun(benchmark::State& state) {
  const bool fast_forward = state.range(0) != 0;
  const std::string allocator = state.range(1) != 0 ? "contiguous" : "paged";
  const auto config = std::filesystem::path(SLSIM_SOURCE_DIR) / "results/kv-allocators/experiment.json";
  const ResolvedExperiment experiment = load_experiment(
      config,
      {std::string("engine.fast_forward=") + (fast_forward ? "true" : "false"), "engine.kv_allocator=" + allocator});
  const auto out = std::filesystem::temp_directory_path() / "slsim_bench_engine";
  int64_t tokens = 0;
  int64_t events = 0;
  for (auto _ : state) {
    const Json summary = run_experiment(experiment, out);
    tokens += summary["generated_tokens"].get<int64_t>();
    events = summary["events"].get<int64_t>();
  }
  state.SetItemsProcessed(tokens);
  state.counters["events"] = static_cast<double>(events);
}
BENCHMARK(BM_KvAllocatorsRun)
    ->ArgNames({"fast_forward", "contiguous"})
    ->Args({0, 0})
    ->Args({1, 0})
    ->Args({0, 1})
    ->Args({1, 1})
    ->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace slsim
