#include "sim/config/experiment_runner.h"

#include <memory>
#include <vector>

#include "sim/cluster/cluster.h"
#include "sim/control/control_plane.h"
#include "sim/core/random.h"
#include "sim/core/simulator.h"
#include "sim/loading/loader.h"
#include "sim/metrics/output_file.h"
#include "sim/metrics/recorder.h"
#include "sim/workload/azure_trace.h"
#include "sim/workload/poisson.h"

namespace slsim {
namespace fs = std::filesystem;

const char* slsim_version() { return SLSIM_VERSION; }

namespace {

// Gives every request of a source the same parallel samples and beam width.
class SamplingShape final : public RequestSource {
 public:
  SamplingShape(std::unique_ptr<RequestSource> source, int64_t samples, int64_t beam_width)
      : source_(std::move(source)), samples_(samples), beam_width_(beam_width) {}
  std::optional<Request> next() override {
    std::optional<Request> r = source_->next();
    if (r) {
      r->samples = samples_;
      r->beam_width = beam_width_;
    }
    return r;
  }

 private:
  std::unique_ptr<RequestSource> source_;
  int64_t samples_;
  int64_t beam_width_;
};

}  // namespace

Json run_experiment(const ResolvedExperiment& experiment, const fs::path& out_dir) {
  const ExperimentConfig& c = experiment.config;
  fs::create_directories(out_dir);
  const RandomStreams random(static_cast<uint64_t>(c.seed));

  std::vector<std::unique_ptr<RequestSource>> sources;
  for (size_t i = 0; i < c.workload.sources.size(); ++i) {
    const SourceConfig& s = c.workload.sources[i];
    const ModelId model = experiment.source_models[i];
    if (s.kind == "azure-llm-2023") {
      sources.push_back(std::make_unique<AzureTraceReader>(experiment.source_paths[i].string(), model));
    } else {
      const PoissonSpec spec{s.rate_per_s, s.requests, s.input_tokens, s.output_tokens};
      sources.push_back(std::make_unique<PoissonSource>(spec, model, random.stream("arrivals/" + std::to_string(i))));
    }
    if (s.samples > 1 || s.beam_width > 1)
      sources.back() = std::make_unique<SamplingShape>(std::move(sources.back()), s.samples, s.beam_width);
  }
  MergedSource source(std::move(sources));

  Simulator sim;
  Cluster cluster(experiment.server_groups, c.cluster.remote_storage_gbps);
  Loader loader(cluster, c.loader);

  PlacementPolicy::Context placement_context{cluster, loader, random.stream("placement")};
  KeepAlivePolicy::Context keepalive_context;
  Autoscaler::Context autoscale_context;
  Policies policies;
  policies.placement = placement_policies().make(c.policies.placement, placement_context);
  policies.keepalive = keepalive_policies().make(c.policies.keepalive, keepalive_context);
  policies.autoscaler = autoscale_policies().make(c.policies.autoscale, autoscale_context);

  std::vector<std::string> model_names;
  for (const auto& m : experiment.models) model_names.push_back(m.spec.name);
  std::vector<std::string> server_names;
  for (const Server& s : cluster.servers()) server_names.push_back(s.profile->name + "/" + std::to_string(s.id));

  std::unique_ptr<OutputFile> requests_csv;
  if (c.output.requests_csv) requests_csv = std::make_unique<OutputFile>(out_dir / "requests.csv");
  MetricsRecorder recorder(model_names, server_names, requests_csv.get());

  ControlPlane control(sim, cluster, loader, experiment.models, c.engine, std::move(policies), source, recorder);
  control.start();
  sim.run(c.duration_s ? Time::from_seconds(*c.duration_s) : Time::max());
  control.finish();

  Json summary;
  summary["slsim_version"] = slsim_version();
  summary["name"] = c.name;
  summary["seed"] = c.seed;
  summary["simulated_s"] = sim.now().seconds();
  summary["events"] = sim.events_handled();
  summary.update(recorder.summary(sim.now()));

  const Json config = experiment.to_json(out_dir);
  // Everything is complete before anything is renamed into place.
  OutputFile config_file(out_dir / "config.json");
  config_file.write(config.dump(2) + "\n");
  OutputFile summary_file(out_dir / "summary.json");
  summary_file.write(summary.dump(2) + "\n");
  if (requests_csv) requests_csv->commit();
  config_file.commit();
  summary_file.commit();
  return summary;
}

}  // namespace slsim
