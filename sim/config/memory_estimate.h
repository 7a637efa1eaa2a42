#pragma once
// The memory a run will need, estimated from the resolved experiment before it starts, and the
// memory the machine can give it. Memory follows the cluster's state, not the trace's length
// (traces are streamed, requests.csv and timeseries.csv are written as rows finish), so the
// estimate is a fixed base, the servers' GPUs, the instances they can hold, the KV blocks an
// instance materializes (prefix caches, forks), the source files kept in memory, and the
// requests in flight when every instance's batch is full (never more than the workload has).
// A backlog beyond that depends on whether the cluster keeps up, so `run_experiment` bounds
// the requests in flight while the run goes on (`max_requests_in_flight`).
// Per-item costs were measured with /usr/bin/time -v (docs/decisions.md) and rounded up.

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "sim/config/experiment_config.h"

namespace slsim {

// Per-item costs, bytes.
inline constexpr int64_t kBaseBytes = int64_t{12} << 20;        // binary, libraries, catalogue, buffers
inline constexpr int64_t kBytesPerGpu = int64_t{2} << 10;       // topology, path caches, loader caches
inline constexpr int64_t kBytesPerInstance = int64_t{8} << 10;  // engine, latency model, slots
inline constexpr int64_t kBytesPerRequest = 320;                // in flight: record, engine queue entry
inline constexpr int64_t kBytesPerExtraSequence = 96;           // a sample's or beam's block table
inline constexpr int64_t kBytesPerMaterializedBlock = 64;       // block state, free list, prefix index
inline constexpr int64_t kSourceFileFactor = 1;                 // ServeGen clients, length tables: × file bytes

struct MemoryEstimate {
  struct Part {
    std::string what;  // e.g. "requests in flight (1.0e+04 x 320 B)"
    int64_t bytes = 0;
  };
  std::vector<Part> parts;
  // The part that does not depend on the requests in flight.
  int64_t structure_bytes = 0;
  // Requests in flight assumed by the estimate, and each one's cost.
  int64_t requests_in_flight = 0;
  int64_t bytes_per_request = kBytesPerRequest;
  int64_t total_bytes() const;
  // "42.1 MiB: 16.0 MiB base, 1.6 MiB for 800 GPUs, ..."
  std::string describe() const;
};

// Upper bound on the requests a source emits (trace lines × ⌈rate_scale⌉, a generator's count
// or rate × duration with margin), or nullopt when unknown (ServeGen, a generator with neither).
std::optional<int64_t> source_request_bound(const SourceSpec& spec, std::optional<double> experiment_duration_s);

// The estimate for a run of `experiment` (traces are read for their line counts).
MemoryEstimate estimate_run_memory_bytes(const ResolvedExperiment& experiment);

// Memory the process may still take: the smaller of MemAvailable (/proc/meminfo) and what the
// cgroup (v2 memory.max, or v1 memory.limit_in_bytes, of this process's group and its parents)
// leaves above its current use; nullopt when none of them can be read. For tests,
// $SLSIM_AVAILABLE_MEMORY_BYTES (a byte count) replaces the measurement.
std::optional<int64_t> available_memory_bytes();

// InputError naming the estimate, its parts, the available memory and the ways around it when
// the estimate exceeds `available_bytes`.
void check_run_memory(const MemoryEstimate& estimate, int64_t available_bytes);

// Requests in flight that fit beside the structure in `available_bytes` (at least the estimate's).
int64_t max_requests_in_flight(const MemoryEstimate& estimate, int64_t available_bytes);

// "1.5 GiB", "320 B".
std::string format_bytes(double bytes);

}  // namespace slsim
