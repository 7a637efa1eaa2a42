#include "sim/cli/sweep_command.h"

#include <fmt/format.h>

#include <boost/program_options.hpp>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <thread>

#include "sim/cli/progress.h"
#include "sim/config/experiment_config.h"
#include "sim/config/sweep.h"
#include "sim/core/errors.h"
#include "sim/metrics/output_file.h"

#ifdef SLSIM_WITH_MPI
#include <boost/mpi.hpp>
#include <boost/serialization/string.hpp>
#include <boost/serialization/utility.hpp>
#include <boost/serialization/vector.hpp>
#endif

namespace slsim {
namespace fs = std::filesystem;
namespace po = boost::program_options;

namespace {

constexpr const char* kUsage =
    "usage: slsim sweep CONFIG --grid key=v1,v2,... [--grid ...] [--zip 'k1=a,b;k2=c,d'] [--set k=v]... [-j N] [-o "
    "DIR] [--progress|--no-progress]\n"
    "Runs every point of the cross product of the axes in DIR/<point>/ and writes DIR/sweep.csv.\n"
    "A rerun skips points whose summary.json exists and redoes interrupted ones.";

// Points done, how many were reused, elapsed wall time and an ETA from the mean time of the
// points run so far.
class Progress {
 public:
  Progress(size_t total, bool enabled) : total_(total), enabled_(enabled) {}
  void point_done(bool ran) {
    ++done_;
    ran_ += ran;
    if (!enabled_) return;
    const double elapsed = line_.elapsed_s();
    const std::string eta =
        ran_ ? duration_text(elapsed / static_cast<double>(ran_) * static_cast<double>(total_ - done_)) : "?";
    line_.draw(fmt::format("sweep: {}/{} points ({} reused), {} elapsed, ETA {}", done_, total_, done_ - ran_,
                           duration_text(elapsed), eta),
               done_ == total_);
  }
  size_t ran() const { return ran_; }

 private:
  size_t total_;
  size_t done_ = 0;
  size_t ran_ = 0;
  bool enabled_;
  ProgressLine line_;
};

struct SweepRequest {
  fs::path config;
  std::vector<std::string> overrides;
  std::vector<SweepAxis> axes;
  int jobs = 1;
  fs::path out_dir;
  bool show_progress = false;
  bool help = false;
};

SweepRequest parse_request(const std::vector<std::string>& args) {
  po::options_description options("slsim sweep options");
  options.add_options()("config", po::value<std::string>()->required(), "base experiment config (JSON)")(
      "grid", po::value<std::vector<std::string>>()->composing(),
      "an axis: key.path=v1,v2,... (repeatable; the cross product is run)")(
      "zip", po::value<std::vector<std::string>>()->composing(),
      "keys varying together: 'k1=a,b;k2=c,d' (repeatable; one axis each)")(
      "set", po::value<std::vector<std::string>>()->composing(),
      "override a config value in every point: a.b.c=value (repeatable)")(
      "jobs,j", po::value<int>()->default_value(static_cast<int>(std::max(1u, std::thread::hardware_concurrency()))),
      "points run at once (a process each)")("output,o", po::value<std::string>(),
                                             "output folder (default: results/<name>)")(
      "progress", "show a progress line on stderr even when it is not a terminal")(
      "no-progress", "show no progress line, even on a terminal")("help,h", "describe this command");
  po::positional_options_description positional;
  positional.add("config", 1);
  po::variables_map values;
  const po::parsed_options parsed = po::command_line_parser(args).options(options).positional(positional).run();
  po::store(parsed, values);
  SweepRequest request;
  if (values.count("help")) {
    std::cout << kUsage << "\n\n" << options << "\n";
    request.help = true;
    return request;
  }
  po::notify(values);
  const auto list = [&](const char* name) {
    return values.count(name) ? values[name].as<std::vector<std::string>>() : std::vector<std::string>{};
  };
  request.config = values["config"].as<std::string>();
  request.overrides = list("set");
  // Axes in command-line order, --grid and --zip interleaved as given.
  for (const po::option& o : parsed.options) {
    if (o.string_key == "grid") request.axes.push_back(parse_grid_axis(o.value.at(0)));
    if (o.string_key == "zip") request.axes.push_back(parse_zip_axis(o.value.at(0)));
  }
  if (request.axes.empty()) throw InputError("expected at least one --grid or --zip axis");
  request.show_progress =
      progress_wanted(progress_option(values.count("progress") != 0, values.count("no-progress") != 0));
  request.jobs = values["jobs"].as<int>();
  if (request.jobs < 1) throw InputError("--jobs: expected a count >= 1");
  if (values.count("output")) {
    request.out_dir = values["output"].as<std::string>();
  } else {
    const Json document = load_json_file(request.config);
    request.out_dir = fs::path("results") / document.value("name", request.config.stem().string());
  }
  return request;
}

// The points this process runs: all of them, or every size-th from its rank under MPI.
std::vector<size_t> share(size_t count, int rank, int size) {
  std::vector<size_t> mine;
  for (size_t i = static_cast<size_t>(rank); i < count; i += static_cast<size_t>(size)) mine.push_back(i);
  return mine;
}

struct Outcome {
  std::vector<std::pair<uint64_t, std::string>> summaries;  // index, summary.json text
  std::vector<std::pair<uint64_t, std::string>> failures;   // index, message
  std::string input_error;
  uint64_t ran = 0;

  template <class Archive>
  void serialize(Archive& archive, unsigned /*version*/) {
    archive& summaries& failures& input_error& ran;
  }
};

Outcome run_share(const SweepRequest& request, const std::vector<SweepPoint>& points, const std::vector<size_t>& mine,
                  bool show_progress) {
  Outcome outcome;
  Progress progress(mine.size(), show_progress);
  try {
    const SweepRun run = run_sweep_points(points, mine, fs::absolute(request.config).parent_path(), request.out_dir,
                                          request.jobs, [&](size_t, bool ran) { progress.point_done(ran); });
    for (const size_t i : mine)
      if (!run.summaries[i].is_null()) outcome.summaries.emplace_back(i, run.summaries[i].dump());
    for (const auto& [i, message] : run.failures) outcome.failures.emplace_back(i, message);
  } catch (const InputError& e) {
    outcome.input_error = e.what();
  }
  outcome.ran = progress.ran();
  return outcome;
}

// Rank 0 (or the only process): report, and write sweep.csv with a row per point; a failed
// point's row holds its error, and the sweep then exits 1.
int finish(const SweepRequest& request, const std::vector<SweepPoint>& points, const std::vector<Outcome>& outcomes) {
  std::vector<Json> summaries(points.size());
  std::map<size_t, std::string> errors;
  uint64_t ran = 0;
  for (const Outcome& o : outcomes) {
    if (!o.input_error.empty()) throw InputError(o.input_error);
    for (const auto& [i, message] : o.failures) errors.emplace(i, message);
    for (const auto& [i, text] : o.summaries) summaries[i] = Json::parse(text);
    ran += o.ran;
  }
  for (const auto& [i, message] : errors)
    std::cerr << "slsim sweep: point " << points[i].folder << ": " << message << "\n";
  write_file_atomically(request.out_dir / "sweep.csv", sweep_csv(points, summaries, errors));
  if (!errors.empty()) {
    std::cerr << fmt::format(
        "slsim sweep: {} of {} points failed (see the error column of {}); rerun to retry them "
        "(complete ones are kept)\n",
        errors.size(), points.size(), (request.out_dir / "sweep.csv").string());
    return 1;
  }
  std::cout << fmt::format("sweep: {} points ({} run, {} reused) -> {}\n", points.size(), ran, points.size() - ran,
                           (request.out_dir / "sweep.csv").string());
  return 0;
}

}  // namespace

int sweep_command(const std::vector<std::string>& args) {
#ifdef SLSIM_WITH_MPI
  const boost::mpi::environment environment(boost::mpi::threading::funneled);
  const boost::mpi::communicator world;
  const int rank = world.rank();
  const int size = world.size();
#else
  const int rank = 0;
  const int size = 1;
#endif
  const SweepRequest request = parse_request(args);
  if (request.help) return 0;
  const std::vector<SweepPoint> points = expand_sweep(request.config, request.overrides, request.axes);
  fs::create_directories(request.out_dir);
  // A sweep.csv from an earlier sweep must not stand beside the points of this one.
  if (rank == 0) fs::remove(request.out_dir / "sweep.csv");
  Outcome mine = run_share(request, points, share(points.size(), rank, size), request.show_progress && rank == 0);
#ifdef SLSIM_WITH_MPI
  std::vector<Outcome> outcomes;
  boost::mpi::gather(world, mine, outcomes, 0);
  int exit_code = 0;
  if (rank == 0) {
    try {
      exit_code = finish(request, points, outcomes);
    } catch (const InputError& e) {
      std::cerr << "slsim sweep: " << e.what() << "\n";
      exit_code = 2;
    }
  }
  boost::mpi::broadcast(world, exit_code, 0);
  return exit_code;
#else
  return finish(request, points, {std::move(mine)});
#endif
}

}  // namespace slsim
