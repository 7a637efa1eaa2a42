#pragma once
// Where a load reads a checkpoint from besides the server's own tiers. Today's loader (tiered)
// reads a copy on another GPU of the same server, else the fastest tier holding the checkpoint;
// a policy may also let loads read GPUs of other servers that hold the model, over the GPUs' own
// RDMA NICs (Topology::has_gpu_nics), and let loads of one model that overlap in time form a
// multicast chain. The interface lives here, beside the loader that follows it; the strategies
// live in sim/policy/load_source/ and are created by name.

#include <cstdint>
#include <optional>

#include "sim/engine/startup_profile.h"

namespace slsim {

class LoadSourcePolicy {
 public:
  static constexpr const char* kind = "load_source";
  struct Context {};
  virtual ~LoadSourcePolicy() = default;
  // Whether a load may read a loaded copy of its model on another server, GPU to GPU.
  virtual bool reads_other_servers() const = 0;
  // Whether a load may join the multicast chain of a load of the same model still moving bytes:
  // it reads from the chain's last receiver as that one receives.
  virtual bool multicast_chain() const = 0;
  // A cap on each server's DRAM checkpoint cache, bytes; null: the server profile's.
  virtual std::optional<int64_t> host_cache_bytes() const { return std::nullopt; }
  // Whether a load reading a loaded instance of its model, directly or at the head of its chain,
  // lets the new instance serve while its weights arrive (LoadListener::on_live_load).
  virtual bool live_scaling() const { return false; }
  // Parallel cold start (HydraServe): a load that must read the remote store is split over this
  // many servers, each fetching a share of the layers over its own network links into its GPUs;
  // 1: one server reads the whole checkpoint.
  virtual int64_t parallel_servers() const { return 1; }
  // Whether a parallel load's primary then pulls the other servers' layers onto its own GPUs and
  // lets theirs go; false: the instance stays a pipeline over all of them until released.
  virtual bool consolidate() const { return false; }
  // Execute-while-load (λScale's λPipe): the cold starts of one model placed at one instant that
  // form one multicast chain are a group; each member first receives its own 1/g of every shard,
  // and once all hold theirs the group serves as one pipeline over their GPUs while the loads go on
  // (LoadListener::on_group_serves).
  virtual bool execute_while_load() const { return false; }
  // Fork (DeepServe's NPU-fork): a load whose bytes come from a loaded instance of its model,
  // directly or at the head of its chain, copies that instance's process state with its weights,
  // and its instance pays the phases returned instead of `online` (the start-up policy's). Such a
  // source is then taken wherever reachable, however fast the server's own tiers. Null: no fork.
  virtual std::optional<StartupPhases> forked(const StartupPhases& /*online*/) const { return std::nullopt; }
};

}  // namespace slsim
