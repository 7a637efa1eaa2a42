#include "sim/control/placer.h"

#include <algorithm>
#include <limits>
#include <span>
#include <stdexcept>

namespace slsim {
namespace {

// One prompt of `tokens` prefilled alone: what the placement's migration estimate a·tokens + b
// is fitted to.
Time prefill_time(const LatencyModel& latency, int64_t tokens) {
  if (tokens <= 0) return Time::zero();
  StepShape shape;
  shape.prefill_tokens = tokens;
  shape.prefill_attention_pairs = static_cast<double>(tokens) * static_cast<double>(tokens) / 2;
  shape.prefill_sequences = 1;
  return latency.step_time(shape);
}

bool live(MigrationMethod method) {
  return method == MigrationMethod::live_token || method == MigrationMethod::live_kv;
}

}  // namespace

InstancePlacer::InstancePlacer(const Simulator& sim, Cluster& cluster, Loader& loader, InstanceRegistry& instances,
                               const Router& router, PlacementPolicy& placement, const MigrationPolicy& migration,
                               LoadListener& load_listener, VictimHandler& victims)
    : sim_(sim),
      cluster_(cluster),
      loader_(loader),
      instances_(instances),
      router_(router),
      placement_(placement),
      migration_(migration),
      load_listener_(load_listener),
      victims_(victims) {
  for (const Server& s : cluster.servers()) any_elastic_ = any_elastic_ || instances.kv_pool().elastic(s.id);
}

bool InstancePlacer::has_room(ServerId server, const ModelState& m) const {
  if (cluster_.server(server).free_gpus < m.served.tensor_parallel) return false;
  const ElasticKvPool& pool = instances_.kv_pool();
  return !pool.elastic(server) || pool.seat(server, m.checkpoint_bytes).has_value();
}

std::vector<int64_t> InstancePlacer::take_gpus(ServerId server, const ModelState& m) {
  const ElasticKvPool& pool = instances_.kv_pool();
  if (cluster_.server(server).profile->gpu_memory_sharing == GpuMemorySharing::switching)
    return cluster_.take_gpu(server, switching_seat(server));
  if (!pool.elastic(server)) return cluster_.take_gpus(server, m.served.tensor_parallel);
  const std::optional<int64_t> seat = pool.seat(server, m.checkpoint_bytes);
  if (!seat) throw std::logic_error("an instance was placed on a server whose cards have no room for it");
  return cluster_.take_gpu(server, *seat);
}

// The models a switching card holds take turns at it, so a new one goes where the fewest do
// (the lowest such card, its lowest free seat), spreading the load over the cards.
int64_t InstancePlacer::switching_seat(ServerId server) const {
  const Server& s = cluster_.server(server);
  const int64_t per_card = s.profile->gpus_sharing_compute;
  std::optional<int64_t> best;
  int64_t best_taken = per_card;
  for (int64_t card = 0; card < s.profile->gpus / per_card; ++card) {
    int64_t taken = 0;
    std::optional<int64_t> free;
    for (int64_t gpu = card * per_card; gpu < (card + 1) * per_card; ++gpu) {
      if (s.gpu_taken[static_cast<size_t>(gpu)])
        ++taken;
      else if (!free)
        free = gpu;
    }
    if (free && taken < best_taken) {
      best = free;
      best_taken = taken;
    }
  }
  if (!best) throw std::logic_error("an instance was placed on a switching server with no free seat");
  return *best;
}

void InstancePlacer::start(ModelId model, StartReason reason) {
  instances_.start_requested(model);
  if (!try_place(model, reason)) waiting_.emplace_back(model, reason);
}

int64_t InstancePlacer::withdraw_waiting(ModelId model, int64_t count) {
  int64_t withdrawn = 0;
  for (auto it = waiting_.end(); withdrawn < count && it != waiting_.begin();) {
    --it;
    if (it->first != model) continue;
    it = waiting_.erase(it);
    instances_.start_withdrawn(model);
    ++withdrawn;
  }
  return withdrawn;
}

bool InstancePlacer::try_place(ModelId model, StartReason reason) {
  const ModelState& m = instances_.model(model);
  std::span<const uint8_t> holds = m.holds_by_server;
  // A full card's seats count as free GPUs: the policy sees only servers with room.
  if (any_elastic_) {
    fits_now_.assign(m.holds_by_server.begin(), m.holds_by_server.end());
    for (const Server& s : cluster_.servers())
      if (instances_.kv_pool().elastic(s.id) && !has_room(s.id, m)) fits_now_[s.id.index()] = 0;
    holds = fits_now_;
  }
  PlacementRequest request{model,
                           m.served.tensor_parallel,
                           m.checkpoint_bytes,
                           m.served.checkpoint,
                           false,
                           {},
                           holds,
                           static_cast<int64_t>(router_.queue(model).size()),
                           router_.queued_input_tokens(model)};
  std::vector<InstanceView> movable;
  if (migration_.method() != MigrationMethod::none) {
    // Only a model with no instance loading or ready takes GPUs from busy instances. A scale-out
    // that did would trade their work for its own: the newest instance, with the fewest tokens
    // done, is the next start's victim, and an autoscaler whose target exceeds the cluster keeps
    // restarting every instance as it becomes ready, so no request ever finishes.
    movable = movable_instances(!m.instances().empty());
    request.may_free_gpus = true;
    request.movable = movable;
  }
  auto placement = placement_.place(request);
  // Free GPUs first; then idle instances, only for requests that wait (else two models' starts
  // kept by their autoscalers would take turns releasing each other's idle instances).
  if (!placement && !request.may_free_gpus && migration_.idle_instances_yield() && router_.holds_any(model)) {
    movable = movable_instances(true);
    request.may_free_gpus = !movable.empty();
    request.movable = movable;
    if (request.may_free_gpus) placement = placement_.place(request);
  }
  if (!placement && request.may_free_gpus && !placement_.weighs_victims()) placement = cheapest_room(request);
  // Idle instances on a card shared elastically yield its memory as idle ones yield GPUs; the
  // policies see only servers with room, so the placer picks the card.
  if (!placement && any_elastic_ && migration_.idle_instances_yield() && router_.holds_any(model))
    placement = elastic_room(m, movable_instances(true));
  if (!placement) return false;
  if (placement->victims.empty()) {
    place_on(model, reason, placement->server, placement->estimated_start_s, sim_.now());
    return true;
  }
  make_room(*placement, model, reason);
  return true;
}

InstanceId InstancePlacer::place_on(ModelId model, StartReason reason, ServerId server, double estimated_start_s,
                                    Time placed, bool cold_start) {
  const ServedModel& served = instances_.model(model).served;
  LoadRequest load{InstanceId(), server, {}, {}, served.checkpoint, {}};
  // A loaded copy of the same model on this server can be copied GPU to GPU.
  if (const InstanceId copy = instances_.loaded_copy(model, server); !copy.is_none()) {
    load.source_gpus = instances_.instance(copy).gpus;
    load.source_instance = copy;
  } else if (loader_.reads_other_servers()) {
    for (const InstanceId copy : instances_.loaded_copies_elsewhere(model, server))
      load.peer_copies.push_back(PeerCopy{instances_.instance(copy).server, instances_.instance(copy).gpus, copy});
  }
  load.instance =
      instances_.add(model, server, take_gpus(server, instances_.model(model)), reason, estimated_start_s, placed);
  load.gpus = instances_.instance(load.instance).gpus;
  if (cold_start && load.source_gpus.empty()) add_stages(load);
  load.may_group = cold_start;
  instances_.set_state(load.instance, InstanceState::loading);
  loader_.start(load, load_listener_);
  return load.instance;
}

void InstancePlacer::add_stages(LoadRequest& load) {
  const int64_t servers = loader_.parallel_servers();
  if (servers <= 1) return;
  const bool from_store = std::any_of(load.parts.begin(), load.parts.end(), [&](const CheckpointPart& part) {
    return loader_.tier_holding(load.server, part.id) == Tier::remote;
  });
  if (!from_store) return;
  const Instance& inst = instances_.instance(load.instance);
  const ModelState& m = instances_.model(inst.model);
  const int64_t tp = m.served.tensor_parallel;
  // The servers with room for a stage, the most free GPUs first (the emptiest links), then by id.
  // A card shared elastically seats whole instances only (kv_pool.h), never a stage.
  std::vector<ServerId> candidates;
  for (const Server& s : cluster_.servers())
    if (s.id != load.server && s.free_gpus >= tp && m.holds_by_server[s.id.index()] != 0 &&
        !instances_.kv_pool().elastic(s.id))
      candidates.push_back(s.id);
  if (static_cast<int64_t>(candidates.size()) < servers - 1) {
    loader_.count_parallel_fallback();
    return;
  }
  std::stable_sort(candidates.begin(), candidates.end(),
                   [&](ServerId a, ServerId b) { return cluster_.server(a).free_gpus > cluster_.server(b).free_gpus; });
  candidates.resize(static_cast<size_t>(servers - 1));
  for (const ServerId s : candidates) load.stages.push_back(PeerCopy{s, cluster_.take_gpus(s, tp), load.instance});
  instances_.add_stages(load.instance, load.stages, hand_off_s_per_token(inst, load.stages));
}

double InstancePlacer::hand_off_s_per_token(const Instance& inst, std::span<const PeerCopy> stages) const {
  const ModelSpec& spec = instances_.model(inst.model).served.spec;
  const Topology& topology = loader_.topology();
  const double token_bytes = static_cast<double>(spec.architecture.hidden_size) * dtype_bytes(spec.dtype);
  double s_per_token = 0;
  NodeId previous = topology.gpu(inst.server, inst.gpus.front());
  for (const PeerCopy& stage : stages) {
    const NodeId next = topology.gpu(stage.server, stage.gpus.front());
    double slowest_gbytes_per_s = std::numeric_limits<double>::infinity();
    for (const LinkId link : topology.path(previous, next))
      slowest_gbytes_per_s = std::min(slowest_gbytes_per_s, topology.link(link).bandwidth_gbytes_per_s);
    s_per_token += token_bytes / (slowest_gbytes_per_s * 1e9);
    previous = next;
  }
  return s_per_token;
}

InstanceId InstancePlacer::place_ready(const InstanceAtStart& spec) {
  const ModelState& m = instances_.model(spec.model);
  if (m.holds_by_server[spec.server.index()] == 0 || !has_room(spec.server, m))
    throw std::logic_error("an instance at start was planned where it does not fit");
  const InstanceId id =
      instances_.add(spec.model, spec.server, take_gpus(spec.server, m), StartReason{}, -1, sim_.now());
  Instance& inst = instances_.instance(id);
  inst.at_start = true;
  inst.pinned = spec.pinned;
  inst.ready_at = sim_.now();
  inst.load.tier = Tier::gpu;  // its weights were on its GPUs before the run began
  instances_.ready_at_start(spec.model, spec.pinned);
  instances_.set_state(id, InstanceState::idle);
  return id;
}

std::optional<ServerId> InstancePlacer::relocation_server(const Instance& inst, double* load_s) const {
  const ModelState& m = instances_.model(inst.model);
  const ServedModel& served = m.served;
  std::optional<ServerId> best;
  for (const Server& s : cluster_.servers()) {
    if (s.id == inst.server || !has_room(s.id, m) || m.holds_by_server[s.id.index()] == 0) continue;
    const double t =
        (loader_.queue_wait(s.id) + loader_.estimate(s.id, served.checkpoint, served.tensor_parallel)).seconds();
    if (!best || t < *load_s) {
      best = s.id;
      *load_s = t;
    }
  }
  return best;
}

std::vector<InstanceView> InstancePlacer::movable_instances(bool idle_only) const {
  std::vector<InstanceView> views;
  for (const InstanceId id : instances_.instance_ids()) {
    const Instance& inst = instances_.instance(id);
    // A live-scaling instance is still loading: it goes when its load is done, like any load; a
    // parallel cold start's pipeline, once consolidated; a group's pipeline, once its group is loaded.
    if (!inst.engine || !serving(inst.state) || inst.migration >= 0 || inst.rebalancing >= 0 || inst.pinned ||
        !inst.live_source.is_none() || !inst.stages.empty() || inst.group_pipeline)
      continue;
    if (idle_only && (inst.engine->outstanding() > 0 || inst.engine->stepping())) continue;
    InstanceView v;
    v.instance = id;
    v.model = inst.model;
    v.server = inst.server;
    v.gpus = static_cast<int64_t>(inst.gpus.size());
    for (const auto& [request, tokens] : instances_.tokens_now(id)) {
      ++v.requests;
      v.tokens += tokens;
    }
    const double one = prefill_time(*inst.latency, 1).seconds();
    const double many = prefill_time(*inst.latency, 2048).seconds();
    v.prefill_s_per_token = (many - one) / 2047;
    v.prefill_base_s = one - v.prefill_s_per_token;
    if (v.requests > 0) relocation_server(inst, &v.relocation_load_s);
    views.push_back(v);
  }
  return views;
}

std::optional<Placement> InstancePlacer::elastic_room(const ModelState& m,
                                                      const std::vector<InstanceView>& idle) const {
  const ElasticKvPool& pool = instances_.kv_pool();
  std::optional<Placement> best;
  for (const Server& s : cluster_.servers()) {
    if (!pool.elastic(s.id) || m.holds_by_server[s.id.index()] == 0) continue;
    const int64_t needed = pool.bytes_needed(s.id, m.checkpoint_bytes);
    for (int64_t card = 0; card < pool.cards(s.id); ++card) {
      int64_t room = pool.free_bytes(s.id, card);
      bool seat = pool.free_seat(s.id, card);
      std::vector<InstanceId> victims;
      for (const InstanceView& v : idle) {
        if (room >= needed && seat) break;
        if (v.server != s.id || !pool.member(v.instance) || pool.card_of(v.instance) != card) continue;
        victims.push_back(v.instance);
        room += pool.bytes_of(v.instance);
        seat = true;
      }
      if (room >= needed && seat && (!best || victims.size() < best->victims.size()))
        best = Placement{s.id, std::move(victims), -1};
    }
  }
  return best;
}

std::optional<Placement> InstancePlacer::cheapest_room(const PlacementRequest& request) const {
  const bool moves_live = live(migration_.method());
  const auto cost = [moves_live](const InstanceView& v) {
    return moves_live && v.requests > 0 && v.relocation_load_s < 0 ? 1e300 : static_cast<double>(v.tokens);
  };
  std::optional<Placement> best;
  double best_cost = 0;
  for (const Server& s : cluster_.servers()) {
    auto victims = cheapest_victims(s, request, cost);
    if (!victims) continue;
    const double total = victims->total_cost;
    if (total >= 1e300) continue;
    if (!best || total < best_cost) {
      best = Placement{s.id, std::move(victims->instances), -1};
      best_cost = total;
    }
  }
  return best;
}

void InstancePlacer::make_room(const Placement& placement, ModelId model, StartReason reason) {
  reservations_.push_back(Reservation{model, reason, placement.server, placement.estimated_start_s, sim_.now()});
  for (const InstanceId victim : placement.victims) {
    const Instance& inst = instances_.instance(victim);
    // An earlier victim's release may have let a nested placement move this one already.
    if (!inst.engine || !serving(inst.state) || inst.migration >= 0 || inst.rebalancing >= 0) continue;
    if (inst.engine->outstanding() == 0 && !inst.engine->stepping()) {
      victims_.release_victim(victim);
      continue;
    }
    if (live(migration_.method()) && victims_.migrate_victim(victim, model)) continue;
    victims_.preempt_victim(victim, model);
  }
  fill_reservations(placement.server);
}

void InstancePlacer::fill_reservations(ServerId server) {
  for (auto it = reservations_.begin(); it != reservations_.end();) {
    const ModelState& m = instances_.model(it->model);
    if (it->server != server || !has_room(server, m)) {
      ++it;
      continue;
    }
    const Reservation r = *it;
    it = reservations_.erase(it);
    place_on(r.model, r.reason, r.server, r.estimated_start_s, r.placed);
  }
}

void InstancePlacer::queue_grew(ModelId model) {
  if (!placement_.weighs_victims()) return;
  if (std::none_of(waiting_.begin(), waiting_.end(), [model](const auto& start) { return start.first == model; }))
    return;
  place_waiting();
}

void InstancePlacer::place_waiting() {
  // Making room releases instances, which comes back here: the outer call goes round again.
  if (placing_) {
    place_again_ = true;
    return;
  }
  placing_ = true;
  do {
    place_again_ = false;
    const size_t waiting = waiting_.size();
    for (size_t i = 0; i < waiting; ++i) {
      const auto [model, reason] = waiting_.front();
      waiting_.pop_front();
      if (!try_place(model, reason)) waiting_.emplace_back(model, reason);
    }
  } while (place_again_);
  placing_ = false;
}

}  // namespace slsim
