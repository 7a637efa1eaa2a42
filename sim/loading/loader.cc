#include "sim/loading/loader.h"

#include <algorithm>
#include <limits>
#include <stdexcept>

#include "sim/core/errors.h"
#include "sim/core/slots.h"

namespace slsim {

const char* tier_name(Tier tier) {
  switch (tier) {
    case Tier::gpu:
      return "gpu";
    case Tier::dram:
      return "dram";
    case Tier::ssd:
      return "ssd";
    case Tier::remote:
      return "remote";
  }
  return "?";
}

StartupPhases resolve_startup(const LoaderParams& params, const StartupProfile* measured, double checkpoint_bytes) {
  StartupPhases phases =
      measured && !measured->models.empty() ? interpolate_startup(*measured, checkpoint_bytes) : kAssumedStartup;
  phases.process_start_s = params.process_start_s.value_or(phases.process_start_s);
  phases.gpu_context_s = params.gpu_context_s.value_or(phases.gpu_context_s);
  phases.engine_setup_s = params.engine_setup_s.value_or(phases.engine_setup_s);
  if (params.post_load_s) {
    // A post-load set whole has no measured parts to materialize.
    phases.post_load_s = *params.post_load_s;
    phases.compile_s = 0;
    phases.graph_capture_s = 0;
  }
  return phases;
}

Loader::Loader(Simulator& sim, const Cluster& cluster, const Topology& topology, FlowNetwork& network,
               const LoaderParams& params, const CheckpointFormat& format, const EvictionFactory& dram_policy,
               const EvictionFactory& ssd_policy, std::map<std::string, StartupProfile> measured_startup,
               std::unique_ptr<StartupPolicy> startup_policy, std::unique_ptr<LoadSourcePolicy> load_source)
    : sim_(sim),
      cluster_(cluster),
      topology_(topology),
      network_(network),
      params_(params),
      format_(format),
      measured_startup_(std::move(measured_startup)),
      startup_policy_(std::move(startup_policy)),
      load_source_(std::move(load_source)),
      forks_(load_source_ && load_source_->forked(StartupPhases{}).has_value()),
      handler_(sim.add_handler(this)) {
  // The stages stream from their tiers straight to their GPUs; a staged format has no such path.
  if (parallel_servers() > 1 && !format_.pipelined)
    throw InputError(fmt::format(
        "policies.load_source.params.parallel_servers: {} servers per cold start needs a pipelined loader.format "
        "(sllm), not {}",
        parallel_servers(), params.format));
  // A member's own slice is the first bytes of each shard to reach its GPUs; a staged format
  // reaches them only after a whole download.
  if (executes_while_loading() && !format_.pipelined)
    throw InputError(fmt::format(
        "policies.load_source.params.execute_while_load: serving from a slice of the checkpoint needs a pipelined "
        "loader.format (sllm), not {}",
        params.format));
  const std::optional<int64_t> host_cache_cap = load_source_ ? load_source_->host_cache_bytes() : std::nullopt;
  for (const Server& s : cluster.servers()) {
    dram_.emplace_back(std::min(s.profile->dram_cache_bytes, host_cache_cap.value_or(s.profile->dram_cache_bytes)),
                       dram_policy());
    ssd_.emplace_back(s.profile->ssd_cache_bytes, ssd_policy());
  }
  busy_until_.assign(cluster.servers().size(), Time::zero());
  transferring_.assign(cluster.servers().size(), 0);
  waiting_jobs_.resize(cluster.servers().size());
  observed_gbytes_per_s_.assign(cluster.servers().size(), {});
  // Looked up by GPU name once here, not at every estimate a placement asks for.
  for (const Server& s : cluster.servers()) {
    const auto measured = measured_startup_.find(s.gpu->name);
    startup_by_server_.push_back(measured == measured_startup_.end() ? nullptr : &measured->second);
  }
}

StartupPhases Loader::startup(ServerId server, std::span<const CheckpointPart> parts, int64_t tensor_parallel) const {
  // Each GPU's process sets up, compiles and captures its own shard.
  double bytes = 0;
  for (const CheckpointPart& part : parts) bytes += static_cast<double>(part.bytes);
  const StartupPhases full =
      resolve_startup(params_, startup_by_server_[server], bytes / static_cast<double>(tensor_parallel));
  return startup_policy_ ? startup_policy_->online(full) : full;
}

NodeId Loader::tier_node(ServerId server, Tier tier) const {
  return tier == Tier::dram  ? topology_.host_memory(server)
         : tier == Tier::ssd ? topology_.ssd(server)
                             : topology_.remote_storage();
}

Time Loader::estimate(ServerId server, std::span<const CheckpointPart> parts, int64_t tensor_parallel,
                      bool observed_rates) const {
  const NodeId gpu = topology_.gpu(server, 0);
  double transfer_s = 0;
  Time fill;
  int64_t tensors = 0;
  for (const CheckpointPart& part : parts) {
    const Tier tier = tier_holding(server, part.id);
    const NodeId from = tier_node(server, tier);
    const double shard_bytes = static_cast<double>(part.bytes) / static_cast<double>(tensor_parallel);
    const double observed = observed_rates ? observed_rate_gbytes_per_s(server, tier) : 0;
    transfer_s += shard_bytes / ((observed > 0 ? observed : capped_rate_gbytes_per_s(from, gpu)) * 1e9);
    if (tier != Tier::dram) fill = std::max(fill, pipeline_fill(from, gpu));
    tensors += part.tensors;
  }
  const StartupPhases phases = startup(server, parts, tensor_parallel);
  return Time::from_seconds(phases.before_load_s() + transfer_s +
                            static_cast<double>(tensors) * format_.per_tensor_overhead_s + phases.post_load_s) +
         fill;
}

Tier Loader::tier_holding(ServerId server, CheckpointId part) const {
  if (dram_[server].contains(part)) return Tier::dram;
  if (ssd_[server].contains(part)) return Tier::ssd;
  return Tier::remote;
}

double Loader::capped_rate_gbytes_per_s(NodeId from, NodeId to) const {
  double cap = std::numeric_limits<double>::infinity();
  for (const LinkId id : topology_.path(from, to)) {
    const Link& link = topology_.link(id);
    double efficiency = 1.0;
    if (link.link_class == "ssd_read" || link.link_class == "ssd_write") {
      efficiency = format_.ssd_efficiency;
      if (link.link_class == "ssd_read" && params_.read_max_gbytes_per_s)
        cap = std::min(cap, *params_.read_max_gbytes_per_s);
    } else if (link.link_class == "pcie") {
      efficiency = format_.host_to_gpu_efficiency;
      if (format_.host_to_gpu_max_gbytes_per_s) cap = std::min(cap, *format_.host_to_gpu_max_gbytes_per_s);
    } else if (link.link_class == "nic" || link.link_class == "tor_port" || link.link_class == "tor_uplink" ||
               link.link_class == "storage" || link.link_class == "wan") {
      efficiency = format_.network_efficiency;
      if (link.link_class == "storage" && params_.read_max_gbytes_per_s)
        cap = std::min(cap, *params_.read_max_gbytes_per_s);
    }
    cap = std::min(cap, efficiency * link.bandwidth_gbytes_per_s);
  }
  return cap;
}

Time Loader::pipeline_fill(NodeId from, NodeId to) const {
  // The first chunk crosses every stage before the slowest one sets the pace; the last crosses
  // every stage after it: one chunk time per stage other than the slowest.
  double total_s = 0;
  double slowest_gbytes_per_s = std::numeric_limits<double>::infinity();
  const auto chunk = static_cast<double>(params_.chunk_bytes);
  for (const LinkId id : topology_.path(from, to)) {
    const double gbytes_per_s = topology_.link(id).bandwidth_gbytes_per_s;
    total_s += chunk / (gbytes_per_s * 1e9);
    slowest_gbytes_per_s = std::min(slowest_gbytes_per_s, gbytes_per_s);
  }
  return Time::from_seconds(total_s - chunk / (slowest_gbytes_per_s * 1e9));
}

FlowId Loader::start_flow(NodeId from, NodeId to, double bytes, uint64_t tag) {
  return network_.start(from, to, bytes, *this, tag, capped_rate_gbytes_per_s(from, to));
}

void Loader::start(const LoadRequest& request, LoadListener& listener) {
  const uint32_t id = reuse_or_append(jobs_, free_jobs_);
  Job& job = jobs_[id];
  job = Job{};
  job.request = request;
  job.listener = &listener;
  job.active = true;
  job.started = sim_.now();
  job.outcome.tier = Tier::gpu;
  Time fill;
  int64_t tensors = 0;
  const ServerId s = request.server;
  job.parallel = !request.stages.empty();
  const bool from_gpus = !job.parallel && choose_gpu_source(id);
  job.live = from_gpus && !job.gpu_source.is_none() && load_source_ && load_source_->live_scaling();
  if (request.may_group && executes_while_loading()) join_group(id);
  for (const CheckpointPart& part : request.parts) {
    PartLoad load;
    load.part = part;
    tensors += part.tensors;
    if (from_gpus) {
      load.tier = Tier::gpu;
    } else {
      job.outcome.preloaded |= dram_[s].holds_unused_preload(part.id);
      dram_[s].record_lookup(part.id, sim_.now());
      if (dram_[s].contains(part.id)) {
        load.tier = Tier::dram;
      } else {
        job.outcome.preloaded |= ssd_[s].holds_unused_preload(part.id);
        ssd_[s].record_lookup(part.id, sim_.now());
        load.tier = ssd_[s].contains(part.id) ? Tier::ssd : Tier::remote;
      }
    }
    const bool staged = !format_.pipelined && (load.tier == Tier::ssd || load.tier == Tier::remote);
    load.phase = !staged ? Phase::copy : load.tier == Tier::ssd ? Phase::read : Phase::download;
    if (format_.pipelined && (load.tier == Tier::ssd || load.tier == Tier::remote)) {
      fill = std::max(fill, pipeline_fill(tier_node(s, load.tier), topology_.gpu(s, request.gpus.front())));
    }
    job.outcome.tier = std::max(job.outcome.tier, load.tier);
    job.parts.push_back(load);
  }
  job.parts_pending = static_cast<int64_t>(job.parts.size());
  // Each stage applies its share of the tensors at once.
  if (job.parallel) tensors /= static_cast<int64_t>(request.stages.size() + 1);
  busy_until_[s] =
      std::max(busy_until_[s], sim_.now()) + estimate(s, request.parts, static_cast<int64_t>(request.gpus.size()));
  job.finish_delay = fill + Time::from_seconds(static_cast<double>(tensors) * format_.per_tensor_overhead_s);
  StartupPhases phases = startup(s, request.parts, static_cast<int64_t>(request.gpus.size()));
  if (forks_) {
    if (job.gpu_source.is_none()) {
      ++fork_fallbacks_;
    } else {
      phases = *load_source_->forked(phases);
      ++forked_loads_;
    }
  }
  job.post_load = Time::from_seconds(phases.post_load_s);
  job.graph_capture = std::min(job.post_load, Time::from_seconds(phases.graph_capture_s));
  sim_.schedule_in(Time::from_seconds(phases.before_load_s()), handler_, kStartupDone, id);
  if (!job.parallel) return;
  // HydraServe overlaps the fetch with the instance's start-up: its transfers begin now, outside
  // any per-server loading queue.
  ++parallel_loads_;
  job.transfers_began = sim_.now();
  for (uint32_t p = 0; p < job.parts.size(); ++p) begin_phase(id, p);
}

bool Loader::choose_gpu_source(uint32_t job_id) {
  Job& job = jobs_[job_id];
  const LoadRequest& request = job.request;
  const ServerId s = request.server;
  const size_t shards = request.gpus.size();
  const NodeId to = topology_.gpu(s, request.gpus.front());
  const auto shard_sources = [&](ServerId from, const std::vector<int64_t>& gpus) {
    for (size_t i = 0; i < shards; ++i) job.shard_sources.push_back(topology_.gpu(from, gpus[i]));
  };
  if (!request.source_gpus.empty()) {
    shard_sources(s, request.source_gpus);
    job.gpu_source = request.source_instance;
    job.arrival_gbytes_per_s = capped_rate_gbytes_per_s(job.shard_sources.front(), to);
  } else {
    // The server's own tiers, at the idle rate of the slowest part's path.
    Tier local = Tier::dram;
    for (const CheckpointPart& part : request.parts) local = std::max(local, tier_holding(s, part.id));
    job.arrival_gbytes_per_s = capped_rate_gbytes_per_s(tier_node(s, local), to);
  }
  std::vector<uint32_t> key;
  for (const CheckpointPart& part : request.parts) key.push_back(part.id.value());
  const bool chains = load_source_ && load_source_->multicast_chain();
  // A load of the model in flight is the chain's tail: a later load may read from it.
  const auto tail = chains ? chain_tails_.find(key) : chain_tails_.end();
  const uint32_t predecessor = tail == chain_tails_.end() ? kNoJob : tail->second;
  if (chains) chain_tails_[key] = job_id;
  if (!request.source_gpus.empty()) return true;
  const auto reachable = [&](ServerId from) {
    return from == s || (reads_other_servers() && topology_.has_gpu_nics(from) && topology_.has_gpu_nics(s));
  };
  // Another source is taken where its bytes would arrive no slower than the server's tiers'.
  if (predecessor != kNoJob && jobs_[predecessor].request.gpus.size() == shards &&
      reachable(jobs_[predecessor].request.server)) {
    Job& previous = jobs_[predecessor];
    const NodeId hop_from = topology_.gpu(previous.request.server, previous.request.gpus.front());
    const double rate = std::min(previous.arrival_gbytes_per_s, capped_rate_gbytes_per_s(hop_from, to));
    // A fork saves start-up phases that outweigh any difference in rate.
    if (rate >= job.arrival_gbytes_per_s || (forks_ && !previous.gpu_source.is_none())) {
      shard_sources(previous.request.server, previous.request.gpus);
      // The chain's head reads a loaded instance (or the tiers: none), which runs what is missing.
      job.gpu_source = previous.gpu_source;
      job.arrival_gbytes_per_s = rate;
      previous.successor = job_id;
      job.predecessor = predecessor;
      job.awaits_predecessor = true;
      return true;
    }
  }
  if (!reads_other_servers()) return false;
  for (const PeerCopy& copy : request.peer_copies) {
    if (copy.gpus.size() != shards || !reachable(copy.server)) continue;
    const double rate = capped_rate_gbytes_per_s(topology_.gpu(copy.server, copy.gpus.front()), to);
    if (rate < job.arrival_gbytes_per_s && !forks_) continue;
    shard_sources(copy.server, copy.gpus);
    job.gpu_source = copy.instance;
    job.arrival_gbytes_per_s = rate;
    return true;
  }
  return false;
}

void Loader::join_group(uint32_t job_id) {
  const uint32_t predecessor = jobs_[job_id].predecessor;
  if (predecessor == kNoJob) return;
  const Job& previous = jobs_[predecessor];
  // One already moving bytes (no start-up before its load) sends no slices first.
  if (!previous.request.may_group || previous.started != sim_.now() || previous.transferring) return;
  // The chain's tail is the last member of its group, if it has one.
  uint32_t group = previous.group;
  if (group == kNoJob) {
    group = reuse_or_append(groups_, free_groups_);
    groups_[group] = Group{{predecessor}};
    jobs_[predecessor].group = group;
  }
  if (!groups_[group].open) return;
  groups_[group].jobs.push_back(job_id);
  jobs_[job_id].group = group;
}

void Loader::on_event(const Event& event) {
  switch (event.kind) {
    case kStartupDone:
      if (!jobs_[event.target].parallel) {
        begin_transfers(event.target);
        break;
      }
      jobs_[event.target].startup_done = true;
      if (jobs_[event.target].own_transfers_done) transfers_done(event.target);
      break;
    case kFinishDone:
      finish(event.target);
      break;
    case kCaptureBegins:
      jobs_[event.target].listener->on_graph_capture(jobs_[event.target].request.instance);
      break;
    case kReady:
      ready(event.target);
      break;
    default:
      throw std::logic_error("unknown loader event");
  }
}

void Loader::begin_transfers(uint32_t job_id) {
  const ServerId s = jobs_[job_id].request.server;
  if (params_.serialize_per_server) {
    if (transferring_[s]) {
      waiting_jobs_[s].push_back(job_id);
      return;
    }
    transferring_[s] = 1;
  }
  if (const uint32_t group = jobs_[job_id].group; group != kNoJob && groups_[group].open) {
    Group& g = groups_[group];
    g.open = false;
    g.without_slice = g.loading = static_cast<int64_t>(g.jobs.size());
  }
  jobs_[job_id].transfers_began = sim_.now();
  jobs_[job_id].transferring = true;
  for (uint32_t p = 0; p < jobs_[job_id].parts.size(); ++p) begin_phase(job_id, p);
  const Job& job = jobs_[job_id];
  if (job.live) job.listener->on_live_load(job.request.instance, job.gpu_source);
}

double Loader::loaded_fraction(InstanceId instance) const {
  for (const Job& job : jobs_) {
    if (!job.active || job.request.instance != instance || !job.live || job.live_bytes <= 0) continue;
    double remaining = 0;
    for (const FlowId flow : job.live_flows) remaining += network_.remaining_bytes(flow);
    return 1 - remaining / job.live_bytes;
  }
  return 1;
}

void Loader::begin_phase(uint32_t job_id, uint32_t part_index) {
  Job& job = jobs_[job_id];
  PartLoad& load = job.parts[part_index];
  const ServerId s = job.request.server;
  const auto bytes = static_cast<double>(load.part.bytes);
  const uint64_t tag = make_tag(job_id, part_index, kPartFlow);
  const bool has_ssd = cluster_.server(s).profile->ssd_cache_bytes > 0;
  switch (load.phase) {
    case Phase::download:
      load.flows_pending = 1;
      start_flow(topology_.remote_storage(), has_ssd ? topology_.ssd(s) : topology_.host_memory(s), bytes, tag);
      return;
    case Phase::read:
      load.flows_pending = 1;
      start_flow(topology_.ssd(s), topology_.host_memory(s), bytes, tag);
      return;
    case Phase::copy: {
      const auto shards = static_cast<int64_t>(job.request.gpus.size());
      if (job.parallel) {
        // Every stage fetches its share of each shard from its own fastest tier.
        const auto stages = static_cast<double>(job.request.stages.size() + 1);
        load.flows_pending = shards * static_cast<int64_t>(stages);
        const double share = bytes / static_cast<double>(shards) / stages;
        for (int64_t i = 0; i < shards; ++i)
          start_flow(tier_node(s, load.tier), topology_.gpu(s, job.request.gpus[i]), share, tag);
        for (const PeerCopy& stage : job.request.stages)
          for (int64_t i = 0; i < shards; ++i)
            start_flow(tier_node(stage.server, tier_holding(stage.server, load.part.id)),
                       topology_.gpu(stage.server, stage.gpus[static_cast<size_t>(i)]), share, tag);
        return;
      }
      load.flows_pending = shards;
      const bool staged = !format_.pipelined && load.tier != Tier::gpu;
      for (int64_t i = 0; i < shards; ++i) {
        NodeId from = topology_.host_memory(s);
        if (load.tier == Tier::gpu)
          from = job.shard_sources[static_cast<size_t>(i)];
        else if (!staged && load.tier == Tier::ssd)
          from = topology_.ssd(s);
        else if (!staged && load.tier == Tier::remote)
          from = topology_.remote_storage();
        if (job.group != kNoJob) {
          start_slice(job_id, part_index, from, topology_.gpu(s, job.request.gpus[i]),
                      bytes / static_cast<double>(shards));
          continue;
        }
        const FlowId flow =
            start_flow(from, topology_.gpu(s, job.request.gpus[i]), bytes / static_cast<double>(shards), tag);
        if (job.live) {
          job.live_flows.push_back(flow);
          job.live_bytes += bytes / static_cast<double>(shards);
        }
      }
      if (format_.pipelined && load.tier == Tier::remote && has_ssd && ssd_[s].capacity_bytes() >= load.part.bytes) {
        // Write-behind: the bytes passing through DRAM also go to the SSD cache.
        const uint32_t fill_id = add_cache_fill(s, load.part, Tier::ssd);
        start_flow(topology_.host_memory(s), topology_.ssd(s), bytes, make_tag(fill_id, 0, kWriteBehind));
      }
      return;
    }
    case Phase::done:
      break;
  }
  throw std::logic_error("a finished part was restarted");
}

void Loader::start_slice(uint32_t job_id, uint32_t part_index, NodeId from, NodeId to, double shard_bytes) {
  Job& job = jobs_[job_id];
  const double slice = shard_bytes / static_cast<double>(groups_[job.group].jobs.size());
  const FlowId flow = start_flow(from, to, slice, make_tag(job_id, part_index, kSlice));
  job.slice_flows.push_back(SliceFlow{flow, from, to, shard_bytes - slice});
}

void Loader::slice_done(uint32_t job_id, uint32_t part_index, FlowId flow) {
  Job& job = jobs_[job_id];
  const auto it = std::find_if(job.slice_flows.begin(), job.slice_flows.end(),
                               [flow](const SliceFlow& f) { return f.flow == flow; });
  const SliceFlow done = *it;
  job.slice_flows.erase(it);
  start_flow(done.from, done.to, done.rest_bytes, make_tag(job_id, part_index, kPartFlow));
  if (!job.slice_flows.empty() || --groups_[job.group].without_slice > 0) return;
  const Group& group = groups_[job.group];
  const Job& head = jobs_[group.jobs.front()];
  ++groups_served_;
  group_members_served_ += static_cast<int64_t>(group.jobs.size());
  std::vector<PeerCopy> stages;
  for (size_t i = 1; i < group.jobs.size(); ++i) {
    const LoadRequest& member = jobs_[group.jobs[i]].request;
    stages.push_back(PeerCopy{member.server, member.gpus, member.instance});
  }
  head.listener->on_group_serves(head.request.instance, head.outcome.tier, stages);
}

void Loader::group_member_ready(uint32_t job_id) {
  const uint32_t group_id = jobs_[job_id].group;
  Group& group = groups_[group_id];
  if (--group.loading > 0) return;
  // Handed over once all are freed: a listener may start loads that reuse these slots.
  struct Done {
    LoadListener* listener;
    InstanceId instance;
    LoadOutcome outcome;
  };
  std::vector<Done> done;
  for (const uint32_t member : group.jobs) {
    Job& job = jobs_[member];
    done.push_back(Done{job.listener, job.request.instance, job.outcome});
    job.active = false;
    free_jobs_.push_back(member);
  }
  group.jobs.clear();
  free_groups_.push_back(group_id);
  for (const Done& d : done) d.listener->on_load_done(d.instance, d.outcome);
}

void Loader::on_flow_done(FlowId flow, uint64_t tag) {
  const auto index = static_cast<uint32_t>(tag >> 32);
  const auto part = static_cast<uint32_t>((tag >> 8) & 0xffffff);
  const auto kind = static_cast<FlowKind>(tag & 0xff);
  if (kind == kSlice) {
    slice_done(index, part, flow);
    return;
  }
  if (kind == kPartFlow) {
    if (jobs_[index].live) std::erase(jobs_[index].live_flows, flow);
    part_flow_done(index, part);
    return;
  }
  if (kind == kConsolidate) {
    Job& job = jobs_[index];
    std::erase(job.consolidation_flows, flow);
    if (!job.consolidation_flows.empty()) return;
    job.active = false;
    free_jobs_.push_back(index);
    job.listener->on_consolidated(job.request.instance);
    return;
  }
  const PendingPreload fill = preloads_[index];
  preloads_[index].active = false;
  free_preloads_.push_back(index);
  TierCache& cache = fill.target == Tier::dram ? dram_[fill.server] : ssd_[fill.server];
  cache.insert(fill.part.id, fill.part.bytes, sim_.now(), kind == kPreload);
}

void Loader::part_flow_done(uint32_t job_id, uint32_t part_index) {
  Job& job = jobs_[job_id];
  PartLoad& load = job.parts[part_index];
  if (--load.flows_pending > 0) return;
  const ServerId s = job.request.server;
  switch (load.phase) {
    case Phase::download:
      if (cluster_.server(s).profile->ssd_cache_bytes > 0) {
        ssd_[s].insert(load.part.id, load.part.bytes, sim_.now());
        load.phase = Phase::read;
      } else {
        load.phase = Phase::copy;
      }
      begin_phase(job_id, part_index);
      return;
    case Phase::read:
      load.phase = Phase::copy;
      begin_phase(job_id, part_index);
      return;
    case Phase::copy:
      load.phase = Phase::done;
      break;
    case Phase::done:
      throw std::logic_error("a finished part received a flow");
  }
  if (--job.parts_pending > 0) return;
  job.own_transfers_done = true;
  if (!job.awaits_predecessor && (!job.parallel || job.startup_done)) transfers_done(job_id);
}

void Loader::transfers_done(uint32_t job_id) {
  Job& job = jobs_[job_id];
  const ServerId s = job.request.server;
  const Time took = sim_.now() - job.transfers_began;
  // A parallel load's rate is the stages' together, which no load of one server would see.
  if (took > Time::zero() && !job.parallel) {
    double shard_bytes = 0;
    for (const PartLoad& p : job.parts) shard_bytes += static_cast<double>(p.part.bytes);
    shard_bytes /= static_cast<double>(job.request.gpus.size());
    // GB/s is bytes per nanosecond.
    const double rate_gbytes_per_s = shard_bytes / static_cast<double>(took.ns());
    double& average = observed_gbytes_per_s_[s][static_cast<size_t>(job.outcome.tier)];
    average = average > 0
                  ? params_.observed_rate_weight * rate_gbytes_per_s + (1 - params_.observed_rate_weight) * average
                  : rate_gbytes_per_s;
  }
  for (auto it = chain_tails_.begin(); it != chain_tails_.end(); ++it) {
    if (it->second != job_id) continue;
    chain_tails_.erase(it);
    break;
  }
  // finish() may end the job and hand its slot to a load the listener starts.
  const uint32_t successor = job.successor;
  if (job.finish_delay > Time::zero())
    sim_.schedule_in(job.finish_delay, handler_, kFinishDone, job_id);
  else
    finish(job_id);
  if (successor == kNoJob) return;
  jobs_[successor].awaits_predecessor = false;
  if (jobs_[successor].own_transfers_done) transfers_done(successor);
}

void Loader::finish(uint32_t job_id) {
  Job& job = jobs_[job_id];
  const ServerId s = job.request.server;
  // A parallel load's bytes pass through no one server's host memory whole.
  for (size_t i = 0; i < job.parts.size() && !job.parallel; ++i) {
    const PartLoad& load = job.parts[i];
    if (load.tier != Tier::ssd && load.tier != Tier::remote) continue;
    const bool was_cached = dram_[s].contains(load.part.id);
    if (dram_[s].insert(load.part.id, load.part.bytes, sim_.now()) && !was_cached && i < 32)
      job.outcome.parts_cached_in_dram |= 1u << i;
  }
  // The post-load phases run on the instance's GPUs, not on the loading path: the next queued
  // load's transfers go on.
  if (params_.serialize_per_server && !job.parallel) {
    transferring_[s] = 0;
    if (!waiting_jobs_[s].empty()) {
      const uint32_t next = waiting_jobs_[s].front();
      waiting_jobs_[s].pop_front();
      begin_transfers(next);
    }
  }
  if (job.graph_capture > Time::zero())
    sim_.schedule_in(job.post_load - job.graph_capture, handler_, kCaptureBegins, job_id);
  if (job.post_load > Time::zero())
    sim_.schedule_in(job.post_load, handler_, kReady, job_id);
  else
    ready(job_id);
}

void Loader::ready(uint32_t job_id) {
  Job& job = jobs_[job_id];
  if (job.group != kNoJob) {
    group_member_ready(job_id);
    return;
  }
  if (job.parallel && load_source_->consolidate()) {
    // The job stays until its consolidation ends (on_consolidated).
    begin_consolidation(job_id);
  } else {
    job.active = false;
    free_jobs_.push_back(job_id);
  }
  // The listener may start another load, which can reuse this job's slot.
  LoadListener* listener = job.listener;
  const InstanceId instance = job.request.instance;
  const LoadOutcome outcome = job.outcome;
  listener->on_load_done(instance, outcome);
}

void Loader::begin_consolidation(uint32_t job_id) {
  Job& job = jobs_[job_id];
  const LoadRequest& request = job.request;
  const size_t shards = request.gpus.size();
  const auto stages = static_cast<double>(request.stages.size() + 1);
  for (uint32_t p = 0; p < job.parts.size(); ++p) {
    const double share = static_cast<double>(job.parts[p].part.bytes) / static_cast<double>(shards) / stages;
    for (const PeerCopy& stage : request.stages)
      for (size_t i = 0; i < shards; ++i)
        job.consolidation_flows.push_back(start_flow(topology_.gpu(stage.server, stage.gpus[i]),
                                                     topology_.gpu(request.server, request.gpus[i]), share,
                                                     make_tag(job_id, p, kConsolidate)));
  }
}

void Loader::cancel_consolidation(InstanceId instance) {
  for (uint32_t id = 0; id < jobs_.size(); ++id) {
    Job& job = jobs_[id];
    if (!job.active || job.request.instance != instance || job.consolidation_flows.empty()) continue;
    for (const FlowId flow : job.consolidation_flows) network_.cancel(flow);
    job.consolidation_flows.clear();
    job.active = false;
    free_jobs_.push_back(id);
    return;
  }
}

void Loader::preload(ServerId server, const CheckpointPart& part, Tier target) {
  TierCache& cache = target == Tier::dram ? dram_[server] : ssd_[server];
  if (cache.contains(part.id) || cache.capacity_bytes() < part.bytes) return;
  for (const PendingPreload& p : preloads_)
    if (p.active && p.server == server && p.part.id == part.id && p.target == target) return;
  const uint32_t id = add_cache_fill(server, part, target);
  const NodeId to = target == Tier::dram ? topology_.host_memory(server) : topology_.ssd(server);
  const NodeId from =
      target == Tier::dram && ssd_[server].contains(part.id) ? topology_.ssd(server) : topology_.remote_storage();
  ++preloads_started_;
  start_flow(from, to, static_cast<double>(part.bytes), make_tag(id, 0, kPreload));
}

bool Loader::stage(ServerId server, const CheckpointPart& part, Tier tier) {
  TierCache& cache = tier == Tier::dram ? dram_[server] : ssd_[server];
  if (!cache.contains(part.id) && cache.used_bytes() + part.bytes > cache.capacity_bytes()) return false;
  return cache.insert(part.id, part.bytes, sim_.now());
}

uint32_t Loader::add_cache_fill(ServerId server, const CheckpointPart& part, Tier target) {
  const uint32_t id = reuse_or_append(preloads_, free_preloads_);
  preloads_[id] = PendingPreload{server, part, target, true};
  return id;
}

void Loader::keep_in_dram(ServerId server, const CheckpointPart& part) {
  dram_[server].insert(part.id, part.bytes, sim_.now());
}

void Loader::drop_from_dram(ServerId server, CheckpointId part) { dram_[server].erase(part); }

}  // namespace slsim
