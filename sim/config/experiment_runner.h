#pragma once
// Builds the simulated system from a resolved experiment, runs it, and writes its results:
// config.json (resolved), summary.json, requests.csv and timeseries.csv, staged together and
// swapped into the output folder only once the run has succeeded (`ResultSet`).

#include <filesystem>

#include "sim/config/experiment_config.h"
#include "sim/core/fields.h"

namespace slsim {

// Runs the experiment, replaces `out_dir` (created if needed) with its results and returns the
// summary; with a `timeline` path, also a Chrome/Perfetto trace of instances and batches there
// (part of the set when directly in `out_dir`; InputError when it is a result file's path).
Json run_experiment(const ResolvedExperiment& experiment, const std::filesystem::path& out_dir,
                    const std::filesystem::path& timeline = {});

}  // namespace slsim
