#pragma once
// Alibaba ServeGen per-client arrival statistics (arXiv 2505.09999): one headerless CSV per
// client with `window_start_s, rate_req_per_s, cv, Gamma|Weibull|(empty), param1, param2`, one
// row per 600 s window. Each window's arrivals are a renewal process of the named family with
// the window's rate and CV (param1/param2 are the fitted shape/scale, not used: see
// docs/decisions.md), restarted at each window start; a rate of 0 or no family means no
// arrivals. Clients are generated lazily and merged in time order; each client is one id for
// model assignment (its file name, e.g. chunk-12-trace).

#include <filesystem>
#include <queue>
#include <string>
#include <vector>

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

struct ServeGenClient {
  std::string id;
  std::vector<ServeGenWindow> windows;
};

// One client file; errors name file, line and field.
ServeGenClient read_servegen_client(const std::filesystem::path& file);
// A folder of chunk-*-trace.csv files (in numeric order) or one such file.
std::vector<ServeGenClient> read_servegen(const std::filesystem::path& path);

class ServeGenSource final : public RequestSource {
 public:
  // Arrivals start at `begin_s` (earlier windows are skipped, not generated); rates are
  // multiplied by `rate_scale`. Each client draws from its own stream, `arrivals/<id>` under `streams`.
  ServeGenSource(std::vector<ServeGenClient> clients, const ModelCatalogue& catalogue, ModelAssigner& assigner,
                 LengthSampler lengths, const RandomStreams& streams, const std::string& stream_prefix, double begin_s,
                 double rate_scale);
  std::optional<Request> next() override;

 private:
  struct Client {
    ServeGenClient data;
    ModelId model;
    RandomStream random;
    size_t window = 0;
    double clock_s = 0;
    std::optional<GapDistribution> gaps;  // the current window's
  };
  // Advances a client to its next arrival; false when it has none left.
  bool advance(Client& c) const;

  std::vector<Client> clients_;
  IdVector<ModelId, int64_t> max_context_;
  LengthSampler lengths_;
  double rate_scale_;
  using Head = std::pair<double, size_t>;  // next arrival, client index
  std::priority_queue<Head, std::vector<Head>, std::greater<>> heads_;
};

}  // namespace slsim
