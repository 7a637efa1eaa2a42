#include "sim/config/experiment_runner.h"

#include <algorithm>
#include <cstdlib>
#include <fmt/format.h>
#include <memory>
#include <vector>

#include "sim/cluster/cluster.h"
#include "sim/config/version.h"
#include "sim/control/control_plane.h"
#include "sim/core/errors.h"
#include "sim/core/random.h"
#include "sim/core/simulator.h"
#include "sim/cluster/flow_network.h"
#include "sim/cluster/topology.h"
#include "sim/loading/loader.h"
#include "sim/policy/cache/cache_policies.h"
#include "sim/metrics/output_file.h"
#include "sim/metrics/recorder.h"
#include "sim/metrics/timeline.h"
#include "sim/metrics/timeseries.h"
#include "sim/workload/factory.h"

namespace slsim {
namespace fs = std::filesystem;
namespace {

// --check-invariants: after every event, the audits of every component that holds state.
class InvariantChecker final : public EventObserver {
 public:
  InvariantChecker(const Simulator& sim, const Cluster& cluster, const Loader& loader, const FlowNetwork& network,
                   const ControlPlane& control)
      : sim_(sim), cluster_(cluster), loader_(loader), network_(network), control_(control) {}

  void after_event(const Event& event) override {
    try {
      control_.audit();
      network_.audit();
      for (const Server& s : cluster_.servers())
        for (const TierCache* cache : {&loader_.dram(s.id), &loader_.ssd(s.id)})
          if (cache->used_bytes() > cache->capacity_bytes())
            throw std::logic_error(fmt::format("cache of server {} holds {} bytes over its {}", s.id,
                                               cache->used_bytes(), cache->capacity_bytes()));
    } catch (const std::logic_error& e) {
      throw InvariantViolation(fmt::format("invariant broken by event {} (t = {} ns, {}, kind {}, target {}): {}",
                                           sim_.events_handled(), event.time.ns(), sim_.handler_name(event.handler),
                                           event.kind, event.target, e.what()));
    }
  }

 private:
  const Simulator& sim_;
  const Cluster& cluster_;
  const Loader& loader_;
  const FlowNetwork& network_;
  const ControlPlane& control_;
};

}  // namespace

Json run_experiment(const ResolvedExperiment& experiment, const fs::path& out_dir, const fs::path& timeline) {
  const ExperimentConfig& c = experiment.config;
  fs::create_directories(out_dir);
  const RandomStreams random(static_cast<uint64_t>(c.seed));

  std::vector<std::unique_ptr<RequestSource>> sources;
  for (size_t i = 0; i < c.workload.sources.size(); ++i)
    sources.push_back(make_source(c.workload.sources[i], experiment.catalogue, random, i));
  MergedSource source(std::move(sources));

  Simulator sim;
  Cluster cluster(experiment.server_groups, c.cluster.remote_storage_gbytes_per_s);
  const Topology topology(cluster, c.cluster.topology);
  FlowNetwork network(sim, topology);
  EvictionPolicy::Context cache_context;
  const auto eviction = [&](const PolicyChoice& choice) {
    return [&cache_context, choice] { return cache_policies().make(choice, cache_context); };
  };
  Loader loader(sim, cluster, topology, network, c.loader, experiment.format, eviction(c.policies.dram_cache),
                eviction(c.policies.ssd_cache));

  PlacementPolicy::Context placement_context{cluster, loader, random.stream("placement")};
  KeepAlivePolicy::Context keepalive_context;
  Autoscaler::Context autoscale_context{static_cast<int64_t>(experiment.models.size())};
  PreloadPolicy::Context preload_context{cluster, loader, {}};
  for (const ServedModel& m : experiment.models) preload_context.checkpoint_bytes.push_back(m.spec.checkpoint_bytes());
  Policies policies;
  policies.placement = placement_policies().make(c.policies.placement, placement_context);
  policies.keepalive = keepalive_policies().make(c.policies.keepalive, keepalive_context);
  policies.autoscaler = autoscale_policies().make(c.policies.autoscale, autoscale_context);
  policies.preload = preload_policies().make(c.policies.preload, preload_context);
  RoutingPolicy::Context routing_context{random.stream("routing")};
  MigrationPolicy::Context migration_context;
  policies.routing = routing_policies().make(c.policies.routing, routing_context);
  policies.migration = migration_policies().make(c.policies.migration, migration_context);

  std::vector<std::string> model_names;
  for (const auto& m : experiment.models) model_names.push_back(m.spec.name);
  std::vector<std::string> server_names;
  for (const Server& s : cluster.servers()) server_names.push_back(s.profile->name + "/" + std::to_string(s.id));

  std::unique_ptr<OutputFile> requests_csv;
  if (c.output.requests_csv) requests_csv = std::make_unique<OutputFile>(out_dir / "requests.csv");
  MetricsRecorder recorder(model_names, server_names, requests_csv.get());
  std::vector<ServerBilling> billing;
  for (const Server& s : cluster.servers()) billing.push_back(ServerBilling{s.profile->gpus, s.gpu->price_per_hour});
  recorder.configure(c.metrics, std::move(billing));
  std::unique_ptr<OutputFile> timeline_file;
  std::unique_ptr<TimelineWriter> timeline_writer;
  std::vector<ServingObserver*> observers{&recorder};
  if (!timeline.empty()) {
    if (timeline.has_parent_path()) fs::create_directories(timeline.parent_path());
    timeline_file = std::make_unique<OutputFile>(timeline);
    timeline_writer =
        std::make_unique<TimelineWriter>(model_names, server_names, c.output.timeline_max_batches, *timeline_file);
    observers.push_back(timeline_writer.get());
  }
  ObserverFanOut observer(observers);

  ControlPlane control(sim, cluster, loader, experiment.models, c.engine, std::move(policies), source, observer);
  std::unique_ptr<OutputFile> timeseries_csv;
  std::unique_ptr<TimeseriesWriter> timeseries;
  if (c.output.timeseries_interval_s > 0) {
    timeseries_csv = std::make_unique<OutputFile>(out_dir / "timeseries.csv");
    std::vector<int64_t> gpus_per_instance;
    for (const ServedModel& m : experiment.models) gpus_per_instance.push_back(m.tensor_parallel);
    timeseries = std::make_unique<TimeseriesWriter>(sim, cluster, loader, control, model_names, gpus_per_instance,
                                                    Time::from_seconds(c.output.timeseries_interval_s), *timeseries_csv);
    timeseries->start();
  }
  InvariantChecker checker(sim, cluster, loader, network, control);
  // The test suite sets SLSIM_CHECK_INVARIANTS, so every run in it is checked.
  if (c.check_invariants || std::getenv("SLSIM_CHECK_INVARIANTS")) sim.set_observer(&checker);
  control.start();
  sim.run(c.duration_s ? Time::from_seconds(*c.duration_s) : Time::max());
  control.finish();
  if (timeseries) timeseries->finish();
  if (timeline_writer) timeline_writer->finish(sim.now());

  Json summary;
  summary["slsim_version"] = slsim_version();
  summary["name"] = c.name;
  summary["seed"] = c.seed;
  summary["simulated_s"] = sim.now().seconds();
  summary["events"] = sim.events_handled();
  summary.update(recorder.summary(sim.now()));
  Json caches = Json::object();
  for (const auto& [tier, pick] : {std::pair{"dram", &Loader::dram}, std::pair{"ssd", &Loader::ssd}}) {
    TierCacheStats total;
    for (const Server& s : cluster.servers()) {
      const TierCacheStats& st = (loader.*pick)(s.id).stats();
      total.hits += st.hits;
      total.misses += st.misses;
      total.evictions += st.evictions;
      total.insertions += st.insertions;
    }
    caches[tier] = {{"hits", total.hits}, {"misses", total.misses}, {"evictions", total.evictions},
                    {"insertions", total.insertions}};
  }
  summary["cache"] = caches;
  summary["preloads"] = loader.preloads_started();
  summary["bytes_by_link_class"] = network.bytes_by_link_class();
  const bool skipping = std::any_of(c.workload.sources.begin(), c.workload.sources.end(),
                                    [](const SourceSpec& s) { return s.skip_bad > 0; });
  if (skipping) summary["skipped_trace_lines"] = source.skipped_lines();

  const Json config = experiment.to_json(out_dir);
  // Everything is complete before anything is renamed into place.
  OutputFile config_file(out_dir / "config.json");
  config_file.write(config.dump(2) + "\n");
  OutputFile summary_file(out_dir / "summary.json");
  summary_file.write(summary.dump(2) + "\n");
  if (requests_csv) requests_csv->commit();
  if (timeseries_csv) timeseries_csv->commit();
  if (timeline_file) timeline_file->commit();
  config_file.commit();
  summary_file.commit();
  return summary;
}

}  // namespace slsim
