// _slsim, the compiled half of the `slsim` Python package (slsim/__init__.py is the other): an
// experiment or a sweep run through the very functions the CLI calls (load_experiment or
// resolve_experiment, run_experiment; expand_sweep, run_sweep_points, sweep_csv), with the
// results handed back as JSON and CSV text for the Python side to turn into dicts and DataFrames.
// Errors keep the CLI's messages: an InputError (config, trace, bad value) is raised as
// slsim.InputError, a ValueError; anything else as RuntimeError.

#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <filesystem>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "sim/config/experiment_config.h"
#include "sim/config/experiment_runner.h"
#include "sim/config/sweep.h"
#include "sim/config/version.h"
#include "sim/core/errors.h"
#include "sim/metrics/output_file.h"

namespace py = pybind11;
namespace fs = std::filesystem;
using namespace slsim;

namespace {

// A config file read as the CLI reads it, or a document (JSON text) whose relative paths are
// taken from `base_dir`.
ResolvedExperiment load(const std::optional<std::string>& config_path, const std::optional<std::string>& document_text,
                        const std::string& base_dir, const std::vector<std::string>& overrides) {
  if (config_path) return load_experiment(*config_path, overrides);
  Json document = Json::parse(document_text.value());
  for (const std::string& o : overrides) apply_override(document, o);
  return resolve_experiment(document, fs::absolute(base_dir));
}

// Ctrl-C in a notebook stops a run: every kProgressEveryEvents events this takes the GIL and
// looks for a pending signal; KeyboardInterrupt unwinds the run, whose results are then not
// written (run_experiment renames them into place only at the end).
RunProgressCallback interrupt_check() {
  return [](const RunProgress& /*progress*/) {
    const py::gil_scoped_acquire gil;
    if (PyErr_CheckSignals() != 0) throw py::error_already_set();
  };
}

// Runs one experiment into `output`; returns summary.json's text and the config's warnings.
std::pair<std::string, std::vector<std::string>> run(const std::optional<std::string>& config_path,
                                                     const std::optional<std::string>& document_text,
                                                     const std::string& base_dir,
                                                     const std::vector<std::string>& overrides,
                                                     const std::string& output) {
  const ResolvedExperiment experiment = load(config_path, document_text, base_dir, overrides);
  const py::gil_scoped_release released;
  const Json summary = run_experiment(experiment, output, {}, interrupt_check());
  return {summary.dump(), experiment.warnings};
}

// The resolved config (slsim validate --print) and the warnings.
std::pair<std::string, std::vector<std::string>> validate(const std::optional<std::string>& config_path,
                                                          const std::optional<std::string>& document_text,
                                                          const std::string& base_dir,
                                                          const std::vector<std::string>& overrides) {
  const ResolvedExperiment experiment = load(config_path, document_text, base_dir, overrides);
  return {experiment.to_json(".").dump(), experiment.warnings};
}

// slsim sweep: every point of `axes` (each a list of keys and, per key, its values as --grid or
// --zip text) under `output`, resumable as on the CLI; sweep.csv is written there and its text
// returned with the failed points (folder, message).
std::pair<std::string, std::vector<std::pair<std::string, std::string>>> sweep(
    const std::string& config_path, const std::string& base_dir, const std::vector<std::string>& overrides,
    const std::vector<std::pair<std::vector<std::string>, std::vector<std::vector<std::string>>>>& axes,
    const std::string& output, int jobs) {
  std::vector<SweepAxis> sweep_axes;
  sweep_axes.reserve(axes.size());
  for (const auto& [keys, values] : axes) sweep_axes.push_back(SweepAxis{keys, values});
  if (sweep_axes.empty()) throw InputError("expected at least one grid or zip axis");
  if (jobs < 1) throw InputError("jobs: expected a count >= 1");
  const std::vector<SweepPoint> points = expand_sweep(config_path, overrides, sweep_axes);
  const fs::path out_dir = output;
  fs::create_directories(out_dir);
  fs::remove(out_dir / "sweep.csv");
  std::vector<size_t> indices(points.size());
  for (size_t i = 0; i < indices.size(); ++i) indices[i] = i;
  SweepRun result;
  {
    const py::gil_scoped_release released;
    result = run_sweep_points(points, indices, fs::absolute(base_dir), out_dir, jobs, [](size_t, bool) {});
  }
  const std::map<size_t, std::string> errors(result.failures.begin(), result.failures.end());
  const std::string csv = sweep_csv(points, result.summaries, errors);
  write_file_atomically(out_dir / "sweep.csv", csv);
  std::vector<std::pair<std::string, std::string>> failures;
  failures.reserve(errors.size());
  for (const auto& [i, message] : errors) failures.emplace_back(points[i].folder, message);
  return {csv, failures};
}

}  // namespace

PYBIND11_MODULE(_slsim, m) {
  m.doc() = "slsim's simulator; use the slsim package (slsim.run, slsim.sweep) rather than this module";
  py::register_exception<InputError>(m, "InputError", PyExc_ValueError);
  py::register_exception<InvariantViolation>(m, "InvariantViolation", PyExc_RuntimeError);
  m.def("run", &run, py::arg("config_path"), py::arg("document"), py::arg("base_dir"), py::arg("overrides"),
        py::arg("output"));
  m.def("validate", &validate, py::arg("config_path"), py::arg("document"), py::arg("base_dir"), py::arg("overrides"));
  m.def("sweep", &sweep, py::arg("config_path"), py::arg("base_dir"), py::arg("overrides"), py::arg("axes"),
        py::arg("output"), py::arg("jobs"));
  m.def("version", &slsim_version);
}
