#pragma once
// What one request source is: a trace file read through a mapping (or a preset mapping), the
// ServeGen per-client statistics, or a synthetic generator; which models its requests go to;
// how their lengths are drawn (generators); and the transformations applied to its arrivals.
// Everything is a typed field with a unit, a default and a description (docs/config.md).

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "sim/core/fields.h"
#include "sim/core/ids.h"

namespace slsim {

// How the fields of a CSV or JSONL trace map onto a request. CSV fields are named by their
// header or, without a header, by their 0-based column index ("0", "1", ...).
struct TraceMapping {
  std::string format;  // csv | jsonl; empty: from the file's extension
  bool header = true;
  std::string time_field = "arrival_s";
  std::string time_unit = "s";
  std::string time_format;  // e.g. %Y-%m-%d %H:%M:%S.%f; empty: the field is a number in time_unit
  std::string input_field = "input_tokens";
  std::string output_field = "output_tokens";
  std::string model_field;
  std::string samples_field;
  std::string beam_field;
  std::string prefix_field;
  int64_t prefix_block_tokens = 0;  // 0: the prefix ids are engine blocks
  std::string prefix_block_tokens_field;

  // Whether the prefix ids have a declared size (a fixed one or a field holding it).
  bool declares_block_size() const { return prefix_block_tokens > 0 || !prefix_block_tokens_field.empty(); }
  bool relative = true;

  template <class V>
  void visit(V& v) {
    v.choice("format", format, "trace format; empty: from the extension (.csv, .jsonl/.json)", {"", "csv", "jsonl"});
    v.field("header", header, "the CSV's first line names its columns (false: fields are column indices)");
    v.field("time_field", time_field, "arrival time field");
    v.choice("time_unit", time_unit, "unit of a numeric arrival time", {"s", "ms", "us", "ns"});
    v.field("time_format", time_format,
            "datetime format of the arrival time (%Y %m %d %H %M %S, %f = fraction of a second, %% = %); "
            "empty: a number in time_unit");
    v.field("input_field", input_field, "prompt tokens field");
    v.field("output_field", output_field, "output tokens field");
    v.field("model_field", model_field, "model or function id field; empty: all requests go to `model`");
    v.field("samples_field", samples_field, "parallel samples (n) field; empty: 1");
    v.field("beam_field", beam_field, "beam width field; empty: 1");
    v.field("prefix_field", prefix_field,
            "prefix block ids field: a JSON array of integers, or integers separated by spaces or ';' in CSV");
    v.field("prefix_block_tokens", prefix_block_tokens,
            "prompt tokens per prefix block id (e.g. 512 for Mooncake's hash_ids), mapped onto the engine's blocks "
            "of engine.block_size tokens; 0: each id is one engine block",
            at_least(0));
    v.field("prefix_block_tokens_field", prefix_block_tokens_field,
            "field holding the prompt tokens per prefix id (the canonical CSV's prefix_block_tokens column, which "
            "`slsim trace convert` and `synth` write); a row's value overrides prefix_block_tokens, an empty cell "
            "keeps it; every row's value must be the same");
    v.field("relative", relative, "arrivals relative to the first request (false: the time values as they are)");
  }
};

// Request lengths of generated arrivals, capped by the model's context length.
struct LengthSpec {
  std::string kind = "fixed";
  double input_sigma = 1;
  double output_sigma = 1;
  std::string table;

  template <class V>
  void visit(V& v) {
    v.choice("kind", kind,
             "fixed: the source's input_tokens/output_tokens; lognormal: those as medians, with "
             "the sigmas below; table: rows drawn uniformly from a length table",
             {"fixed", "lognormal", "table"});
    v.field("input_sigma", input_sigma, "σ of log(prompt tokens) (lognormal)", at_least(0));
    v.field("output_sigma", output_sigma, "σ of log(output tokens) (lognormal)", at_least(0));
    v.field("table", table,
            "CSV with num_prefill_tokens,num_decode_tokens columns (traces/lengths/), relative to the config file");
  }
};

// Multi-turn conversations (generators): each arrival of the process starts a session whose
// turns follow at a fixed think time; a turn's prompt is the model's shared system prompt, the
// whole conversation so far (earlier prompts' new tokens and outputs) and its own new user tokens.
struct SessionSpec {
  int64_t turns = 0;
  double think_time_s = 30;
  int64_t system_prompt_tokens = 0;
  int64_t block_tokens = 16;

  template <class V>
  void visit(V& v) {
    v.field("turns", turns,
            "turns per session; 0: no sessions, each arrival is one independent request without prefix blocks",
            at_least(0));
    v.field("think_time_s", think_time_s, "seconds from one turn's arrival to the next's", at_least(0));
    v.field("system_prompt_tokens", system_prompt_tokens,
            "tokens of a system prompt that starts every prompt to the same model (shared between sessions)",
            at_least(0));
    v.field("block_tokens", block_tokens,
            "prompt tokens per prefix block id the session names (one id per block, the same id for the same "
            "content; a prompt's last, partial block gets an id of its own)",
            at_least(1));
  }
};

struct SourceSpec {
  std::string kind = "trace";
  std::string model;
  std::vector<std::string> models;
  std::string assign;
  double zipf_exponent = 1;
  Json model_map = Json::object();
  std::string path;
  std::string preset;
  TraceMapping mapping;
  // Generators.
  double rate_per_s = 1;
  int64_t requests = 0;
  double cv = 1;
  std::optional<double> weibull_shape;
  double on_s = 0;
  double off_s = 0;
  double diurnal_amplitude = 0;
  double diurnal_period_s = 86400;
  // Lengths of generated requests (fixed values, or lognormal medians).
  int64_t input_tokens = 512;
  int64_t output_tokens = 128;
  LengthSpec lengths;
  SessionSpec sessions;
  // Transformations.
  double start_s = 0;
  std::optional<double> duration_s;
  double rate_scale = 1;
  double time_scale = 1;
  int64_t skip_bad = 0;
  // Sequences per request, for sources whose records do not say.
  int64_t samples = 1;
  int64_t beam_width = 1;

  template <class V>
  void visit(V& v) {
    v.choice("kind", kind,
             "trace: a CSV/JSONL file through `mapping` or `preset`; azure-llm-2023: the Azure trace preset; servegen: "
             "ServeGen per-client windows; poisson, gamma, weibull: generated arrivals",
             {"trace", "azure-llm-2023", "servegen", "poisson", "gamma", "weibull"});
    v.field("model", model, "the model every request goes to (when `models` is empty)");
    v.field("models", models, "models that ids (model_field, ServeGen clients) or generated requests are spread over");
    v.choice("assign", assign,
             "how ids map to `models`: round-robin (by first appearance), zipf (popularity by rank), map "
             "(`model_map`), name (the id is a model name); empty: round-robin with `models`, else name",
             {"", "round-robin", "zipf", "map", "name"});
    v.field("zipf_exponent", zipf_exponent, "exponent s of the Zipf popularity (P(rank i) ∝ i^-s)", at_least(0));
    v.raw("model_map", model_map, "object from id to model name (assign = map)");
    v.field("path", path, "trace file, or ServeGen folder or file, relative to the config file");
    v.choice("preset", preset, "a known trace format (sets `mapping`)",
             {"", "azure-llm-2023", "vidur", "splitwise", "servegen"});
    v.object("mapping", mapping, "how trace fields map onto requests");
    v.field("rate_per_s", rate_per_s, "mean arrival rate (generators), requests/s", positive());
    v.field("requests", requests, "requests to generate (generators; 0: until duration_s)", at_least(0));
    v.field("cv", cv, "coefficient of variation of inter-arrival gaps (gamma, weibull)", positive());
    v.field("weibull_shape", weibull_shape, "Weibull shape k; null: derived from cv", positive());
    v.field("on_s", on_s, "bursts: seconds with arrivals per cycle (0: always on)", at_least(0));
    v.field("off_s", off_s, "bursts: seconds without arrivals per cycle", at_least(0));
    v.field("diurnal_amplitude", diurnal_amplitude, "rate × (1 + a·sin(2πt/period)); 0: constant", between(0, 1));
    v.field("diurnal_period_s", diurnal_period_s, "period of the diurnal modulation, s", positive());
    v.field("input_tokens", input_tokens,
            "prompt tokens per generated request (lengths.kind fixed), or their median (lognormal)", at_least(1));
    v.field("output_tokens", output_tokens,
            "output tokens per generated request (lengths.kind fixed), or their median (lognormal)", at_least(1));
    v.object("lengths", lengths, "how generated request lengths are drawn");
    v.object("sessions", sessions,
             "multi-turn sessions (generators): each arrival starts a session (rate_per_s and requests count "
             "sessions), input_tokens / lengths give each turn's new user tokens");
    v.field("start_s", start_s, "drop arrivals before this time (relative), then start the clock there, s",
            at_least(0));
    v.field("duration_s", duration_s, "keep arrivals within this many seconds after start_s; null: all", positive());
    v.field("rate_scale", rate_scale,
            "multiply the rate: each arrival is kept k times (integer part) plus once more with the fractional "
            "part's probability; the time pattern is unchanged",
            positive());
    v.field("time_scale", time_scale, "compress time: arrival times divided by this factor", positive());
    v.field("skip_bad", skip_bad, "bad trace lines tolerated (skipped and counted) before the run fails", at_least(0));
    v.field("samples", samples, "parallel samples (n) of every request (unless mapping.samples_field gives them)",
            at_least(1));
    v.field("beam_width", beam_width, "beam width of every request (unless mapping.beam_field gives it); 1: none",
            at_least(1));
  }
};

// The models a source may send requests to: names in config order and their context lengths,
// and the tokens per KV block of their engines (what a trace's prefix blocks are mapped onto; 0:
// sources keep their own prefix ids, as `slsim trace synth` writes them).
struct ModelCatalogue {
  IdVector<ModelId, std::string> names;
  IdVector<ModelId, int64_t> max_context;
  int64_t engine_block_tokens = 16;
};

}  // namespace slsim
