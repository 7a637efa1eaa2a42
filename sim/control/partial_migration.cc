#include "sim/control/partial_migration.h"

#include <algorithm>

#include "sim/core/slots.h"

namespace slsim {

PartialMigrations::PartialMigrations(const Simulator& sim, InstanceRegistry& instances, InFlightRequests& in_flight,
                                     Loader& loader, const RebalancePolicy& policy, ServingObserver& observer,
                                     MigrationHost& host)
    : sim_(sim),
      instances_(instances),
      in_flight_(in_flight),
      loader_(loader),
      policy_(policy),
      observer_(observer),
      host_(host) {}

std::vector<InstanceLoad> PartialMigrations::loads(ModelId model) const {
  const int64_t block = instances_.engine_params().block_size;
  std::vector<InstanceLoad> loads;
  for (const InstanceId id : instances_.model(model).instances()) {
    const Instance& inst = instances_.instance(id);
    if (!inst.engine || !serving(inst.state) || inst.migration >= 0 || inst.rebalancing >= 0) continue;
    InstanceLoad l;
    l.instance = id;
    l.requests = inst.engine->outstanding();
    l.capacity_blocks = std::max<int64_t>(1, inst.engine->total_blocks());
    for (const auto& [request, tokens] : instances_.tokens_now(id, true)) {
      const int64_t blocks = (tokens + block - 1) / block;
      l.used_blocks += blocks;
      // Only single-sequence requests resume elsewhere (Engine::enqueue_resumed).
      if (tokens > 0 && engine_request(in_flight_.at(request).request).width() == 1)
        l.movable.push_back(MovableRequest{request, tokens, blocks});
    }
    std::sort(l.movable.begin(), l.movable.end(),
              [](const MovableRequest& a, const MovableRequest& b) { return a.request < b.request; });
    loads.push_back(std::move(l));
  }
  return loads;
}

void PartialMigrations::start(const RebalanceMove& move) {
  const int32_t slot = reuse_or_append(moves_, free_slots_);
  Move& g = moves_[slot];
  g = Move{};
  g.source = move.source;
  g.destination = move.destination;
  g.model = instances_.instance(move.source).model;
  g.started = sim_.now();
  for (const RequestId r : move.requests) g.sent[r] = 0;
  // Neither instance goes while the requests move: a keep-alive running out is re-armed when
  // the move ends.
  for (const InstanceId id : {move.source, move.destination}) {
    Instance& inst = instances_.instance(id);
    inst.rebalancing = slot;
    inst.expiry.cancel();
    inst.keep_alive_expired = false;
  }
  stage(slot);
}

int64_t PartialMigrations::in_transit(ModelId model) const {
  int64_t n = 0;
  for (const InstanceId id : instances_.model(model).instances()) {
    const Instance& inst = instances_.instance(id);
    if (inst.rebalancing >= 0 && moves_[inst.rebalancing].source == id)
      n += static_cast<int64_t>(moves_[inst.rebalancing].in_transit.size());
  }
  return n;
}

bool PartialMigrations::forget_finished(int32_t index) {
  Move& g = moves_[index];
  const auto present = instances_.tokens_now(g.source);
  std::erase_if(g.sent, [&present](const auto& sent) {
    return std::none_of(present.begin(), present.end(), [&sent](const auto& t) { return t.first == sent.first; });
  });
  if (!g.sent.empty()) return false;
  end(index);
  return true;
}

void PartialMigrations::stage(int32_t index) {
  if (forget_finished(index)) return;
  Move& g = moves_[index];
  const int64_t blocks = blocks_to_copy(g);
  if (blocks <= policy_.last_stage_max_blocks() || g.stages + 1 >= policy_.max_stages()) {
    stop_source(index);
    return;
  }
  ++g.stages;
  copy_kv(index, blocks);
}

void PartialMigrations::stop_source(int32_t index) {
  Move& g = moves_[index];
  if (instances_.instance(g.source).engine->stepping()) {
    g.stopping = true;
    host_.cut_run_short(g.source);
    return;
  }
  take_out(index);
}

bool PartialMigrations::step_done(InstanceId id) {
  const int32_t index = instances_.instance(id).rebalancing;
  Move& g = moves_[index];
  if (id != g.source || !g.stopping) return false;
  g.stopping = false;
  take_out(index);
  return true;
}

void PartialMigrations::take_out(int32_t index) {
  Move& g = moves_[index];
  const InstanceId source_id = g.source;
  Engine& source = *instances_.instance(source_id).engine;
  g.stopped = sim_.now();
  if (forget_finished(index)) return;
  const int64_t blocks = blocks_to_copy(g);
  g.final_copy = true;
  if (blocks > 0) copy_kv(index, blocks);
  for (const auto& [request, copied] : g.sent)
    g.in_transit.push_back(Transit{request, *source.remove(request), copied});
  g.sent.clear();
  instances_.reindex(source_id);
  if (g.flows_pending == 0) arrive(index);
  // The source serves the rest at once (the move may have ended and kicked it already; the
  // instance is looked up again, as a release on the way may have moved the registry's slots).
  if (instances_.instance(source_id).rebalancing >= 0) host_.kick(source_id);
}

// As a live-kv migration counts them (LiveMigration::blocks_to_copy): a request's blocks from
// the one holding its first token not yet copied to the one holding its last.
int64_t PartialMigrations::blocks_to_copy(const Move& g) const {
  const int64_t block = instances_.engine_params().block_size;
  int64_t blocks = 0;
  for (const auto& [request, count] : instances_.tokens_now(g.source, true)) {
    const auto it = g.sent.find(request);
    if (it != g.sent.end() && count > it->second) blocks += (count + block - 1) / block - it->second / block;
  }
  return blocks;
}

void PartialMigrations::copy_kv(int32_t index, int64_t blocks) {
  Move& g = moves_[index];
  const Instance& source = instances_.instance(g.source);
  const Instance& destination = instances_.instance(g.destination);
  for (const auto& [request, count] : instances_.tokens_now(g.source, true)) {
    const auto it = g.sent.find(request);
    if (it != g.sent.end()) it->second = std::max(it->second, count);
  }
  const int64_t bytes =
      blocks * instances_.engine_params().block_size * instances_.model(g.model).served.spec.kv_bytes_per_token();
  g.bytes_copied += bytes;
  // Two instances sharing their GPUs (compute_sharing.h) hold the blocks in one memory already.
  if (source.server == destination.server && source.gpus == destination.gpus) {
    if (!g.final_copy) stage(index);
    return;
  }
  g.flows_pending = copy_kv_shards(loader_, source, destination, bytes, *this, static_cast<uint64_t>(index));
}

void PartialMigrations::on_flow_done(FlowId, uint64_t tag) {
  const auto index = static_cast<int32_t>(tag);
  Move& g = moves_[index];
  if (--g.flows_pending > 0) return;
  if (g.final_copy)
    arrive(index);
  else
    stage(index);
}

void PartialMigrations::arrive(int32_t index) {
  Move& g = moves_[index];
  const Instance& source = instances_.instance(g.source);
  Instance& destination = instances_.instance(g.destination);
  MigrationRecord record;
  record.method = "rebalance";
  record.model = g.model;
  record.source = g.source;
  record.from = source.server;
  record.to = destination.server;
  record.made_room_for = g.model;
  record.started = g.started;
  for (const Transit& t : g.in_transit) {
    InFlight& f = in_flight_.at(t.request);
    ++f.migrated;
    f.server = destination.server;
    destination.engine->enqueue_resumed(engine_request(f.request), t.generated, t.resident);
    ++record.requests;
  }
  g.in_transit.clear();
  instances_.reindex(g.destination);
  record.rounds = g.stages + 1;
  record.bytes_copied = g.bytes_copied;
  record.pause = sim_.now() - g.stopped;
  record.ended = sim_.now();
  observer_.on_migration(record);
  end(index);
}

void PartialMigrations::end(int32_t index) {
  Move& g = moves_[index];
  const InstanceId source = g.source;
  const InstanceId destination = g.destination;
  instances_.instance(source).rebalancing = -1;
  instances_.instance(destination).rebalancing = -1;
  g.sent.clear();
  free_slots_.push_back(index);
  // The destination takes its new requests at its next step; either instance left idle by the
  // move goes the keep-alive's way now. Kicking one may release it and place others, which may
  // take the other as a victim: it is kicked only while it still serves.
  host_.cut_run_short(destination);
  host_.kick(destination);
  if (serving(instances_.instance(source).state)) host_.kick(source);
}

}  // namespace slsim
