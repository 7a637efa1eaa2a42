#pragma once
// Alibaba ServeGen per-client arrival statistics (arXiv 2505.09999): one headerless CSV per
// client with `window_start_s, rate_req_per_s, cv, Gamma|Weibull|(empty), param1, param2`, one
// row per 600 s window. Each window's arrivals are a renewal process of the named family with
// the window's rate and CV (param1/param2 are the fitted shape/scale, not used: see
// docs/decisions.md), restarted at each window start; a rate of 0 or no family means no
// arrivals. Clients are generated lazily and merged in time order; each client is one id for
// model assignment (its file name, e.g. chunk-12-trace).
//
// A client's request lengths come from `chunk-N-dataset.json` beside its trace when there is
// one: per dataset window (6 h in ServeGen's data), keyed by its start in seconds, each field is
// a Python dict literal mapping a value to its probability, e.g. "{45: 0.25, 46: 0.75}".
// Language and reasoning clients give input_tokens and output_tokens (reasoning tokens
// included; reason_ratio, their share, is checked but not drawn: see docs/decisions.md);
// multimodal clients give text_tokens and output_tokens, and per medium (image, audio, video) a
// count of items and the tokens of one item, which join the prompt. A request draws from the
// window containing its arrival; clients without a dataset draw from the source's lengths.

#include <cstdint>
#include <filesystem>
#include <queue>
#include <string>
#include <utility>
#include <vector>

#include "sim/core/random.h"
#include "sim/workload/generators.h"
#include "sim/workload/model_assigner.h"
#include "sim/workload/source.h"

namespace slsim {

struct ServeGenWindow {
  double start_s = 0;
  double end_s = 0;
  double rate_per_s = 0;
  double cv = 0;
  std::string family;  // Gamma, Weibull or empty
};

// One field of a dataset window: values (token counts, or a ratio) with their probabilities.
class ServeGenPmf {
 public:
  ServeGenPmf(std::vector<double> values, const std::vector<double>& probabilities)
      : values_(std::move(values)), sampler_(probabilities) {}
  double draw(RandomStream& random) const { return values_[sampler_.sample(random)]; }

 private:
  std::vector<double> values_;
  DiscreteSampler sampler_;
};

// Items of one medium (image, audio or video) attached to a multimodal prompt.
struct ServeGenMedium {
  ServeGenPmf items;            // how many a request attaches
  ServeGenPmf tokens_per_item;  // drawn once per item
};

// The lengths of the requests that arrive from `start_s` until the next dataset window.
struct ServeGenLengthWindow {
  double start_s = 0;
  ServeGenPmf input_tokens;  // the text prompt (multimodal: text_tokens)
  ServeGenPmf output_tokens;
  std::vector<ServeGenMedium> media;  // multimodal only

  // Prompt tokens (text plus every attached item's) and output tokens of one request.
  std::pair<int64_t, int64_t> draw(RandomStream& random) const;
};

struct ServeGenClient {
  std::string id;
  std::vector<ServeGenWindow> windows;
  // From the dataset file beside the trace: its windows with data, by start; empty: none.
  std::vector<ServeGenLengthWindow> lengths;
};

// One chunk-N-dataset.json; windows whose fields are empty ("{}") hold no data and are left
// out. Errors name the file, the window key, the field and what was expected.
std::vector<ServeGenLengthWindow> read_servegen_dataset(const std::filesystem::path& file);
// The dataset file beside a client's trace: chunk-N-trace.csv -> chunk-N-dataset.json.
std::filesystem::path servegen_dataset_path(const std::filesystem::path& trace_file);
// One client file, with its dataset when one lies beside it; errors name file, line and field.
ServeGenClient read_servegen_client(const std::filesystem::path& file);
// The client files of a folder (chunk-<n>-trace.csv in numeric order, other .csv names after
// them) or the one file `path` names.
std::vector<std::filesystem::path> servegen_client_files(const std::filesystem::path& path);
// A folder of chunk-*-trace.csv files (in numeric order) or one such file.
std::vector<ServeGenClient> read_servegen(const std::filesystem::path& path);
struct ServeGenDatasetCount {
  int64_t clients = 0;
  int64_t without_lengths = 0;  // no dataset file, or one without data
};
// Reads every client's dataset, so that a malformed one fails before a run starts, and counts
// the clients without lengths of their own.
ServeGenDatasetCount check_servegen_datasets(const std::filesystem::path& path);

class ServeGenSource final : public RequestSource {
 public:
  // Arrivals start at `begin_s` (earlier windows are skipped, not generated); rates are
  // multiplied by `rate_scale`. Each client draws from its own streams, `arrivals<suffix>/<id>`
  // and (with a dataset) `lengths<suffix>/<id>`; clients without a dataset share `lengths`.
  ServeGenSource(std::vector<ServeGenClient> clients, const ModelCatalogue& catalogue, ModelAssigner& assigner,
                 LengthSampler lengths, const RandomStreams& streams, const std::string& stream_suffix, double begin_s,
                 double rate_scale);
  std::optional<Request> next() override;

 private:
  struct Client {
    ServeGenClient data;
    ModelId model;
    RandomStream random;
    RandomStream length_random;  // drawn only with a dataset
    size_t window = 0;
    double clock_s = 0;
    std::optional<GapDistribution> gaps;  // the current window's
  };
  // Advances a client to its next arrival; false when it has none left.
  bool advance(Client& c) const;
  // Prompt and output tokens of the client's request arriving at `time_s`.
  std::pair<int64_t, int64_t> draw_lengths(Client& c, double time_s, ModelId model);

  std::vector<Client> clients_;
  IdVector<ModelId, int64_t> max_context_;
  LengthSampler lengths_;
  double rate_scale_;
  using Head = std::pair<double, size_t>;  // next arrival, client index
  std::priority_queue<Head, std::vector<Head>, std::greater<>> heads_;
};

}  // namespace slsim
