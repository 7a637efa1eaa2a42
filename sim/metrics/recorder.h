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
#include "sim/engine/kv_offload.h"
#include "sim/metrics/output_file.h"
#include "sim/metrics/quantile_sketch.h"

namespace slsim {

// Service-level targets and billing, the `metrics` section of the config.
struct MetricsParams {
  double slo_ttft_s = 5;
  double slo_tpot_s = 0.1;
  std::string billing = "serverless";

  template <class V>
  void visit(V& v) {
    v.field("slo_ttft_s", slo_ttft_s, "a request meets its SLO with TTFT at most this, seconds", positive());
    v.field("slo_tpot_s", slo_tpot_s, "... and mean time per output token at most this, seconds", positive());
    v.choice("billing", billing,
             "what `cost.usd` charges: `serverless` (GPU-seconds held by instances) or `reserved` (every GPU of "
             "the cluster for the whole run)",
             {"serverless", "reserved"});
  }
};

struct ServerBilling {
  int64_t gpus = 0;
  double price_per_gpu_hour = 0;  // USD
};

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
  void on_migration(const MigrationRecord& m) override;
  void on_placement_estimate(ModelId, Time estimated, Time actual) override;

  // SLO targets, billing, and each server's GPUs and price (by server id); without this call
  // SLOs use the defaults, GPUs are free of charge and `gpu_seconds.free` is not counted.
  void configure(const MetricsParams& params, std::vector<ServerBilling> servers);
  // The KV offload tiers below the GPUs (KvTierParams::tiers()): `prefix_cache` counts hits in
  // each beside the GPU's. Without this call, the GPU's alone.
  void count_prefix_hits_in(std::vector<KvTier> offload_tiers) { offload_tiers_ = std::move(offload_tiers); }

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
    double gpu_seconds[4] = {0, 0, 0, 0};  // loading, idle, busy, migrating
    double usd = 0;
    int64_t within_slo = 0;
    std::map<std::string, int64_t> loads_by_tier;
    std::map<std::string, int64_t> cold_starts_by_tier;
    std::map<std::string, int64_t> rejections;
    Samples samples;
    EngineStats engine;  // summed over instances
  };
  struct OpenInterval {
    ModelId model;
    ServerId server;
    InstanceState state = InstanceState::released;
    int64_t gpus = 0;
    Time since;
  };
  void add_gpu_time(const OpenInterval& open, Time until);
  Json totals_json(const Totals& t, int64_t unfinished, double simulated_s) const;

  IdVector<ModelId, std::string> model_names_;
  IdVector<ServerId, std::string> server_names_;
  OutputFile* requests_csv_;
  IdVector<ModelId, Totals> per_model_;
  IdVector<InstanceId, OpenInterval> open_;
  std::string row_;
  MetricsParams params_;
  IdVector<ServerId, ServerBilling> servers_;
  int64_t cluster_gpus_ = 0;
  std::vector<KvTier> offload_tiers_;
  // GPUs held by no instance, integrated between instance transitions.
  int64_t gpus_held_ = 0;
  Time held_since_;
  double free_gpu_seconds_ = 0;
  // What the latency model estimated rather than measured, by model and GPU type.
  std::map<std::pair<ModelId, std::string>, std::vector<std::string>> latency_estimates_;
  std::map<std::string, int64_t> migrations_by_method_;
  QuantileSketch migration_s_, migration_pause_s_;
  int64_t migration_rounds_ = 0, migration_tokens_ = 0, migration_bytes_ = 0, migrated_requests_ = 0;
  // |actual − estimated| start, per placement with an estimate, and the signed sum for the bias.
  QuantileSketch estimate_abs_error_s_;
  double estimate_error_sum_s_ = 0;
};

}  // namespace slsim
