#include "sim/control/kv_transfers.h"

#include <algorithm>
#include <map>
#include <stdexcept>

namespace slsim {

KvTransfers::KvTransfers(FlowNetwork& network, const Topology& topology, KvTransferListener& listener)
    : network_(network), topology_(topology), listener_(listener) {}

void KvTransfers::split_over_gpus(InstanceId id, NodeId node, Direction direction, ServerId server,
                                  std::span<const int64_t> gpus, double bytes) {
  const double share = bytes / static_cast<double>(gpus.size());
  for (const int64_t index : gpus) {
    const NodeId gpu = topology_.gpu(server, index);
    const bool up = direction == Direction::to_gpus;
    flows_[id.value()].push_back(network_.start(up ? node : gpu, up ? gpu : node, share, *this, id.value()));
  }
}

bool KvTransfers::start(InstanceId id, ServerId server, std::span<const int64_t> gpus, const KvMoves& moves) {
  if (moves.empty()) return false;
  if (moving(id)) throw std::logic_error("an instance moved KV bytes for a step while the last step's were moving");
  if (id.value() >= flows_.size()) flows_.resize(id.value() + 1);
  const NodeId host = topology_.host_memory(server);
  if (moves.swap_out_bytes > 0)
    split_over_gpus(id, host, Direction::from_gpus, server, gpus, static_cast<double>(moves.swap_out_bytes));
  if (moves.swap_in_bytes > 0)
    split_over_gpus(id, host, Direction::to_gpus, server, gpus, static_cast<double>(moves.swap_in_bytes));
  if (!moves.fetches.empty()) {
    // One flow per source node and GPU, in node order so that flow ids are reproducible.
    std::map<NodeId, double> bytes_from;
    for (const KvFetch& f : moves.fetches) {
      const ServerId holder(f.source);
      const NodeId from = f.from == KvTier::ssd ? topology_.ssd(holder) : topology_.host_memory(holder);
      bytes_from[from] += static_cast<double>(moves.block_bytes);
    }
    for (const auto& [from, bytes] : bytes_from) split_over_gpus(id, from, Direction::to_gpus, server, gpus, bytes);
  }
  return true;
}

void KvTransfers::cancel(InstanceId id) {
  if (!moving(id)) return;
  for (const FlowId flow : flows_[id.value()]) network_.cancel(flow);
  flows_[id.value()].clear();
}

void KvTransfers::on_flow_done(FlowId flow, uint64_t tag) {
  const InstanceId id(static_cast<uint32_t>(tag));
  std::vector<FlowId>& flows = flows_[id.value()];
  std::erase(flows, flow);
  if (flows.empty()) listener_.on_kv_moved(id);
}

}  // namespace slsim
