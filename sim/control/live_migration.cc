#include "sim/control/live_migration.h"

#include <algorithm>

#include "sim/core/slots.h"

namespace slsim {

LiveMigration::LiveMigration(const Simulator& sim, InstanceRegistry& instances, InstancePlacer& placer,
                             InFlightRequests& in_flight, Loader& loader, const MigrationPolicy& policy,
                             ServingObserver& observer, MigrationHost& host)
    : sim_(sim),
      instances_(instances),
      placer_(placer),
      in_flight_(in_flight),
      loader_(loader),
      policy_(policy),
      observer_(observer),
      host_(host) {}

bool LiveMigration::start(InstanceId id, ModelId made_room_for) {
  double load_s = 0;
  const auto to = placer_.relocation_server(instances_.instance(id), &load_s);
  if (!to) return false;
  const int32_t slot = reuse_or_append(migrations_, free_slots_);
  const ModelId model = instances_.instance(id).model;
  const InstanceId destination = placer_.place_on(model, StartReason{}, *to, -1, sim_.now(), false);
  Migration& g = migrations_[slot];
  g = Migration{};
  g.source = id;
  g.destination = destination;
  g.made_room_for = made_room_for;
  g.started = sim_.now();
  instances_.instance(id).migration = slot;
  instances_.instance(destination).migration = slot;
  instances_.migration_started(model);
  instances_.set_state(id, InstanceState::migrating);
  return true;
}

size_t LiveMigration::shadows_expected(InstanceId id) const {
  const int32_t index = instances_.instance(id).migration;
  if (index < 0 || migrations_[index].destination != id || policy_.method() != MigrationMethod::live_token) return 0;
  return migrations_[index].sent.size();
}

void LiveMigration::round(int32_t index) {
  Migration& g = migrations_[index];
  const bool kv = copies_kv();
  const auto tokens = instances_.tokens_now(g.source);
  // Requests that finished on the source need nothing more on the destination.
  for (auto it = g.sent.begin(); it != g.sent.end();) {
    const RequestId request = it->first;
    if (std::any_of(tokens.begin(), tokens.end(), [request](const auto& t) { return t.first == request; })) {
      ++it;
      continue;
    }
    if (!kv) instances_.instance(g.destination).engine->remove_shadow(request);
    it = g.sent.erase(it);
  }
  bool last = tokens.empty();
  int64_t arrived = 0;
  int64_t blocks = 0;
  if (kv) {
    blocks = blocks_to_copy(g);
    last = last || blocks <= policy_.last_stage_max_blocks() || g.rounds + 1 >= policy_.max_rounds();
  } else {
    for (const auto& [request, count] : tokens) {
      const auto it = g.sent.find(request);
      arrived += count - (it == g.sent.end() ? 0 : it->second);
    }
    last = last || (g.rounds > 0 && (arrived < policy_.stop_below_tokens() || g.rounds >= policy_.max_rounds()));
  }
  if (last) {
    stop_source(index);
    return;
  }
  ++g.rounds;
  if (kv) {
    copy_kv(index, blocks);
    return;
  }
  // The round is a prefill in the destination's engine beside its other work.
  Instance& destination = instances_.instance(g.destination);
  g.tokens_recomputed += arrived;
  for (const auto& [request, count] : tokens) {
    const auto it = g.sent.find(request);
    if (it == g.sent.end()) {
      EngineRequest shadow = engine_request(in_flight_.at(request).request);
      shadow.output_tokens = shadow.input_tokens + shadow.output_tokens - count;
      shadow.input_tokens = count;
      shadow.prefix_blocks.clear();
      destination.engine->enqueue_shadow(std::move(shadow));
    } else if (count > it->second) {
      destination.engine->extend_shadow(request, count - it->second);
    }
    g.sent[request] = count;
  }
  g.round_pending = true;
  host_.cut_run_short(g.destination);
  host_.kick(g.destination);
}

bool LiveMigration::step_done(InstanceId id) {
  const int32_t index = instances_.instance(id).migration;
  Migration& g = migrations_[index];
  if (id == g.source) {
    if (!instances_.instance(id).stop_for_migration) return false;
    source_stopped(index);
    return true;
  }
  if (g.switch_waiting) {
    switch_over(index);
    return true;
  }
  if (g.round_pending && instances_.instance(id).engine->unparked_shadows() == 0) {
    g.round_pending = false;
    round(index);
    // The round may have ended the migration, whose switch set the destination going.
    return instances_.instance(id).migration < 0;
  }
  return false;
}

void LiveMigration::stop_source(int32_t index) {
  Migration& g = migrations_[index];
  Instance& source = instances_.instance(g.source);
  if (!source.engine->stepping()) {
    source_stopped(index);
    return;
  }
  source.stop_for_migration = true;
  host_.cut_run_short(g.source);
}

void LiveMigration::source_stopped(int32_t index) {
  Migration& g = migrations_[index];
  g.stopped = sim_.now();
  if (copies_kv()) {
    const int64_t blocks = blocks_to_copy(g);
    if (blocks > 0) {
      g.final_copy = true;
      copy_kv(index, blocks);
      return;
    }
  }
  switch_over(index);
}

// A request's blocks from the one holding its first cached token not yet copied (a partial block
// is sent again once it has grown) to the one holding its last. A request waiting or swapped out
// has nothing in the GPUs' cache: the destination recomputes what was never copied.
int64_t LiveMigration::blocks_to_copy(const Migration& g) const {
  const int64_t block = instances_.engine_params().block_size;
  int64_t blocks = 0;
  for (const auto& [request, count] : instances_.tokens_now(g.source, true)) {
    const auto it = g.sent.find(request);
    const int64_t copied = it == g.sent.end() ? 0 : it->second;
    if (count > copied) blocks += (count + block - 1) / block - copied / block;
  }
  return blocks;
}

int64_t copy_kv_shards(Loader& loader, const Instance& source, const Instance& destination, int64_t bytes,
                       FlowListener& listener, uint64_t tag) {
  // Each tensor-parallel shard holds its share of the heads: one flow per GPU pair.
  const Topology& topology = loader.topology();
  const size_t shards = source.gpus.size();
  for (size_t i = 0; i < shards; ++i)
    loader.network().start(topology.gpu(source.server, source.gpus[i]),
                           topology.gpu(destination.server, destination.gpus[i]),
                           static_cast<double>(bytes) / static_cast<double>(shards), listener, tag);
  return static_cast<int64_t>(shards);
}

void LiveMigration::copy_kv(int32_t index, int64_t blocks) {
  Migration& g = migrations_[index];
  const Instance& source = instances_.instance(g.source);
  const Instance& destination = instances_.instance(g.destination);
  for (const auto& [request, count] : instances_.tokens_now(g.source, true))
    g.sent[request] = std::max(g.sent[request], count);
  const int64_t bytes =
      blocks * instances_.engine_params().block_size * instances_.model(source.model).served.spec.kv_bytes_per_token();
  g.bytes_copied += bytes;
  g.flows_pending = copy_kv_shards(loader_, source, destination, bytes, *this, static_cast<uint64_t>(index));
}

void LiveMigration::on_flow_done(FlowId, uint64_t tag) {
  const auto index = static_cast<int32_t>(tag);
  Migration& g = migrations_[index];
  if (--g.flows_pending > 0) return;
  if (g.final_copy)
    switch_over(index);
  else
    round(index);
}

void LiveMigration::switch_over(int32_t index) {
  Migration& g = migrations_[index];
  Instance& source = instances_.instance(g.source);
  Instance& destination = instances_.instance(g.destination);
  // The destination takes the requests between steps.
  if (destination.engine->stepping()) {
    g.switch_waiting = true;
    host_.cut_run_short(g.destination);
    return;
  }
  const bool kv = copies_kv();
  MigrationRecord record;
  record.method = kv ? "live-kv" : "live-token";
  record.model = source.model;
  record.source = g.source;
  record.from = source.server;
  record.to = destination.server;
  record.made_room_for = g.made_room_for;
  record.started = g.started;
  StepShape last_round;
  for (const auto& [request, count] : source.engine->request_tokens()) {
    const int64_t generated = *source.engine->remove(request);
    const auto sent = g.sent.find(request);
    const int64_t resident = sent == g.sent.end() ? 0 : sent->second;
    InFlight& f = in_flight_.at(request);
    ++f.migrated;
    f.server = destination.server;
    ++record.requests;
    if (kv) {
      destination.engine->enqueue_resumed(engine_request(f.request), generated, resident);
      continue;
    }
    if (resident > 0) {
      destination.engine->promote_shadow(engine_request(f.request), generated);
      g.sent.erase(sent);
    } else {
      destination.engine->enqueue_resumed(engine_request(f.request), generated, 0);
    }
    last_round.prefill_tokens += count - resident;
    const auto after = static_cast<double>(count);
    const auto before = static_cast<double>(resident);
    last_round.prefill_attention_pairs += (after * after - before * before) / 2;
    ++last_round.prefill_sequences;
  }
  // Shadows of requests that finished on the source since the last round.
  if (!kv)
    for (const auto& [request, tokens] : g.sent) destination.engine->remove_shadow(request);
  record.rounds = g.rounds + 1;
  record.tokens_recomputed = g.tokens_recomputed + last_round.prefill_tokens;
  record.bytes_copied = g.bytes_copied;
  record.pause = sim_.now() - g.stopped;
  if (last_round.prefill_tokens > 0) record.pause += destination.latency->step_time(last_round);
  record.ended = sim_.now();
  observer_.on_migration(record);

  const InstanceId source_id = g.source;
  const InstanceId destination_id = g.destination;
  source.migration = -1;
  source.stop_for_migration = false;
  destination.migration = -1;
  destination.served_any = true;
  g.sent.clear();
  free_slots_.push_back(index);
  instances_.reindex(source_id);
  instances_.reindex(destination_id);
  // The source's retire() takes its ready count back as it goes. Requests first: releasing the
  // source may place other instances, which must not find the destination idle and take it as a
  // victim before it got what was waiting.
  instances_.migration_switched(record.model);
  host_.switched_over(source_id, destination_id);
}

}  // namespace slsim
