#include "sim/cli/trace_command.h"

#include <fmt/format.h>

#include <boost/program_options.hpp>
#include <iostream>

#include "sim/config/experiment_config.h"
#include "sim/core/errors.h"
#include "sim/metrics/output_file.h"
#include "sim/workload/factory.h"
#include "sim/workload/trace_reader.h"
#include "sim/workload/trace_stats.h"

namespace po = boost::program_options;

namespace slsim {
namespace fs = std::filesystem;
namespace {

const char* kTraceHelp = R"(usage:
  slsim trace stats FILE [mapping options] [--prefix-block-tokens N] [--skip-bad N] [--json]
      requests, duration_s, mean_rate, interarrival_cv, peak_rate_1s, input/output tokens mean, p50, p99;
      with --prefix-field, the prefix blocks' reuse and the hit rate bound of an infinite prefix cache
  slsim trace convert FILE [mapping options] [--prefix-block-tokens N] [--skip-bad N] -o OUT.csv
      rewrite as the canonical CSV: arrival_s,model,input_tokens,output_tokens,samples,beam_width,prefix_blocks
      (and prefix_block_tokens, when the prefix ids have a declared size)
  slsim trace synth SPEC [--seed N] [--max-context N] -o OUT.csv
      write a synthetic trace; SPEC is a workload source (a JSON file, or inline JSON), e.g.
      '{"kind": "gamma", "models": ["a", "b"], "assign": "zipf", "rate_per_s": 5, "cv": 2, "requests": 1000}';
      with "sessions": {"turns": N, ...}, multi-turn sessions whose prompts carry prefix blocks;
      a ServeGen folder ('{"kind": "servegen", "path": "traces/servegen/reason/deepseek-r1"}') gives
      each client's requests the lengths of its chunk-N-dataset.json; `trace stats` then reads OUT.csv
)";

void add_mapping_options(po::options_description& options) {
  options.add_options()("file", po::value<std::string>()->required(), "trace file (CSV or JSONL)")(
      "preset", po::value<std::string>(), "known format: azure-llm-2023, vidur, splitwise")(
      "format", po::value<std::string>(), "csv or jsonl (default: from the extension)")(
      "no-header", "the CSV has no header; fields are column indices")("time-field", po::value<std::string>(),
                                                                       "arrival time field (default arrival_s)")(
      "time-unit", po::value<std::string>(), "s, ms, us or ns (default s)")(
      "time-format", po::value<std::string>(), "datetime format, e.g. '%Y-%m-%d %H:%M:%S.%f'")(
      "input-field", po::value<std::string>(), "prompt tokens field (default input_tokens)")(
      "output-field", po::value<std::string>(), "output tokens field (default output_tokens)")(
      "model-field", po::value<std::string>(), "model or function id field")("samples-field", po::value<std::string>(),
                                                                             "parallel samples (n) field")(
      "beam-field", po::value<std::string>(), "beam width field")("prefix-field", po::value<std::string>(),
                                                                  "prefix block ids field")(
      "prefix-block-tokens", po::value<int64_t>(),
      "prompt tokens per prefix block id (e.g. 512 for Mooncake's hash_ids; default: engine blocks of 16)")(
      "prefix-block-tokens-field", po::value<std::string>(),
      "field holding the prompt tokens per prefix block id (the canonical CSV's prefix_block_tokens)")(
      "absolute", "keep time values as they are (default: relative to the first request)")(
      "skip-bad", po::value<int64_t>()->default_value(0), "bad lines tolerated (skipped and counted)");
}

// The mapping options as the config's keys, read (and checked) like a config's source.
TraceMapping mapping_of(const po::variables_map& values) {
  Json spec = {{"kind", "trace"}, {"mapping", Json::object()}};
  if (values.count("preset")) spec["preset"] = values["preset"].as<std::string>();
  Json& m = spec["mapping"];
  const std::pair<const char*, const char*> keys[] = {{"format", "format"},
                                                      {"time-field", "time_field"},
                                                      {"time-unit", "time_unit"},
                                                      {"time-format", "time_format"},
                                                      {"input-field", "input_field"},
                                                      {"output-field", "output_field"},
                                                      {"model-field", "model_field"},
                                                      {"samples-field", "samples_field"},
                                                      {"beam-field", "beam_field"},
                                                      {"prefix-field", "prefix_field"},
                                                      {"prefix-block-tokens-field", "prefix_block_tokens_field"}};
  for (const auto& [option, key] : keys)
    if (values.count(option)) m[key] = values[option].as<std::string>();
  if (values.count("prefix-block-tokens")) m["prefix_block_tokens"] = values["prefix-block-tokens"].as<int64_t>();
  if (values.count("no-header")) m["header"] = false;
  if (values.count("absolute")) m["relative"] = false;
  SourceSpec source;
  try {
    JsonReader::read_struct(spec, "", source);
  } catch (const ConfigError& e) {
    throw InputError(std::string("mapping option ") + e.what());
  }
  if (source.preset == "servegen") throw InputError("servegen is not a per-request trace; use `slsim trace synth`");
  TraceMapping mapping = effective_mapping(source);
  if (mapping.declares_block_size() && mapping.prefix_field.empty())
    throw InputError("--prefix-block-tokens sizes the prefix blocks of --prefix-field, which is not given");
  return mapping;
}

po::variables_map parse_options(const std::vector<std::string>& args, po::options_description& options, bool& help) {
  options.add_options()("help,h", "describe this command");
  po::positional_options_description positional;
  positional.add("file", 1);
  po::variables_map values;
  po::store(po::command_line_parser(args).options(options).positional(positional).run(), values);
  help = values.count("help") != 0;
  if (!help) po::notify(values);
  return values;
}

void report_skipped(const TraceReader& reader) {
  if (reader.skipped() > 0)
    std::cerr << fmt::format("slsim trace: skipped {} bad lines of {}\n", reader.skipped(), reader.path());
}

int stats(const std::vector<std::string>& args) {
  po::options_description options("slsim trace stats options");
  add_mapping_options(options);
  options.add_options()("json", "print as JSON");
  bool help = false;
  const auto values = parse_options(args, options, help);
  if (help) {
    std::cout << kTraceHelp << "\n" << options << "\n";
    return 0;
  }
  const TraceMapping mapping = mapping_of(values);
  // Ids that are engine blocks name as many tokens as the engine's default block.
  const auto block_tokens_of = [](int64_t declared_tokens) {
    return declared_tokens > 0 ? declared_tokens : EngineParams{}.block_size;
  };
  int64_t block_tokens = block_tokens_of(mapping.prefix_block_tokens);
  TraceReader reader(values["file"].as<std::string>(), mapping, values["skip-bad"].as<int64_t>());
  TraceStats stats;
  while (const TraceRecord* r = reader.next()) {
    stats.add(r->time_ns, r->input_tokens, r->output_tokens);
    if (mapping.prefix_field.empty()) continue;
    block_tokens = block_tokens_of(r->prefix_block_tokens);
    stats.add_prefix(r->input_tokens, r->prefix_blocks, block_tokens);
  }
  report_skipped(reader);
  for (const std::string& warning : stats.unit_warnings())
    std::cerr << "slsim trace stats: warning: " << reader.path() << ": " << warning << "\n";
  Json out = stats.to_json();
  if (out.contains("prefix")) out["prefix"]["block_tokens"] = block_tokens;
  if (values["skip-bad"].as<int64_t>() > 0) out["skipped_lines"] = reader.skipped();
  if (values.count("json")) {
    std::cout << out.dump(2) << "\n";
    return 0;
  }
  // Every digit a double needs to read back the same (fmt's shortest round trip), as in --json.
  const auto number = [](const Json& v) {
    return v.is_null() ? std::string("-") : v.is_number_integer() ? v.dump() : fmt::format("{}", v.get<double>());
  };
  std::cout << fmt::format("{:<16} {}\n", "requests", out["requests"].dump());
  std::cout << fmt::format("{:<16} {}\n", "duration_s", number(out["duration_s"]));
  std::cout << fmt::format("{:<16} {}\n", "mean_rate", number(out["mean_rate"]));
  std::cout << fmt::format("{:<16} {}\n", "interarrival_cv", number(out["interarrival_cv"]));
  std::cout << fmt::format("{:<16} {}\n", "peak_rate_1s", out["peak_rate_1s"].dump());
  for (const char* key : {"input_tokens", "output_tokens"}) {
    const Json& t = out[key];
    std::cout << fmt::format("{:<16} mean {}  p50 {}  p99 {}\n", key, number(t["mean"]), number(t["p50"]),
                             number(t["p99"]));
  }
  if (out.contains("prefix")) {
    const Json& p = out["prefix"];
    std::cout << fmt::format("{:<16} {} references of {} tokens, {} distinct; reuse {}\n", "prefix_blocks",
                             p["block_references"].dump(), p["block_tokens"].dump(), p["distinct_blocks"].dump(),
                             number(p["block_reuse"]));
    std::cout << fmt::format("{:<16} {} ({} of {} prompt tokens under a block seen before)\n", "prefix_hit_bound",
                             number(p["hit_bound"]), p["reused_tokens"].dump(), p["prompt_tokens"].dump());
  }
  if (out.contains("skipped_lines"))
    std::cout << fmt::format("{:<16} {}\n", "skipped_lines", out["skipped_lines"].dump());
  return 0;
}

int convert(const std::vector<std::string>& args) {
  po::options_description options("slsim trace convert options");
  add_mapping_options(options);
  options.add_options()("output,o", po::value<std::string>()->required(), "canonical CSV to write");
  bool help = false;
  const auto values = parse_options(args, options, help);
  if (help) {
    std::cout << kTraceHelp << "\n" << options << "\n";
    return 0;
  }
  const TraceMapping mapping = mapping_of(values);
  const bool sized_blocks = mapping.declares_block_size();
  TraceReader reader(values["file"].as<std::string>(), mapping, values["skip-bad"].as<int64_t>());
  OutputFile out(values["output"].as<std::string>());
  out.write(canonical_trace_header(sized_blocks));
  int64_t rows = 0;
  while (const TraceRecord* r = reader.next()) {
    out.write(canonical_trace_row(*r, sized_blocks));
    ++rows;
  }
  out.commit();
  report_skipped(reader);
  std::cout << fmt::format("{} requests -> {}\n", rows, values["output"].as<std::string>());
  return 0;
}

int synth(const std::vector<std::string>& args) {
  po::options_description options("slsim trace synth options");
  options.add_options()("file", po::value<std::string>()->required(), "source description: a JSON file or inline JSON")(
      "seed", po::value<int64_t>()->default_value(1), "seed of the random streams")(
      "max-context", po::value<int64_t>()->default_value(0), "cap lengths to this context window (0: no cap)")(
      "output,o", po::value<std::string>()->required(), "canonical CSV to write");
  bool help = false;
  const auto values = parse_options(args, options, help);
  if (help) {
    std::cout << kTraceHelp << "\n" << options << "\n";
    return 0;
  }
  const std::string text = values["file"].as<std::string>();
  const bool inline_json = !text.empty() && text.front() == '{';
  Json document;
  if (inline_json) {
    document = parse_json(text, "the source description");
  } else {
    document = load_json_file(text);
  }
  const fs::path base_dir = inline_json ? fs::current_path() : fs::absolute(text).parent_path();
  SourceSpec spec;
  JsonReader::read_struct(document, "", spec);
  if (spec.kind == "trace" || spec.kind == "azure-llm-2023")
    throw InputError("kind " + spec.kind +
                     " reads a trace; synth needs a generator (poisson, gamma, weibull, servegen)");
  // The models are labels here; every name the description uses is one. Prefix ids are written as
  // the source names them (engine_block_tokens 0), with their size.
  ModelCatalogue catalogue;
  catalogue.engine_block_tokens = 0;
  const int64_t max_context =
      values["max-context"].as<int64_t>() > 0 ? values["max-context"].as<int64_t>() : INT64_MAX / 4;
  const auto add = [&](const std::string& name) {
    if (!name.empty() && std::find(catalogue.names.begin(), catalogue.names.end(), name) == catalogue.names.end()) {
      catalogue.names.push_back(name);
      catalogue.max_context.push_back(max_context);
    }
  };
  add(spec.model);
  for (const auto& m : spec.models) add(m);
  if (spec.model_map.is_object())
    for (const auto& [id, name] : spec.model_map.items())
      if (name.is_string()) add(name.get<std::string>());
  if (catalogue.names.empty()) add("model");
  if (spec.model.empty() && spec.models.empty() && spec.assign.empty()) spec.model = catalogue.names[ModelId(0)];
  for (const std::string& warning : validate_source(spec, catalogue, base_dir, ""))
    std::cerr << "slsim trace synth: warning: " << warning << "\n";
  if (values["seed"].as<int64_t>() < 0) throw InputError("--seed: expected an integer >= 0");
  const auto source =
      make_source(spec, catalogue, RandomStreams(static_cast<uint64_t>(values["seed"].as<int64_t>())), 0);
  const bool sessions = spec.sessions.turns > 0;
  OutputFile out(values["output"].as<std::string>());
  out.write(canonical_trace_header(sessions));
  int64_t rows = 0;
  TraceRecord record;
  while (auto r = source->next()) {
    record.time_ns = r->arrival.ns();
    record.model_id = catalogue.names[r->model];
    record.input_tokens = r->input_tokens;
    record.output_tokens = r->output_tokens;
    record.samples = r->samples;
    record.beam_width = r->beam_width;
    record.prefix_blocks = std::move(r->prefix_blocks);
    record.prefix_block_tokens = sessions ? spec.sessions.block_tokens : 0;
    out.write(canonical_trace_row(record, sessions));
    ++rows;
  }
  out.commit();
  std::cout << fmt::format("{} requests -> {}\n", rows, values["output"].as<std::string>());
  return 0;
}

}  // namespace

int trace_command(const std::vector<std::string>& args) {
  if (args.empty() || args[0] == "--help" || args[0] == "-h") {
    std::cout << kTraceHelp;
    return args.empty() ? 2 : 0;
  }
  const std::vector<std::string> rest(args.begin() + 1, args.end());
  if (args[0] == "stats") return stats(rest);
  if (args[0] == "convert") return convert(rest);
  if (args[0] == "synth") return synth(rest);
  throw InputError("unknown trace command \"" + args[0] + "\"; expected stats, convert or synth");
}

}  // namespace slsim
