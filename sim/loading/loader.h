#pragma once
// Checkpoint loading as transfers over the topology. A load reads each part of a checkpoint
// from the fastest tier that holds it (another GPU of the server, host DRAM, the local SSD, or
// remote storage) and moves it as flows in the fluid bandwidth model, one flow per tensor-
// parallel shard onto each destination GPU, so concurrent loads share links as they would on
// the real cluster. A pipelined format (ServerlessLLM's) sends each shard over the whole path at
// once, which in the fluid model runs at the slowest stage's rate; a non-pipelined one (safe-
// tensors) downloads to the SSD, reads into DRAM, and copies to the GPUs, one phase after the
// other. The load also pays the instance's start-up first (process start, GPU context, engine
// set-up), the pipeline fill and per-tensor overheads after the transfers, and the engine's
// post-load phases (compilation, graph capture, warm-up) last: the phases measured for the GPU
// type and model size (models/calibration/<gpu>.json `startup`) unless the config sets them. What
// passes through DRAM and the SSD is offered to their caches, whose eviction policies decide
// what stays. A load source policy (load_source.h) may send a load to GPUs of other servers that
// hold the model, over their RDMA NICs, and chain loads of one model that overlap: a chain member
// reads from the previous one as it receives, so in the fluid model each hop is a flow of the
// whole shard started when the member's transfers begin, and a member's transfers are done when
// its own hop and its predecessor's transfers are (a receiver cannot finish before the one it
// forwards from). On equal idle links every member then finishes at shard / link rate, not one
// after the other.

#include <array>
#include <cstdint>
#include <deque>
#include <functional>
#include <limits>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "sim/cluster/cluster.h"
#include "sim/cluster/flow_network.h"
#include "sim/cluster/topology.h"
#include "sim/core/fields.h"
#include "sim/core/ids.h"
#include "sim/core/simulator.h"
#include "sim/core/time.h"
#include "sim/engine/startup_profile.h"
#include "sim/loading/checkpoint_format.h"
#include "sim/loading/load_source.h"
#include "sim/loading/startup_policy.h"
#include "sim/loading/tier_cache.h"

namespace slsim {

enum class Tier : uint8_t { gpu, dram, ssd, remote };
const char* tier_name(Tier tier);
inline constexpr Tier kAllTiers[] = {Tier::gpu, Tier::dram, Tier::ssd, Tier::remote};

// Start-up phases where neither the config nor a measured profile gives them: the assumption
// slsim made before they were measured (process start 2 s, CUDA context 0.5 s, nothing else).
inline constexpr StartupPhases kAssumedStartup{2.0, 0.5, 0, 0};

struct LoaderParams {
  std::string format = "sllm";
  std::optional<double> process_start_s;
  std::optional<double> gpu_context_s;
  int64_t chunk_bytes = int64_t{32} << 20;
  bool serialize_per_server = false;
  double observed_rate_weight = 0.5;
  std::optional<double> read_max_gbytes_per_s;
  std::optional<double> engine_setup_s;
  std::optional<double> post_load_s;

  template <class V>
  void visit(V& v) {
    v.choice("format", format, "checkpoint format and loader (models/calibration/loader_formats.json)",
             {"sllm", "safetensors", "torch"});
    v.field("process_start_s", process_start_s,
            "serving-process start and imports before loading, s; null: measured (the calibration profile's "
            "startup for the GPU and model size), else 2.0 (assumption)",
            at_least(0));
    v.field("gpu_context_s", gpu_context_s, "CUDA context creation per instance, s; null: measured, else 0.5",
            at_least(0));
    v.field("engine_setup_s", engine_setup_s,
            "engine set-up before loading (weight and KV cache allocation), s; null: measured, else 0", at_least(0));
    v.field("post_load_s", post_load_s,
            "after loading: compilation, CUDA-graph capture and warm-up, s; null: measured, else 0", at_least(0));
    v.field("chunk_bytes", chunk_bytes, "pipeline chunk (ServerlessLLM default 32 MiB); sets the pipeline fill",
            at_least(1));
    v.field("serialize_per_server", serialize_per_server,
            "one load's transfers at a time per server, the others waiting in order of their start-up's end "
            "(ServerlessLLM's loading queue); false: concurrent loads share the links");
    v.field("read_max_gbytes_per_s", read_max_gbytes_per_s,
            "ceiling on each shard's read from the SSD or remote storage, GB/s, below what the links leave it: a "
            "loader whose own work bounds one read (the project's testbed also writes each chunk to its DRAM cache "
            "file, reaching 1.4-2.2 GB/s per load in service where its disk gives 2.87 GB/s), so that concurrent "
            "loads share the disk only beyond it; null: none",
            positive());
    v.field("observed_rate_weight", observed_rate_weight,
            "weight of the newest load in each server's moving average of measured load rates per tier, which "
            "estimates may use instead of the idle-link rates (assumption: half)",
            between(0, 1));
  }
};

// The phases of an instance of `checkpoint_bytes` per GPU: the measured ones where `measured`
// has models (else kAssumedStartup), each replaced by the value the config sets explicitly.
StartupPhases resolve_startup(const LoaderParams& params, const StartupProfile* measured, double checkpoint_bytes);

// One stored piece of a model's weights; a model is its base checkpoint plus, for adapters and
// fine-tuned deltas, its own part.
struct CheckpointPart {
  CheckpointId id;
  int64_t bytes = 0;
  int64_t tensors = 0;
};

// A checkpoint part in one server's DRAM or SSD cache when the run starts.
struct CheckpointAtStart {
  ServerId server;
  Tier tier = Tier::dram;
  CheckpointPart part;
};

// A loaded copy of the model on another server: where its shards are.
struct PeerCopy {
  ServerId server;
  std::vector<int64_t> gpus;
  InstanceId instance = InstanceId::none();  // the instance whose GPUs hold it
};

struct LoadRequest {
  InstanceId instance;
  ServerId server;
  std::vector<int64_t> gpus;         // destination GPU indices, one per shard
  std::vector<int64_t> source_gpus;  // a loaded copy of the same model on this server, or empty
  std::vector<CheckpointPart> parts;
  // Loaded copies on other servers, for a load source policy that reads them (else ignored).
  std::vector<PeerCopy> peer_copies;
  InstanceId source_instance = InstanceId::none();  // the instance on `source_gpus`
  // A parallel cold start (LoadSourcePolicy::parallel_servers): the GPUs of the other servers that
  // each fetch an equal share of every part from their own tiers, beside `server`'s own share;
  // empty: `server` loads it all.
  std::vector<PeerCopy> stages = {};
  // A scale-out's new instance (not a live migration's destination), which may join an
  // execute-while-load group (LoadSourcePolicy::execute_while_load).
  bool may_group = false;
};

struct LoadOutcome {
  // The slowest tier any part was read from; gpu: a GPU holding the model, of this server or
  // (with a load source policy that reads them) another, or a chain's previous receiver.
  Tier tier = Tier::remote;
  bool preloaded = false;  // a part came from a tier a preloader filled
  // Bit i: part i of the request was not in the server's DRAM cache before and this load put it
  // there (parts beyond the 32nd are not tracked; a checkpoint is a base and at most one delta).
  uint32_t parts_cached_in_dram = 0;
  bool cached_in_dram(size_t part) const { return part < 32 && (parts_cached_in_dram >> part & 1u) != 0; }
};

class LoadListener {
 public:
  virtual ~LoadListener() = default;
  virtual void on_load_done(InstanceId instance, const LoadOutcome& outcome) = 0;
  // The instance's CUDA-graph capture begins on its GPUs; it lasts until on_load_done. Only a
  // listener that shares GPUs between instances needs to know.
  virtual void on_graph_capture(InstanceId /*instance*/) {}
  // Live scaling (LoadSourcePolicy::live_scaling): the instance's transfers from `source`, a
  // loaded instance of its model, begin. Until on_load_done it may serve, `source` running the
  // layers not yet here (Loader::loaded_fraction says how many are).
  virtual void on_live_load(InstanceId /*instance*/, InstanceId /*source*/) {}
  // A parallel load's consolidation is done: the instance's own GPUs hold the whole checkpoint
  // and the stages' GPUs may go.
  virtual void on_consolidated(InstanceId /*instance*/) {}
  // Execute-while-load (LoadSourcePolicy::execute_while_load): every member of the group that
  // `head` leads holds its own slice. `head` may serve from now as a pipeline over its GPUs and
  // those of `stages` (the other members, in multicast order); its bytes come from `tier`. The
  // members' on_load_done come when all of the group's loads are done, in the same order.
  virtual void on_group_serves(InstanceId /*head*/, Tier /*tier*/, const std::vector<PeerCopy>& /*stages*/) {}
};

using EvictionFactory = std::function<std::unique_ptr<EvictionPolicy>()>;

class Loader final : public EventHandler, public FlowListener {
 public:
  // `measured_startup`: by GPU profile name, the start-up measured on it. `startup_policy`: what
  // of it runs online; null: all of it. `load_source`: where loads may read besides the server's
  // tiers; null: a copy on the same server's GPUs only (tiered).
  Loader(Simulator& sim, const Cluster& cluster, const Topology& topology, FlowNetwork& network,
         const LoaderParams& params, const CheckpointFormat& format, const EvictionFactory& dram_policy,
         const EvictionFactory& ssd_policy, std::map<std::string, StartupProfile> measured_startup = {},
         std::unique_ptr<StartupPolicy> startup_policy = nullptr,
         std::unique_ptr<LoadSourcePolicy> load_source = nullptr);
  // The simulator holds it by address, and startup_by_server_ points into measured_startup_.
  Loader(const Loader&) = delete;
  Loader& operator=(const Loader&) = delete;

  void start(const LoadRequest& request, LoadListener& listener);
  // Whether loads may read copies on other servers: a caller lists them in LoadRequest::peer_copies.
  bool reads_other_servers() const { return load_source_ && load_source_->reads_other_servers(); }
  // How many servers a cold start from the remote store is spread over (LoadRequest::stages); 1: none.
  int64_t parallel_servers() const { return load_source_ ? load_source_->parallel_servers() : 1; }
  // A parallel load's consolidation stops: its instance is going away.
  void cancel_consolidation(InstanceId instance);
  // Parallel loads started, and loads that would have been parallel but found too few servers
  // with free GPUs (counted by the caller, which picks the stages).
  int64_t parallel_loads() const { return parallel_loads_; }
  int64_t parallel_fallbacks() const { return parallel_fallbacks_; }
  void count_parallel_fallback() { ++parallel_fallbacks_; }
  // Execute-while-load (LoadSourcePolicy::execute_while_load): whether groups may form, and the
  // groups that have served as pipelines and their members, heads included.
  bool executes_while_loading() const { return load_source_ && load_source_->execute_while_load(); }
  int64_t groups_served() const { return groups_served_; }
  int64_t group_members_served() const { return group_members_served_; }
  // Fork (LoadSourcePolicy::forked): whether loads may fork a loaded instance, the loads that did
  // and those that read none (the tiers, or a chain whose head reads them) and paid the start-up.
  bool forks() const { return forks_; }
  int64_t forked_loads() const { return forked_loads_; }
  int64_t fork_fallbacks() const { return fork_fallbacks_; }
  // The share of the instance's checkpoint bytes on its GPUs: delivered over bytes, for a load
  // that went live (on_live_load); 1 once its transfers are done or for any other instance.
  double loaded_fraction(InstanceId instance) const;
  // Copies a checkpoint into `target` (dram or ssd) of a server ahead of demand.
  void preload(ServerId server, const CheckpointPart& part, Tier target);
  // The checkpoint is in the server's `tier` cache (dram or ssd) when the run starts (no
  // transfer, no eviction); false where the cache lacks the room or its policy does not admit it.
  bool stage(ServerId server, const CheckpointPart& part, Tier tier);
  // An instance is going away: keep its checkpoint in the server's DRAM cache, as
  // ServerlessLLM's pool does (the GPU-to-host copy is not modelled).
  void keep_in_dram(ServerId server, const CheckpointPart& part);
  // An instance is going away and its checkpoint is not to be kept: the part leaves the server's
  // DRAM cache (if it is there).
  void drop_from_dram(ServerId server, CheckpointId part);

  // The time a load of `parts` onto `tensor_parallel` GPUs of `server` would take on idle links:
  // start-up before and after the transfer, each part's shard at the capped rate of the path from the fastest tier
  // holding it (parts one after the other, as they share the GPU link), pipeline fill and per-tensor costs. With
  // `observed_rates`, a tier's rate is the server's moving average of the rates its loads from that tier achieved
  // (checkpoint bytes per GPU over the transfers' time, contention included), where it has one.
  Time estimate(ServerId server, std::span<const CheckpointPart> parts, int64_t tensor_parallel,
                bool observed_rates = false) const;
  // The moving average of measured load rates from `tier` to `server`'s GPUs, GB/s; 0: none yet.
  double observed_rate_gbytes_per_s(ServerId server, Tier tier) const {
    return observed_gbytes_per_s_[server][static_cast<size_t>(tier)];
  }
  // The estimated time until loads already started on `server` are done: the loading-queue wait
  // of ServerlessLLM's scheduler, which loads one model at a time per server (a real queue with
  // `serialize_per_server`, else concurrent loads that share the links).
  Time queue_wait(ServerId server) const { return std::max(Time::zero(), busy_until_[server] - sim_.now()); }
  // The fastest tier of `server` holding the part, ignoring GPUs.
  Tier tier_holding(ServerId server, CheckpointId part) const;
  // Where a part held in `tier` (dram, ssd or remote) is read from for `server`.
  NodeId tier_node(ServerId server, Tier tier) const;
  const TierCache& dram(ServerId server) const { return dram_[server]; }
  const TierCache& ssd(ServerId server) const { return ssd_[server]; }
  uint64_t preloads_started() const { return preloads_started_; }
  // The transfer machinery loads run on, for other transfers that share its links (a live
  // migration's KV copy).
  FlowNetwork& network() { return network_; }
  const Topology& topology() const { return topology_; }

  void on_event(const Event& event) override;
  const char* name() const override { return "loader"; }
  void on_flow_done(FlowId flow, uint64_t tag) override;

 private:
  enum EventKind : uint16_t { kStartupDone, kFinishDone, kCaptureBegins, kReady };
  enum class Phase : uint8_t { download, read, copy, done };
  enum FlowKind : uint8_t { kPartFlow, kWriteBehind, kPreload, kConsolidate, kSlice };

  struct PartLoad {
    CheckpointPart part;
    Tier tier = Tier::remote;
    Phase phase = Phase::copy;
    int64_t flows_pending = 0;
  };
  static constexpr uint32_t kNoJob = std::numeric_limits<uint32_t>::max();
  // A shard's first 1/g (its receiver's own slice) moving; the rest follows on the same path.
  struct SliceFlow {
    FlowId flow;
    NodeId from;
    NodeId to;
    double rest_bytes = 0;
  };
  // The members of an execute-while-load group, in multicast order (the head first). It takes
  // members while none has begun its transfers; then g is fixed.
  struct Group {
    std::vector<uint32_t> jobs;
    bool open = true;
    int64_t without_slice = 0;  // members whose own slice is not all in
    int64_t loading = 0;        // members not yet ready
  };
  struct Job {
    LoadRequest request;
    LoadListener* listener = nullptr;
    std::vector<PartLoad> parts;
    int64_t parts_pending = 0;
    // Parts of tier gpu: the GPU each shard reads from (a copy's, or the chain predecessor's).
    std::vector<NodeId> shard_sources;
    // The idle-link rate its bytes arrive at: its source path's, and along a chain no faster than
    // the chain's first source.
    double arrival_gbytes_per_s = 0;
    // The loaded instance its bytes come from, directly or at its chain's head; none: tiers.
    InstanceId gpu_source = InstanceId::none();
    // Live scaling: its shard flows still moving and the bytes of all of them.
    bool live = false;
    std::vector<FlowId> live_flows;
    double live_bytes = 0;
    // Multicast chain: this job's transfers end no earlier than its predecessor's.
    bool awaits_predecessor = false;
    bool own_transfers_done = false;
    uint32_t predecessor = kNoJob;
    uint32_t successor = kNoJob;
    // Execute-while-load: its group (kNoJob: none), when it was started (a group's members start
    // at one instant), whether its transfers have begun and its slice flows still moving.
    uint32_t group = kNoJob;
    Time started;
    bool transferring = false;
    std::vector<SliceFlow> slice_flows;
    // A parallel load (request.stages): its transfers run beside its start-up, which it also waits
    // for; once ready, with consolidation, the stages' layers move to its GPUs over these flows.
    bool parallel = false;
    bool startup_done = false;
    std::vector<FlowId> consolidation_flows;
    LoadOutcome outcome;
    Time finish_delay;
    Time post_load;
    // The tail of post_load that captures CUDA graphs (compilation comes before it).
    Time graph_capture;
    Time transfers_began;
    bool active = false;
  };
  // A copy into a cache tier: a preload, or the SSD write-behind of a remote load.
  struct PendingPreload {
    ServerId server;
    CheckpointPart part;
    Tier target = Tier::dram;
    bool active = false;
  };

  void begin_transfers(uint32_t job_id);
  void begin_phase(uint32_t job_id, uint32_t part_index);
  void part_flow_done(uint32_t job_id, uint32_t part_index);
  // Picks GPU sources for a load: a copy on the same server; else, where no slower than the
  // server's tiers at idle rates, the chain's tail, then a copy on another server (with forks, a
  // chain that forks and a copy elsewhere at any rate). false: tiers.
  bool choose_gpu_source(uint32_t job_id);
  void transfers_done(uint32_t job_id);
  void finish(uint32_t job_id);
  void ready(uint32_t job_id);
  // Execute-while-load: the job joins the group of the chain member it reads from, when that
  // one was started at this instant too and its group has not begun transferring.
  void join_group(uint32_t job_id);
  // A group member's shard: its own slice first, then the rest (slice_done).
  void start_slice(uint32_t job_id, uint32_t part_index, NodeId from, NodeId to, double shard_bytes);
  // A slice is in: the rest of its shard follows; once all of a member's are, it holds its slice,
  // and once every member does, the group serves.
  void slice_done(uint32_t job_id, uint32_t part_index, FlowId flow);
  // The job is ready; a group member waits for the others', then all are handed over in order.
  void group_member_ready(uint32_t job_id);
  // Moves every stage's share of the checkpoint onto the primary's GPUs, shard to shard.
  void begin_consolidation(uint32_t job_id);
  // The start-up of an instance of `parts` on `tensor_parallel` GPUs of `server`.
  StartupPhases startup(ServerId server, std::span<const CheckpointPart> parts, int64_t tensor_parallel) const;
  uint32_t add_cache_fill(ServerId server, const CheckpointPart& part, Tier target);
  FlowId start_flow(NodeId from, NodeId to, double bytes, uint64_t tag);
  double capped_rate_gbytes_per_s(NodeId from, NodeId to) const;
  Time pipeline_fill(NodeId from, NodeId to) const;
  static uint64_t make_tag(uint32_t index, uint32_t part, FlowKind kind) {
    return (uint64_t{index} << 32) | (uint64_t{part} << 8) | kind;
  }

  Simulator& sim_;
  const Cluster& cluster_;
  const Topology& topology_;
  FlowNetwork& network_;
  LoaderParams params_;
  CheckpointFormat format_;
  std::map<std::string, StartupProfile> measured_startup_;
  IdVector<ServerId, const StartupProfile*> startup_by_server_;  // into measured_startup_; null: none measured
  std::unique_ptr<StartupPolicy> startup_policy_;
  std::unique_ptr<LoadSourcePolicy> load_source_;
  bool forks_ = false;
  // By the model's part ids: the chain's last receiver whose transfers are not done.
  std::map<std::vector<uint32_t>, uint32_t> chain_tails_;
  uint16_t handler_;
  IdVector<ServerId, TierCache> dram_;
  IdVector<ServerId, TierCache> ssd_;
  std::vector<Job> jobs_;
  std::vector<uint32_t> free_jobs_;
  std::vector<Group> groups_;
  std::vector<uint32_t> free_groups_;
  std::vector<PendingPreload> preloads_;
  std::vector<uint32_t> free_preloads_;
  uint64_t preloads_started_ = 0;
  int64_t parallel_loads_ = 0;
  int64_t parallel_fallbacks_ = 0;
  int64_t groups_served_ = 0;
  int64_t group_members_served_ = 0;
  int64_t forked_loads_ = 0;
  int64_t fork_fallbacks_ = 0;
  IdVector<ServerId, Time> busy_until_;  // by server: when the loads started there are estimated to end
  // With serialize_per_server, by server: whether a load's transfers run, and the loads waiting.
  IdVector<ServerId, uint8_t> transferring_;
  IdVector<ServerId, std::array<double, std::size(kAllTiers)>> observed_gbytes_per_s_;  // by server and tier
  IdVector<ServerId, std::deque<uint32_t>> waiting_jobs_;
};

}  // namespace slsim
