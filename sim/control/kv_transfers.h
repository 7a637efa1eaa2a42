#pragma once
// The KV bytes an engine step moves before it computes (kv_offload.h's KvMoves), as flows over
// the topology, where they share links with checkpoint loads, live-kv copies and each other:
// swap-outs go from each of the instance's GPUs to its server's host memory and swap-ins back,
// over the GPUs' host links; fetched prefix blocks come from the tier holding them to each GPU:
// host memory over the host link (DRAM), the SSD over its read link then the host link (SSD),
// or another server's host memory over the network (pool). Each instance's share is split
// evenly over its tensor-parallel GPUs, as its KV cache is. When an instance's last flow is in,
// the listener is told, and the step computes.
//
// Invariants: an instance has flows here from start() until its on_kv_moved() or cancel(),
// and at most one step's at a time.

#include <cstdint>
#include <span>
#include <vector>

#include "sim/cluster/flow_network.h"
#include "sim/cluster/topology.h"
#include "sim/core/ids.h"
#include "sim/engine/kv_offload.h"

namespace slsim {

class KvTransferListener {
 public:
  virtual ~KvTransferListener() = default;
  virtual void on_kv_moved(InstanceId id) = 0;
};

class KvTransfers final : public FlowListener {
 public:
  KvTransfers(FlowNetwork& network, const Topology& topology, KvTransferListener& listener);

  // Starts moving `moves` for instance `id` on `gpus` of `server`; false: nothing to
  // move (no flow started, no callback to come).
  bool start(InstanceId id, ServerId server, std::span<const int64_t> gpus, const KvMoves& moves);
  bool moving(InstanceId id) const { return id.value() < flows_.size() && !flows_[id.value()].empty(); }
  // Drops the instance's flows in progress, without a callback.
  void cancel(InstanceId id);
  void on_flow_done(FlowId flow, uint64_t tag) override;

 private:
  enum class Direction : uint8_t { to_gpus, from_gpus };
  // `bytes` between `node` and the instance's GPUs, an equal share over each GPU's path.
  void split_over_gpus(InstanceId id, NodeId node, Direction direction, ServerId server, std::span<const int64_t> gpus,
                       double bytes);

  FlowNetwork& network_;
  const Topology& topology_;
  KvTransferListener& listener_;
  std::vector<std::vector<FlowId>> flows_;  // by instance id: its flows in progress
};

}  // namespace slsim
