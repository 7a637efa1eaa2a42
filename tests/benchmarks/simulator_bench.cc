// The whole simulator on a steady, warm workload, as tests/benchmarks/scale_steady.sh runs it
// (tests/benchmarks/scale/steady.json: six models, Poisson arrivals, 256/64 tokens; the `fixed`
// autoscaler keeps GPUs / 6 instances per model so every GPU serves, and a 100 TB/s remote store
// brings them all up within seconds), by cluster size and request rate. Items are simulated
// requests, so items_per_second is requests per wall-clock second on one core (the simulator is
// single-threaded). Run: build/release/tests/benchmarks/bench_simulator

#include <benchmark/benchmark.h>

#include <filesystem>
#include <string>

#include "sim/config/experiment_config.h"
#include "sim/config/experiment_runner.h"

namespace slsim {
namespace {

// Arrivals span 60 s at every rate.
constexpr int64_t kArrivalSeconds = 60;

void BM_SteadyReplay(benchmark::State& state) {
  const int64_t gpus = state.range(0);
  const int64_t rate_per_s = state.range(1);
  const auto config = std::filesystem::path(SLSIM_SOURCE_DIR) / "tests/benchmarks/scale/steady.json";
  const ResolvedExperiment experiment = load_experiment(
      config,
      {"cluster.server_groups.0.count=" + std::to_string(gpus / 8), "cluster.remote_storage_gbytes_per_s=100000",
       R"(policies.autoscale={"name": "fixed", "params": {"instances": )" + std::to_string(gpus / 6) + "}}",
       "workload.sources.0.rate_per_s=" + std::to_string(rate_per_s),
       "workload.sources.0.requests=" + std::to_string(rate_per_s * kArrivalSeconds)});
  const auto out = std::filesystem::temp_directory_path() / "slsim_bench_simulator";
  int64_t requests = 0;
  int64_t events = 0;
  for (auto _ : state) {
    const Json summary = run_experiment(experiment, out);
    requests += summary["requests"].get<int64_t>();
    events = summary["events"].get<int64_t>();
  }
  state.SetItemsProcessed(requests);
  state.counters["events"] = static_cast<double>(events);
}
BENCHMARK(BM_SteadyReplay)
    ->ArgNames({"gpus", "rate_per_s"})
    ->Args({100, 1000})
    ->Args({1000, 1000})
    ->Args({10000, 1000})
    ->Args({1000, 100})
    ->Args({1000, 10000})
    ->Unit(benchmark::kMillisecond)
    ->Iterations(1);

}  // namespace
}  // namespace slsim
