#include "sim/config/memory_estimate.h"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <memory>
#include <sstream>

#include "sim/core/errors.h"
#include "sim/engine/engine.h"

namespace slsim {
namespace fs = std::filesystem;
namespace {

constexpr int64_t kUnbounded = std::numeric_limits<int64_t>::max();

int64_t saturating_mul(int64_t a, int64_t b) {
  if (a == 0 || b == 0) return 0;
  return a > kUnbounded / b ? kUnbounded : a * b;
}
int64_t saturating_add(int64_t a, int64_t b) { return a > kUnbounded - b ? kUnbounded : a + b; }

// Lines of a file (a last line without a newline counts), read in 1 MiB chunks.
int64_t count_lines(const std::string& path) {
  const std::unique_ptr<std::FILE, int (*)(std::FILE*)> file(std::fopen(path.c_str(), "rb"), &std::fclose);
  if (!file) throw InputError(path + ": cannot open the trace to count its lines");
  std::vector<char> buffer(size_t{1} << 20);
  int64_t lines = 0;
  char last = '\n';
  for (size_t n; (n = std::fread(buffer.data(), 1, buffer.size(), file.get())) > 0;) {
    lines += std::count(buffer.data(), buffer.data() + n, '\n');
    last = buffer[n - 1];
  }
  return lines + (last == '\n' ? 0 : 1);
}

// Bytes of a file, or of the regular files of a folder (ServeGen).
int64_t file_bytes(const std::string& path) {
  if (path.empty()) return 0;
  std::error_code error;
  if (fs::is_regular_file(path, error)) return static_cast<int64_t>(fs::file_size(path, error));
  int64_t bytes = 0;
  if (fs::is_directory(path, error))
    for (const auto& entry : fs::recursive_directory_iterator(path, error))
      if (entry.is_regular_file(error)) bytes += static_cast<int64_t>(entry.file_size(error));
  return bytes;
}

bool is_trace_file(const SourceSpec& s) {
  return (s.kind == "trace" || s.kind == "azure-llm-2023") && s.preset != "servegen";
}
bool is_servegen(const SourceSpec& s) { return s.kind == "servegen" || s.preset == "servegen"; }

// A count read from /proc or /sys ("max" or unreadable: nullopt).
std::optional<int64_t> read_count(const fs::path& file) {
  std::ifstream in(file);
  std::string text;
  if (!(in >> text)) return std::nullopt;
  int64_t value = 0;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (error != std::errc() || end != text.data() + text.size()) return std::nullopt;
  return value;
}

std::optional<int64_t> meminfo_available_bytes() {
  std::ifstream in("/proc/meminfo");
  std::string key;
  int64_t kib = 0;
  std::string unit;
  while (in >> key >> kib >> unit)
    if (key == "MemAvailable:") return saturating_mul(kib, 1024);
  return std::nullopt;
}

// The smallest (limit − usage) over the cgroup of this process and its parents.
std::optional<int64_t> cgroup_available_bytes() {
  std::ifstream in("/proc/self/cgroup");
  std::optional<int64_t> available;
  const auto take = [&available](std::optional<int64_t> limit, std::optional<int64_t> usage) {
    // cgroup v1 writes "no limit" as a huge page-rounded number.
    if (!limit || *limit >= (int64_t{1} << 60)) return;
    const int64_t left = std::max<int64_t>(0, *limit - usage.value_or(0));
    available = std::min(available.value_or(kUnbounded), left);
  };
  for (std::string line; std::getline(in, line);) {
    // hierarchy-id:controllers:path; v2 is "0::path", v1's memory line names "memory".
    const size_t first = line.find(':');
    const size_t second = line.find(':', first + 1);
    if (first == std::string::npos || second == std::string::npos) continue;
    const std::string controllers = line.substr(first + 1, second - first - 1);
    const fs::path group = fs::path(line.substr(second + 1)).relative_path();
    const bool v2 = line.compare(0, first, "0") == 0 && controllers.empty();
    std::stringstream list(controllers);
    bool memory_v1 = false;
    for (std::string c; std::getline(list, c, ',');) memory_v1 = memory_v1 || c == "memory";
    if (!v2 && !memory_v1) continue;
    const fs::path root = v2 ? fs::path("/sys/fs/cgroup") : fs::path("/sys/fs/cgroup/memory");
    for (fs::path g = group;; g = g.parent_path()) {
      const fs::path dir = root / g;
      if (v2)
        take(read_count(dir / "memory.max"), read_count(dir / "memory.current"));
      else
        take(read_count(dir / "memory.limit_in_bytes"), read_count(dir / "memory.usage_in_bytes"));
      if (g.empty()) break;
    }
  }
  return available;
}

}  // namespace

int64_t MemoryEstimate::total_bytes() const {
  int64_t total = 0;
  for (const Part& p : parts) total = saturating_add(total, p.bytes);
  return total;
}

std::string format_bytes(double bytes) {
  static constexpr const char* kUnits[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
  size_t unit = 0;
  while (bytes >= 1024 && unit + 1 < std::size(kUnits)) {
    bytes /= 1024;
    ++unit;
  }
  return unit == 0 ? fmt::format("{:.0f} B", bytes) : fmt::format("{:.1f} {}", bytes, kUnits[unit]);
}

std::string MemoryEstimate::describe() const {
  std::string text = format_bytes(static_cast<double>(total_bytes())) + ": ";
  for (size_t i = 0; i < parts.size(); ++i)
    text += fmt::format("{}{} {}", i ? ", " : "", format_bytes(static_cast<double>(parts[i].bytes)), parts[i].what);
  return text;
}

std::optional<int64_t> source_request_bound(const SourceSpec& spec, std::optional<double> experiment_duration_s) {
  // Each arrival is emitted ⌊k⌋ or ⌊k⌋ + 1 times at rate scale k (traces and ServeGen).
  const auto copies = static_cast<int64_t>(std::ceil(spec.rate_scale));
  if (is_trace_file(spec)) return saturating_mul(count_lines(spec.path), copies);
  if (is_servegen(spec)) return std::nullopt;
  if (spec.requests > 0) return spec.requests;
  // Arrivals within the window at the peak rate (diurnal crest; rate_scale folds into a
  // generator's rate), with a margin for the draws (Poisson: σ = √n; the margin is 10% plus 100).
  // The source's window is in trace time, the experiment's in simulated time (÷ time_scale).
  const double rate_per_s = spec.rate_per_s * spec.rate_scale * (1 + spec.diurnal_amplitude);
  std::optional<double> expected;
  if (spec.duration_s) expected = rate_per_s * *spec.duration_s;
  if (experiment_duration_s)
    expected = std::min(expected.value_or(std::numeric_limits<double>::infinity()),
                        rate_per_s * spec.time_scale * *experiment_duration_s);
  if (!expected) return std::nullopt;
  const double bound = std::ceil(*expected * 1.1 + 100);
  return bound >= 9e18 ? kUnbounded : static_cast<int64_t>(bound);
}

MemoryEstimate estimate_run_memory_bytes(const ResolvedExperiment& experiment) {
  const ExperimentConfig& c = experiment.config;
  MemoryEstimate e;
  e.parts.push_back({"base (binary, libraries, catalogue, buffers)", kBaseBytes});

  int64_t gpus = 0;
  int64_t servers = 0;
  for (const ServerGroupSpec& g : experiment.server_groups) {
    servers = saturating_add(servers, g.count);
    gpus = saturating_add(gpus, saturating_mul(g.count, g.server.gpus));
  }
  e.parts.push_back({fmt::format("for {} GPUs on {} servers ({} each)", gpus, servers, format_bytes(kBytesPerGpu)),
                     saturating_mul(gpus, kBytesPerGpu)});

  // An instance holds tensor_parallel GPUs: at most GPUs / (smallest TP) instances.
  int64_t min_tp = kUnbounded;
  for (const ServedModel& m : experiment.models) min_tp = std::min(min_tp, m.tensor_parallel);
  const int64_t instances = experiment.models.empty() ? 0 : gpus / std::max<int64_t>(1, min_tp);
  e.parts.push_back({fmt::format("for up to {} instances ({} each)", instances, format_bytes(kBytesPerInstance)),
                     saturating_mul(instances, kBytesPerInstance)});

  // Sequences per request and whether blocks are materialized (shared prompt prefixes, forks).
  int64_t sequences = 1;
  bool materializes = false;
  int64_t source_file_bytes = 0;
  std::optional<int64_t> requests = 0;
  for (const SourceSpec& s : c.workload.sources) {
    sequences = std::max(sequences, saturating_mul(s.samples, s.beam_width));
    materializes = materializes || s.samples > 1 || s.beam_width > 1 || !s.mapping.prefix_field.empty() ||
                   !s.mapping.samples_field.empty() || !s.mapping.beam_field.empty();
    if (is_servegen(s)) source_file_bytes = saturating_add(source_file_bytes, file_bytes(s.path));
    source_file_bytes = saturating_add(source_file_bytes, file_bytes(s.lengths.table));
    const std::optional<int64_t> bound = source_request_bound(s, c.duration_s);
    requests = requests && bound ? std::optional(saturating_add(*requests, *bound)) : std::nullopt;
  }
  if (source_file_bytes > 0)
    e.parts.push_back({fmt::format("for source files held in memory ({} x their {})", kSourceFileFactor,
                                   format_bytes(static_cast<double>(source_file_bytes))),
                       saturating_mul(source_file_bytes, kSourceFileFactor)});

  if (materializes) {
    // Every GPU of a group filled with instances of the model whose KV holds the most blocks per GPU.
    int64_t blocks = 0;
    for (const ServerGroupSpec& g : experiment.server_groups) {
      int64_t per_gpu = 0;
      for (const ServedModel& m : experiment.models)
        per_gpu = std::max(per_gpu, kv_capacity_blocks(m.spec, g.gpu, m.tensor_parallel, c.engine) /
                                        std::max<int64_t>(1, m.tensor_parallel));
      blocks = saturating_add(blocks, saturating_mul(saturating_mul(g.count, g.server.gpus), per_gpu));
    }
    e.parts.push_back({fmt::format("for up to {:.2g} materialized KV blocks (prefix caches, forks; {} each)",
                                   static_cast<double>(blocks), format_bytes(kBytesPerMaterializedBlock)),
                       saturating_mul(blocks, kBytesPerMaterializedBlock)});
  }

  e.structure_bytes = e.total_bytes();
  e.bytes_per_request = saturating_add(kBytesPerRequest, saturating_mul(sequences - 1, kBytesPerExtraSequence));
  const int64_t full_batches = saturating_mul(instances, c.engine.max_num_seqs);
  e.requests_in_flight = requests ? std::min(*requests, full_batches) : full_batches;
  e.parts.push_back(
      {fmt::format("for {:.2g} requests in flight ({}: {} each)", static_cast<double>(e.requests_in_flight),
                   requests && *requests <= full_batches
                       ? fmt::format("all {:.2g} of the workload", static_cast<double>(*requests))
                       : fmt::format("every instance's batch full, {} sequences", c.engine.max_num_seqs),
                   format_bytes(static_cast<double>(e.bytes_per_request))),
       saturating_mul(e.requests_in_flight, e.bytes_per_request)});
  return e;
}

std::optional<int64_t> available_memory_bytes() {
  if (const char* injected = std::getenv("SLSIM_AVAILABLE_MEMORY_BYTES")) {
    int64_t bytes = 0;
    const char* end = injected + std::strlen(injected);
    const auto [at, error] = std::from_chars(injected, end, bytes);
    if (error != std::errc() || at != end || bytes < 0)
      throw InputError(fmt::format("SLSIM_AVAILABLE_MEMORY_BYTES={}: expected a byte count", injected));
    return bytes;
  }
  const std::optional<int64_t> meminfo = meminfo_available_bytes();
  const std::optional<int64_t> cgroup = cgroup_available_bytes();
  if (meminfo && cgroup) return std::min(*meminfo, *cgroup);
  return meminfo ? meminfo : cgroup;
}

void check_run_memory(const MemoryEstimate& estimate, int64_t available_bytes) {
  if (estimate.total_bytes() <= available_bytes) return;
  throw InputError(
      fmt::format("the run would need about {}, more than the {} of memory available; run it on a smaller cluster, "
                  "with a shorter workload or duration_s, or with fewer engine.max_num_seqs, or pass --no-memory-check "
                  "(--set check_memory=false) to run it anyway",
                  estimate.describe(), format_bytes(static_cast<double>(available_bytes))));
}

int64_t max_requests_in_flight(const MemoryEstimate& estimate, int64_t available_bytes) {
  const int64_t room = std::max<int64_t>(0, available_bytes - estimate.structure_bytes);
  return std::max(estimate.requests_in_flight, room / std::max<int64_t>(1, estimate.bytes_per_request));
}

}  // namespace slsim
