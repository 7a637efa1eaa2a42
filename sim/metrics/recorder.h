#pragma once
// Subscribes to the control plane and turns what happened into results: one row per finished
// request (streamed to requests.csv as it finishes), and per-model and overall aggregates for
// summary.json. GPU-seconds are integrated from instance state changes.

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "sim/control/observer.h"
#include "sim/core/fields.h"
#include "sim/metrics/output_file.h"
#include "sim/metrics/quantile_sketch.h"

namespace slsim {

class MetricsRecorder final : public ServingObserver {
 public:
  // `requests_csv` may be null: then no per-request rows are written.
  MetricsRecorder(std::vector<std::string> model_names, std::vector<std::string> server_names,
                  OutputFile* requests_csv);

  void on_arrival(const Request& r) override;
  void on_rejected(const Request& r, const char* reason) override;
  void on_finished(const RequestOutcome& o) override;
  void on_instance(const InstanceTransition& t) override;
  void on_load(InstanceId, ModelId, ServerId, Tier tier, Time duration) override;
  void on_instance_stats(const InstanceStats& s) override;

  // Closes open GPU-time intervals at `end` and returns the summary.
  Json summary(Time end);

 private:
  struct Samples {
    QuantileSketch ttft_s, tpot_s, e2e_s, cold_start_s, load_s;
  };
  struct Totals {
    int64_t requests = 0;
    int64_t completed = 0;
    int64_t rejected = 0;
    int64_t cold_starts = 0;
    int64_t preloaded = 0;
    double gpu_seconds[3] = {0, 0, 0};  // loading, idle, busy
    std::map<std::string, int64_t> loads_by_tier;
    std::map<std::string, int64_t> cold_starts_by_tier;
    std::map<std::string, int64_t> rejections;
    Samples samples;
    EngineStats engine;  // summed over instances
  };
  struct OpenInterval {
    ModelId model = 0;
    InstanceState state = InstanceState::released;
    int64_t gpus = 0;
    Time since;
  };
  void add_gpu_time(const OpenInterval& open, Time until);
  Json totals_json(const Totals& t, int64_t unfinished) const;

  std::vector<std::string> model_names_;
  std::vector<std::string> server_names_;
  OutputFile* requests_csv_;
  std::vector<Totals> per_model_;
  std::vector<OpenInterval> open_;  // by instance id
  std::string row_;
  // What the latency model estimated rather than measured, by model and GPU type.
  std::map<std::pair<ModelId, std::string>, std::vector<std::string>> latency_estimates_;
};

}  // namespace slsim
