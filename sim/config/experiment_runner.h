#pragma once
// Builds the simulated system from a resolved experiment, runs it, and writes its results:
// config.json (resolved), summary.json and requests.csv, all renamed into place only once
// the run has succeeded.

#include <filesystem>

#include "sim/config/experiment_config.h"
#include "sim/core/fields.h"

namespace slsim {

// Runs the experiment, writes its results into `out_dir` (created if needed) and returns the
// summary; with a `timeline` path, also a Chrome/Perfetto trace of instances and batches there.
Json run_experiment(const ResolvedExperiment& experiment, const std::filesystem::path& out_dir,
                    const std::filesystem::path& timeline = {});

}  // namespace slsim
