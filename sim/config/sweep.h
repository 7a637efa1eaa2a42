#pragma once
// A sweep: one base experiment and axes of `--set` values, expanded into points, each an
// isolated run_experiment in its own folder, gathered into sweep.csv.
//
// Completeness: a point's folder is complete exactly when its summary.json exists, because
// run_experiment renames summary.json into place last. Anything else in a folder without it
// is the leftover of an interrupted run; it is removed and the point is run again.
//
// Thread safety: run_experiment shares no mutable state between calls (registries are
// function-local constants built once; every simulator object belongs to its run), so
// points run concurrently on a pool of threads.

#include <atomic>
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
// `config_path` with `overrides` (applied first, to every point).
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

// Runs `indices` of `points` under `out_dir` on `threads` threads. Complete points are read,
// not rerun (a point's folder only ever holds a complete set). `on_done(index, ran)` is called
// (under a lock) after each point. A point that throws is recorded in `failures` as its index
// and message, and the others go on. Returns the summaries, indexed like `points` (null for points not
// in `indices` or failed).
struct SweepRun {
  std::vector<Json> summaries;
  std::vector<std::pair<size_t, std::string>> failures;
};
SweepRun run_sweep_points(const std::vector<SweepPoint>& points, const std::vector<size_t>& indices,
                          const std::filesystem::path& config_dir, const std::filesystem::path& out_dir, int threads,
                          const std::function<void(size_t index, bool ran)>& on_done);

}  // namespace slsim
