#pragma once
// A sweep: one base experiment and axes of `--set` values, expanded into points, each an
// isolated run_experiment in its own folder, gathered into sweep.csv.
//
// Completeness: a point's folder is complete exactly when its summary.json exists, because
// run_experiment renames summary.json into place last. Anything else in a folder without it
// is the leftover of an interrupted run; it is removed and the point is run again.
//
// Isolation: each point runs in a child process of its own (fork), so a point that crashes
// (a signal, the out-of-memory killer) or throws is recorded with its reason while the others
// go on. The children inherit the resolved experiments, so traces are read once.

#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "sim/core/fields.h"

namespace slsim {

// One axis: a `--grid key=v1,v2` has one key; a `--zip k1=a,b;k2=c,d` has keys whose values
// vary together (values[k][i] is key k's value at position i).
struct SweepAxis {
  std::vector<std::string> keys;
  std::vector<std::vector<std::string>> values;
  size_t size() const { return values.empty() ? 0 : values.front().size(); }
};

// Values are split at commas outside brackets, braces and quotes, so a JSON array or object
// is one value: --grid 'a.b=[1,2],[3,4]'.
SweepAxis parse_grid_axis(const std::string& argument);
// Keys separated by ';', each with the same number of values.
SweepAxis parse_zip_axis(const std::string& argument);

struct SweepPoint {
  std::vector<std::pair<std::string, std::string>> parameters;  // key, value as given
  Json document;                                                // the base config with them applied
  std::string folder;  // readable parameters and a hash of `document`: a changed config is a new point
};

// The cross product of the axes (the first axis varies slowest), applied over the config at
// `config_path` with `overrides` (applied first, to every point). A value that does not fit the
// config is an InputError naming the config file and the JSON path.
// The most points one sweep expands to.
inline constexpr size_t kMaxSweepPoints = 1'000'000;

std::vector<SweepPoint> expand_sweep(const std::filesystem::path& config_path,
                                     const std::vector<std::string>& overrides, const std::vector<SweepAxis>& axes);

// summary.json flattened to dotted column names: {"ttft_s": {"p99": x}} -> "ttft_s.p99".
// Numbers keep nlohmann's shortest round-trip form, strings are unquoted; arrays are indexed.
std::map<std::string, std::string> flatten_summary(const Json& summary);

// One row per point: `point`, the parameters (in axis order), then every flattened summary
// column seen in any point, sorted; a column a point lacks is empty. With `errors` (by point
// index), a last column `error` holds why each failed point has no summary.
std::string sweep_csv(const std::vector<SweepPoint>& points, const std::vector<Json>& summaries,
                      const std::map<size_t, std::string>& errors = {});

bool point_complete(const std::filesystem::path& point_dir);

// Runs one point into its folder; run_experiment in production, a stand-in in tests.
struct ResolvedExperiment;
using PointRunner = std::function<void(const ResolvedExperiment& experiment, const std::filesystem::path& point_dir)>;
void run_point_experiment(const ResolvedExperiment& experiment, const std::filesystem::path& point_dir);

// Runs `indices` of `points` under `out_dir`, up to `jobs` at once, each in a child process, and
// fewer where their memory estimates (memory_estimate.h) would not fit in the memory available.
// Complete points are read, not rerun (a point's folder only ever holds a complete set).
// `on_done(index, ran)` is called after each point that has a summary. A point that throws or
// whose process dies is recorded in `failures` as its index and why (the exception's message, or
// the signal), and the others go on. Returns the summaries, indexed like `points` (null for points
// not in `indices` or failed).
struct SweepRun {
  std::vector<Json> summaries;
  std::vector<std::pair<size_t, std::string>> failures;
};
SweepRun run_sweep_points(const std::vector<SweepPoint>& points, const std::vector<size_t>& indices,
                          const std::filesystem::path& config_dir, const std::filesystem::path& out_dir, int jobs,
                          const std::function<void(size_t index, bool ran)>& on_done,
                          const PointRunner& run_point = run_point_experiment);

}  // namespace slsim
