#include "sim/config/experiment_runner.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstdlib>
#include <memory>
#include <stdexcept>
#include <vector>

#include "sim/cluster/cluster.h"
#include "sim/cluster/flow_network.h"
#include "sim/cluster/topology.h"
#include "sim/config/memory_estimate.h"
#include "sim/config/version.h"
#include "sim/control/control_plane.h"
#include "sim/core/errors.h"
#include "sim/core/random.h"
#include "sim/core/simulator.h"
#include "sim/loading/loader.h"
#include "sim/metrics/output_file.h"
#include "sim/metrics/recorder.h"
#include "sim/metrics/timeline.h"
#include "sim/metrics/timeseries.h"
#include "sim/policy/cache/cache_policies.h"
#include "sim/policy/load_source/load_source.h"
#include "sim/policy/rebalance/rebalance.h"
#include "sim/policy/startup/startup.h"
#include "sim/policy/switching/switching.h"
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

// Model m's checkpoint goes to servers m, m + 1, ... (mod the server count), `copies` of them.
void stage_on_ssds(Loader& loader, const std::vector<ServedModel>& models, size_t servers, int64_t copies) {
  const size_t per_model = std::min(static_cast<size_t>(copies), servers);
  for (size_t m = 0; m < models.size(); ++m)
    for (size_t k = 0; k < per_model; ++k)
      for (const CheckpointPart& part : models[m].checkpoint)
        loader.stage(static_cast<ServerId>((m + k) % servers), part, Tier::ssd);
}

// Counts arrivals and finished requests for a progress callback and hands it a snapshot.
class ProgressReporter final : public ServingObserver, public ProgressObserver {
 public:
  ProgressReporter(const RunProgressCallback& callback, std::optional<Time> horizon, const Simulator& sim)
      : callback_(callback), sim_(sim) {
    snapshot_.horizon = horizon;
  }
  void on_arrival(const Request&) override { ++snapshot_.arrived; }
  void on_rejected(const Request&, const char*) override { ++snapshot_.finished; }
  void on_finished(const RequestOutcome&) override { ++snapshot_.finished; }
  void on_progress(Time now) override {
    snapshot_.simulated = now;
    snapshot_.events_handled = sim_.events_handled();
    callback_(snapshot_);
  }
  void finish(Time now) {
    snapshot_.done = true;
    on_progress(now);
  }

 private:
  const RunProgressCallback& callback_;
  const Simulator& sim_;
  RunProgress snapshot_;
};

// Stops a run whose requests in flight (a backlog the cluster does not keep up with) would
// outgrow the memory left beside the run's structure: the pre-run estimate counts only full
// batches, since whether a backlog forms is what the run finds out.
class MemoryGuard final : public ServingObserver {
 public:
  MemoryGuard(const Simulator& sim, const MemoryEstimate& estimate, int64_t available_bytes)
      : sim_(sim),
        estimate_(estimate),
        available_bytes_(available_bytes),
        limit_(max_requests_in_flight(estimate, available_bytes)) {}
  void on_arrival(const Request&) override {
    if (++in_flight_ <= limit_) return;
    throw InputError(fmt::format(
        "at {:.3f} simulated s, {} requests are in flight (the cluster does not keep up with the arrivals), "
        "{} each beside the run's {}: more than the {} of memory available; give the cluster more servers "
        "or instances, lower the rate or router.max_queued_per_model, shorten duration_s, or pass "
        "--no-memory-check (--set check_memory=false) to run it anyway",
        sim_.now().seconds(), in_flight_, format_bytes(static_cast<double>(estimate_.bytes_per_request)),
        format_bytes(static_cast<double>(estimate_.structure_bytes)),
        format_bytes(static_cast<double>(available_bytes_))));
  }
  void on_rejected(const Request&, const char*) override { --in_flight_; }
  void on_finished(const RequestOutcome&) override { --in_flight_; }

 private:
  const Simulator& sim_;
  const MemoryEstimate& estimate_;
  int64_t available_bytes_;
  int64_t limit_;
  int64_t in_flight_ = 0;
};

}  // namespace

Json run_experiment(const ResolvedExperiment& experiment, const fs::path& out_dir, const fs::path& timeline,
                    const RunProgressCallback& progress) {
  const ExperimentConfig& c = experiment.config;
  const std::vector<std::string> result_names{"config.json", "summary.json", "requests.csv", "timeseries.csv"};
  // A timeline directly in the output folder is one more file of the set; one inside a result
  // file's path, or in a subfolder that the swap would drop, is refused before the run.
  const fs::path folder = checked_result_folder(out_dir, result_names);
  fs::path timeline_path = timeline.empty() ? fs::path() : fs::absolute(timeline).lexically_normal();
  const bool timeline_in_set = !timeline.empty() && timeline_path.parent_path() == folder;
  if (!timeline.empty()) {
    if (!timeline_path.has_filename())
      throw InputError("--timeline " + timeline.string() + ": expected a file name, got a folder");
    const auto [end, rest] = std::mismatch(folder.begin(), folder.end(), timeline_path.begin(), timeline_path.end());
    const bool under_folder = end == folder.end();
    const std::string first = under_folder && rest != timeline_path.end() ? rest->string() : "";
    if (timeline_path == folder ||
        (under_folder && std::find(result_names.begin(), result_names.end(), first) != result_names.end()))
      throw InputError("--timeline " + timeline.string() + ": is the output folder or one of its result files (" +
                       fmt::format("{}", fmt::join(result_names, ", ")) + ")");
    if (under_folder && !timeline_in_set)
      throw InputError("--timeline " + timeline.string() + ": is in a subfolder of the output folder " +
                       folder.string() + ", which a run replaces as a whole");
  }
  // Before anything is written: a run that cannot fit is refused, not started.
  const std::optional<int64_t> available = c.check_memory ? available_memory_bytes() : std::nullopt;
  const bool memory_checked = available.has_value();
  const int64_t available_bytes = available.value_or(0);
  MemoryEstimate memory;
  if (memory_checked) {
    memory = estimate_run_memory_bytes(experiment);
    check_run_memory(memory, available_bytes);
  }
  ResultSet results(folder, result_names);
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
  StartupPolicy::Context startup_context;
  LoadSourcePolicy::Context load_source_context;
  Loader loader(sim, cluster, topology, network, c.loader, experiment.format, eviction(c.policies.dram_cache),
                eviction(c.policies.ssd_cache), experiment.measured_startup,
                startup_policies().make(c.policies.startup, startup_context),
                load_source_policies().make(c.policies.load_source, load_source_context));
  // The listed contents first, so that ssd_copies_at_start fills only the room they leave.
  for (const CheckpointAtStart& staged : experiment.checkpoints_at_start)
    if (!loader.stage(staged.server, staged.part, staged.tier))
      throw std::logic_error("a checkpoint at start that resolution found room for was not kept");
  stage_on_ssds(loader, experiment.models, cluster.servers().size(), c.cluster.ssd_copies_at_start);

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
  RebalancePolicy::Context rebalance_context;
  policies.rebalance = rebalance_policies().make(c.policies.rebalance, rebalance_context);
  SwitchPolicy::Context switching_context;
  policies.switching = switching_policies().make(c.policies.switching, switching_context);

  std::vector<std::string> model_names;
  for (const auto& m : experiment.models) model_names.push_back(m.spec.name);
  std::vector<std::string> server_names;
  for (const Server& s : cluster.servers())
    server_names.push_back(s.profile->name + "/" + std::to_string(s.id.value()));

  OutputFile* requests_csv = nullptr;
  if (c.output.requests_csv) requests_csv = &results.add("requests.csv");
  MetricsRecorder recorder(model_names, server_names, requests_csv);
  std::vector<ServerBilling> billing;
  for (const Server& s : cluster.servers()) billing.push_back(ServerBilling{s.profile->gpus, s.gpu->price_per_hour});
  recorder.configure(c.metrics, std::move(billing));
  const KvTierParams kv_tiers = c.cluster.kv_tiers.value_or(KvTierParams{});
  recorder.count_prefix_hits_in(kv_tiers.tiers());
  std::unique_ptr<OutputFile> timeline_file;
  std::unique_ptr<TimelineWriter> timeline_writer;
  std::vector<ServingObserver*> observers{&recorder};
  if (!timeline.empty()) {
    OutputFile* file = nullptr;
    if (timeline_in_set) {
      file = &results.add(timeline_path.filename().string());
    } else {
      fs::create_directories(timeline_path.parent_path());
      timeline_file = std::make_unique<OutputFile>(timeline_path);
      file = timeline_file.get();
    }
    timeline_writer = std::make_unique<TimelineWriter>(model_names, server_names, c.output.timeline_max_batches, *file);
    observers.push_back(timeline_writer.get());
  }
  std::optional<Time> horizon;
  if (c.duration_s) horizon = Time::from_seconds(*c.duration_s);
  ProgressReporter reporter(progress, horizon, sim);
  if (progress) observers.push_back(&reporter);
  std::unique_ptr<MemoryGuard> memory_guard;
  if (memory_checked) {
    memory_guard = std::make_unique<MemoryGuard>(sim, memory, available_bytes);
    observers.push_back(memory_guard.get());
  }
  ObserverFanOut observer(observers);

  ControlPlane control(sim, cluster, loader, experiment.models, c.engine, kv_tiers, c.router, std::move(policies),
                       source, observer);
  control.place_at_start(experiment.instances_at_start);
  std::unique_ptr<TimeseriesWriter> timeseries;
  if (c.output.timeseries_interval_s > 0) {
    OutputFile& timeseries_csv = results.add("timeseries.csv");
    std::vector<int64_t> gpus_per_instance;
    for (const ServedModel& m : experiment.models) gpus_per_instance.push_back(m.tensor_parallel);
    timeseries = std::make_unique<TimeseriesWriter>(sim, cluster, loader, control, model_names, gpus_per_instance,
                                                    Time::from_seconds(c.output.timeseries_interval_s), timeseries_csv,
                                                    kv_tiers.tiers());
    timeseries->start();
  }
  InvariantChecker checker(sim, cluster, loader, network, control);
  // The test suite sets SLSIM_CHECK_INVARIANTS, so every run in it is checked.
  if (c.check_invariants || std::getenv("SLSIM_CHECK_INVARIANTS")) sim.set_observer(&checker);
  if (progress) sim.set_progress(&reporter, kProgressEveryEvents);
  control.start();
  sim.run(horizon.value_or(Time::max()));
  control.finish();
  if (progress) reporter.finish(sim.now());
  if (timeseries) timeseries->finish();
  if (timeline_writer) timeline_writer->finish(sim.now());

  Json summary;
  summary["slsim_version"] = slsim_version();
  summary["name"] = c.name;
  summary["seed"] = c.seed;
  summary["simulated_s"] = sim.now().seconds();
  // Skipped ticks count as the events they stand for, so the figure does not depend on skipping.
  summary["events"] = sim.events_handled() + static_cast<uint64_t>(control.elided_ticks());
  summary.update(recorder.summary(sim.now()));
  // Only where a card switches between models, so that other runs' summaries stay as they were.
  if (control.model_switching())
    summary["model_switching"] = {{"switches", control.model_switches()},
                                  {"switched_bytes", control.model_switched_bytes()}};
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
    caches[tier] = {{"hits", total.hits},
                    {"misses", total.misses},
                    {"evictions", total.evictions},
                    {"insertions", total.insertions}};
  }
  summary["cache"] = caches;
  summary["preloads"] = loader.preloads_started();
  // Only where cold starts may be parallel, so that other runs' summaries keep their keys.
  if (loader.parallel_servers() > 1)
    summary["parallel_loads"] = {{"started", loader.parallel_loads()}, {"fallbacks", loader.parallel_fallbacks()}};
  // Only once a group has served, so that a run where none formed reads as blitzscale's.
  if (loader.groups_served() > 0)
    summary["group_loads"] = {{"groups", loader.groups_served()}, {"members", loader.group_members_served()}};
  // Only where loads may fork, so that other runs' summaries keep their keys.
  if (loader.forks()) summary["forks"] = {{"forked", loader.forked_loads()}, {"fallbacks", loader.fork_fallbacks()}};
  summary["bytes_by_link_class"] = network.bytes_by_link_class();
  const bool skipping = std::any_of(c.workload.sources.begin(), c.workload.sources.end(),
                                    [](const SourceSpec& s) { return s.skip_bad > 0; });
  if (skipping) summary["skipped_trace_lines"] = source.skipped_lines();

  const Json config = experiment.to_json(folder);
  // Everything is complete before the set replaces the output folder.
  results.add("config.json").write(config.dump(2) + "\n");
  results.add("summary.json").write(summary.dump(2) + "\n");
  results.commit();
  if (timeline_file) timeline_file->commit();
  return summary;
}

}  // namespace slsim
