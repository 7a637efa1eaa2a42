// Parse throughput of the trace reader (target: >= 1 M lines/s on one core). The setup writes
// a 3 M-line trace once per format into the temporary folder, Azure-style CSV (datetime
// arrival), numeric CSV and JSONL; each iteration streams the whole file. Reported as
// `lines_per_s` (items/s).
//
//   build/release/tests/benchmarks/bench_trace_reader --benchmark_repetitions=3

#include <benchmark/benchmark.h>
#include <fmt/format.h>

#include <cstdio>
#include <filesystem>
#include <string>

#include "sim/core/fields.h"
#include "sim/workload/trace_reader.h"

namespace slsim {
namespace {

constexpr int64_t kLines = 3'000'000;

// Arrivals 1 ms apart with varying lengths; written once per process.
std::filesystem::path trace_file(const std::string& format) {
  const auto path = std::filesystem::temp_directory_path() / ("slsim_bench_trace_" + format);
  if (std::filesystem::exists(path)) return path;
  const auto temp = std::filesystem::path(path.string() + ".tmp");
  std::FILE* f = std::fopen(temp.c_str(), "wb");
  if (format == "azure.csv") std::fputs("TIMESTAMP,ContextTokens,GeneratedTokens\n", f);
  if (format == "numeric.csv") std::fputs("arrival_s,input_tokens,output_tokens\n", f);
  for (int64_t i = 0; i < kLines; ++i) {
    const int64_t input = 1 + (i * 7919) % 8000, output = 1 + (i * 104729) % 600;
    if (format == "azure.csv") {
      const int64_t ms = i % 1000, s = i / 1000;
      std::fputs(fmt::format("2023-11-16 {:02}:{:02}:{:02}.{:03}0000,{},{}\n", 10 + s / 3600, s / 60 % 60, s % 60, ms,
                             input, output)
                     .c_str(),
                 f);
    } else if (format == "numeric.csv") {
      std::fputs(fmt::format("{}.{:03},{},{}\n", i / 1000, i % 1000, input, output).c_str(), f);
    } else {
      std::fputs(fmt::format(R"({{"t": {}.{:03}, "in": {}, "out": {}, "fn": "f{}"}})"
                             "\n",
                             i / 1000, i % 1000, input, output, i % 50)
                     .c_str(),
                 f);
    }
  }
  std::fclose(f);
  std::filesystem::rename(temp, path);
  return path;
}

void read_all(benchmark::State& state, const std::string& format, const TraceMapping& mapping) {
  const auto path = trace_file(format);
  int64_t lines = 0;
  for (auto _ : state) {
    TraceReader reader(path.string(), mapping);
    int64_t tokens = 0;
    while (const TraceRecord* r = reader.next()) {
      tokens += r->input_tokens;
      ++lines;
    }
    benchmark::DoNotOptimize(tokens);
  }
  state.SetItemsProcessed(lines);
  state.counters["lines_per_s"] = benchmark::Counter(static_cast<double>(lines), benchmark::Counter::kIsRate);
}

void BM_AzureCsv(benchmark::State& state) { read_all(state, "azure.csv", preset_mapping("azure-llm-2023")); }
void BM_NumericCsv(benchmark::State& state) { read_all(state, "numeric.csv", TraceMapping{}); }
void BM_Jsonl(benchmark::State& state) {
  // Read as a config's mapping is, rather than assigned field by field: GCC 12 takes those
  // short-string assignments for reads of uninitialized memory (-Wmaybe-uninitialized).
  TraceMapping m;
  JsonReader::read_struct(
      Json{{"time_field", "t"}, {"input_field", "in"}, {"output_field", "out"}, {"model_field", "fn"}}, "mapping", m);
  read_all(state, "trace.jsonl", m);
}

BENCHMARK(BM_AzureCsv)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_NumericCsv)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_Jsonl)->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace slsim
