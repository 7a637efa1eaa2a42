#pragma once
// Builds the simulated system from a resolved experiment, runs it, and writes its results:
// config.json (resolved), summary.json, requests.csv and timeseries.csv, staged together and
// swapped into the output folder only once the run has succeeded (`ResultSet`).

#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>

#include "sim/config/experiment_config.h"
#include "sim/core/fields.h"
#include "sim/core/time.h"

namespace slsim {

// What a progress display sees of a running experiment.
struct RunProgress {
  Time simulated;
  std::optional<Time> horizon;  // duration_s, when the config sets one
  int64_t arrived = 0;          // requests that have arrived
  int64_t finished = 0;         // of those, completed or rejected
  uint64_t events_handled = 0;  // events the loop handled (summary.json's `events` adds skipped ticks)
  bool done = false;            // the last call of a run
};
using RunProgressCallback = std::function<void(const RunProgress&)>;
// Foreground events between two progress calls: the callback may read the wall clock, and at
// this spacing that costs nothing measurable even on runs of ~10^7 events per second.
inline constexpr uint64_t kProgressEveryEvents = 1 << 14;

// Runs the experiment, replaces `out_dir` (created if needed) with its results and returns the
// summary; with a `timeline` path, also a Chrome/Perfetto trace of instances and batches there
// (part of the set when directly in `out_dir`; InputError when it is a result file's path).
// A `progress` callback is called every kProgressEveryEvents events and once at the end; it
// changes nothing in the results.
Json run_experiment(const ResolvedExperiment& experiment, const std::filesystem::path& out_dir,
                    const std::filesystem::path& timeline = {}, const RunProgressCallback& progress = {});

}  // namespace slsim
