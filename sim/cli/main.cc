// slsim: the command line. Exit codes: 0 success, 2 usage or input error, 1 runtime failure.

#include <fmt/format.h>

#include <algorithm>
#include <boost/program_options.hpp>
#include <cstdio>
#include <exception>
#include <iostream>
#include <string>
#include <vector>

#include "sim/cli/calibrate_command.h"
#include "sim/cli/progress.h"
#include "sim/cli/report_command.h"
#include "sim/cli/sweep_command.h"
#include "sim/cli/trace_command.h"
#include "sim/config/experiment_config.h"
#include "sim/config/experiment_runner.h"
#include "sim/config/version.h"
#include "sim/core/errors.h"
#include "sim/metrics/output_file.h"

namespace po = boost::program_options;
using namespace slsim;

namespace {

constexpr int kUsageError = 2;

const char* kTopHelp = R"(slsim: a discrete-event simulator of serverless LLM serving on GPU clusters

usage: slsim <command> [options]

commands:
  run CONFIG [-o DIR] [--set k=v]... [--skip-bad N] [--timeline FILE] [--check-invariants]
      [--no-memory-check] [--progress|--no-progress]
                                       replay one experiment and write its results
  validate CONFIG [--set k=v]...       check a config without running it
  sweep CONFIG --grid k=v1,v2 [--zip 'k1=a,b;k2=c,d'] [-j N] [-o DIR] [--progress|--no-progress]
                                       run every point of a parameter grid (resumable) into sweep.csv
  trace stats|convert|synth ...        inspect a trace, rewrite it as canonical CSV, or generate one
  policies [--json]                    list every registered policy and its parameters
  report RUN_OR_SWEEP... -o FILE       one self-contained HTML page of tables and interactive plots
  calibrate DIR --gpu NAME -o FILE     merge kernels/ measurements into a calibration profile
  --version                            print the version

`slsim <command> --help` describes a command's options.
)";

struct CommandLine {
  po::variables_map values;
  bool help = false;
};

CommandLine parse(const std::vector<std::string>& args, po::options_description& options,
                  const po::positional_options_description& positional, const std::string& usage) {
  options.add_options()("help,h", "describe this command");
  CommandLine cl;
  po::store(po::command_line_parser(args).options(options).positional(positional).run(), cl.values);
  if (cl.values.count("help")) {
    std::cout << usage << "\n" << options << "\n";
    cl.help = true;
    return cl;
  }
  po::notify(cl.values);
  return cl;
}

int run_command(const std::vector<std::string>& args) {
  po::options_description options("slsim run options");
  options.add_options()("config", po::value<std::string>()->required(), "experiment config (JSON)")(
      "output,o", po::value<std::string>(), "output folder (default: results/<name>)")(
      "set", po::value<std::vector<std::string>>()->composing(), "override a config value: a.b.c=value (repeatable)")(
      "skip-bad", po::value<int64_t>(), "tolerate up to N bad lines in each trace, skipping and counting them")(
      "timeline", po::value<std::string>(),
      "also write a Chrome/Perfetto trace of instances, loads and batches to FILE")(
      "check-invariants", "verify the simulator's invariants after every event; stop at the first broken one (exit 1)")(
      "no-memory-check",
      "run even when the estimated memory exceeds the memory available (same as --set check_memory=false)")(
      "progress", "show a progress line on stderr even when it is not a terminal")(
      "no-progress", "show no progress line, even on a terminal");
  po::positional_options_description positional;
  positional.add("config", 1);
  const auto cl = parse(args, options, positional,
                        "usage: slsim run CONFIG [-o DIR] [--set k=v]... [--skip-bad N] [--timeline FILE] "
                        "[--check-invariants] [--no-memory-check] [--progress|--no-progress]");
  if (cl.help) return 0;
  const bool show_progress =
      progress_wanted(progress_option(cl.values.count("progress") != 0, cl.values.count("no-progress") != 0));
  auto overrides =
      cl.values.count("set") ? cl.values["set"].as<std::vector<std::string>>() : std::vector<std::string>{};
  if (cl.values.count("skip-bad")) {
    // Set on every source before resolution, so that validation reads the traces with it too.
    const int64_t skip = cl.values["skip-bad"].as<int64_t>();
    if (skip < 0) throw InputError("--skip-bad: expected a count >= 0");
    // Counted after the other overrides, which may add sources (--set workload.sources=[...]).
    Json document = load_json_file(cl.values["config"].as<std::string>());
    for (const std::string& o : overrides) apply_override(document, o);
    const Json* sources = nullptr;
    if (document.contains("workload") && document["workload"].is_object() && document["workload"].contains("sources"))
      sources = &document["workload"]["sources"];
    for (size_t i = 0; sources && sources->is_array() && i < sources->size(); ++i)
      overrides.push_back(fmt::format("workload.sources.{}.skip_bad={}", i, skip));
  }
  if (cl.values.count("check-invariants")) overrides.push_back("check_invariants=true");
  if (cl.values.count("no-memory-check")) overrides.push_back("check_memory=false");
  const ResolvedExperiment experiment = load_experiment(cl.values["config"].as<std::string>(), overrides);
  for (const std::string& warning : experiment.warnings) std::cerr << "slsim run: warning: " << warning << "\n";
  const std::string out =
      cl.values.count("output") ? cl.values["output"].as<std::string>() : "results/" + experiment.config.name;
  ProgressLine line;
  RunProgressCallback progress;
  if (show_progress)
    progress = [&line](const RunProgress& p) { line.draw(run_progress_text(p, line.elapsed_s()), p.done); };
  const Json summary = run_experiment(
      experiment, out, cl.values.count("timeline") ? cl.values["timeline"].as<std::string>() : "", progress);
  std::cout << fmt::format(
      "{}: {} requests, {} completed, {} rejected, {} cold starts; TTFT p50 {} s, p99 {} s -> {}\n",
      experiment.config.name, summary["requests"].get<int64_t>(), summary["completed"].get<int64_t>(),
      summary["rejected"].get<int64_t>(), summary["cold_starts"].get<int64_t>(), summary["ttft_s"]["p50"].dump(),
      summary["ttft_s"]["p99"].dump(), out);
  if (summary.contains("skipped_trace_lines"))
    std::cerr << fmt::format("slsim run: skipped {} bad trace lines\n", summary["skipped_trace_lines"].get<int64_t>());
  return 0;
}

int validate_command(const std::vector<std::string>& args) {
  po::options_description options("slsim validate options");
  options.add_options()("config", po::value<std::string>()->required(), "experiment config (JSON)")(
      "set", po::value<std::vector<std::string>>()->composing(), "override a config value: a.b.c=value (repeatable)")(
      "print", "print the resolved config");
  po::positional_options_description positional;
  positional.add("config", 1);
  const auto cl = parse(args, options, positional, "usage: slsim validate CONFIG [--set k=v]... [--print]");
  if (cl.help) return 0;
  const auto overrides =
      cl.values.count("set") ? cl.values["set"].as<std::vector<std::string>>() : std::vector<std::string>{};
  const std::string path = cl.values["config"].as<std::string>();
  const ResolvedExperiment experiment = load_experiment(path, overrides);
  for (const std::string& warning : experiment.warnings) std::cerr << "slsim validate: warning: " << warning << "\n";
  if (cl.values.count("print"))
    std::cout << experiment.to_json(".").dump(2) << "\n";
  else
    std::cout << path << ": ok\n";
  return 0;
}

// Every registry a config's policy slots name, once each, with the slots that name it.
int policies_command(const std::vector<std::string>& args) {
  po::options_description options("slsim policies options");
  options.add_options()("json", "print as JSON");
  const auto cl = parse(args, options, {}, "usage: slsim policies [--json]");
  if (cl.help) return 0;
  std::vector<std::pair<const AnyRegistry*, std::vector<std::string>>> registries;
  for (const PolicySlot& slot : policy_slots()) {
    const auto seen =
        std::find_if(registries.begin(), registries.end(), [&](const auto& r) { return r.first == slot.registry; });
    if (seen != registries.end())
      seen->second.push_back("policies." + slot.key);
    else
      registries.push_back({slot.registry, {"policies." + slot.key}});
  }
  Json out = Json::array();
  for (const auto& [registry, keys] : registries) {
    if (!cl.values.count("json"))
      std::cout << fmt::format("{} (config: {})\n", registry->kind(), fmt::join(keys, ", "));
    for (Json entry : registry->describe()) {
      entry["config_keys"] = keys;
      if (cl.values.count("json")) {
        out.push_back(std::move(entry));
        continue;
      }
      std::cout << fmt::format("  {:<20} {}\n", entry["name"].get<std::string>(),
                               entry["description"].get<std::string>());
      for (const auto& p : entry["parameters"])
        std::cout << fmt::format("  {:>20} {} ({}, default {}): {}\n", "", p["name"].get<std::string>(),
                                 p["type"].get<std::string>(), p["default"].dump(),
                                 p["description"].get<std::string>());
    }
  }
  if (cl.values.count("json")) std::cout << out.dump(2) << "\n";
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  if (args.empty() || args[0] == "--help" || args[0] == "-h" || args[0] == "help") {
    std::cout << kTopHelp;
    return args.empty() ? kUsageError : 0;
  }
  if (args[0] == "--version") {
    std::cout << "slsim " << slsim_version() << "\n";
    return 0;
  }
  const std::string command = args[0];
  args.erase(args.begin());
  remove_temporaries_on_signals();
  try {
    if (command == "run") return run_command(args);
    if (command == "validate") return validate_command(args);
    if (command == "policies") return policies_command(args);
    if (command == "sweep") return sweep_command(args);
    if (command == "trace") return trace_command(args);
    if (command == "calibrate") return calibrate_command(args);
    if (command == "report") return report_command(args);
    std::cerr << "slsim: unknown command \"" << command
              << "\"; expected run, validate, sweep, trace, policies, calibrate or report (see slsim --help)\n";
    return kUsageError;
  } catch (const po::error& e) {
    std::cerr << "slsim " << command << ": " << e.what() << " (see slsim " << command << " --help)\n";
    return kUsageError;
  } catch (const InputError& e) {
    std::cerr << "slsim " << command << ": " << e.what() << "\n";
    return kUsageError;
  } catch (const std::exception& e) {
    std::cerr << "slsim " << command << ": error: " << e.what() << "\n";
    return 1;
  }
}
