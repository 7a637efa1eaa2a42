#include "sim/control/model_switching.h"

#include <algorithm>
#include <stdexcept>

namespace slsim {

ModelSwitching::ModelSwitching(Simulator& sim, const Cluster& cluster, InstanceRegistry& instances,
                               FlowNetwork& network, const Topology& topology, const SwitchPolicy& policy,
                               MigrationHost& host)
    : sim_(sim),
      cluster_(cluster),
      instances_(instances),
      network_(network),
      topology_(topology),
      policy_(policy),
      host_(host),
      handler_(sim.add_handler(this)) {
  for (const Server& s : cluster.servers()) {
    first_card_.push_back(static_cast<uint32_t>(cards_.size()));
    if (!switching(s.id)) continue;
    for (int64_t c = 0; c < s.profile->gpus / s.profile->gpus_sharing_compute; ++c) {
      cards_.emplace_back();
      cards_.back().server = s.id;
    }
  }
}

ModelSwitching::Seat& ModelSwitching::seat(InstanceId id) {
  if (seats_.size() <= id.index()) seats_.resize(id.index() + 1);
  Seat& s = seats_[id.index()];
  if (!s.present) {
    const Instance& inst = instances_.instance(id);
    const int64_t per_card = cluster_.server(inst.server).profile->gpus_sharing_compute;
    s = Seat{};
    s.present = true;
    s.card = first_card_[inst.server.index()] + static_cast<uint32_t>(inst.gpus.front() / per_card);
    // Its load brought its weights to a card no seat held: they are there until another seat
    // takes the card. A load beside an active seat is taken to have gone to host memory.
    const Card& card = cards_[s.card];
    s.fresh_epoch = card.active || card.incoming ? -1 : card.epoch;
  }
  return s;
}

void ModelSwitching::wait(Card& card, InstanceId id) {
  Seat& s = seats_[id.index()];
  if (s.waiting) return;
  s.waiting = true;
  s.waiting_since = sim_.now();
  card.waiting.push_back(id);
}

bool ModelSwitching::may_step(InstanceId id) {
  if (!any()) return true;  // every kick asks: one branch where no card switches
  const Instance& inst = instances_.instance(id);
  if (!switching(inst.server)) return true;
  const uint32_t c = seat(id).card;
  Card& card = cards_[c];
  const bool work = inst.engine->outstanding() > 0;
  if (card.active == id) {
    if (!work || card.waiting.empty() || sim_.now() < card.quantum_end) {
      // Done for now: the card goes to a waiting seat and this one goes idle.
      if (!work && !card.waiting.empty()) switch_for(c, id);
      return true;
    }
    // Its quantum is over and others wait: it queues again (begin_switch), and the policy may pick it.
    return switch_for(c, id);
  }
  if (!work) return true;                 // nothing to step: it goes idle as anywhere
  if (card.incoming == id) return false;  // the card is on its way to it
  wait(card, id);
  if (card.incoming) return false;
  if (!card.active || !instances_.instance(*card.active).engine->stepping()) return switch_for(c, id);
  if (sim_.now() >= card.quantum_end) host_.cut_run_short(*card.active);
  return false;
}

bool ModelSwitching::switch_for(uint32_t c, InstanceId asking) {
  asking_ = asking;
  begin_switch(c);
  asking_.reset();
  return cards_[c].active == asking;
}

SwitchCandidate ModelSwitching::candidate(InstanceId id) const {
  const Engine& engine = *instances_.instance(id).engine;
  SwitchCandidate out;
  out.instance = id;
  out.waiting_since = seats_[id.index()].waiting_since;
  out.unstarted = engine.queued();
  out.requests = engine.outstanding();
  const EngineStats& stats = engine.stats();
  if (stats.steps > 0) out.mean_step = Time::from_seconds(stats.busy_s / static_cast<double>(stats.steps));
  return out;
}

std::vector<SwitchCandidate> ModelSwitching::candidates(const Card& card) const {
  std::vector<SwitchCandidate> out;
  for (const InstanceId id : card.waiting) out.push_back(candidate(id));
  return out;
}

void ModelSwitching::begin_switch(uint32_t c) {
  Card& card = cards_[c];
  // An outgoing seat with requests left takes its turn again later.
  if (card.active && instances_.instance(*card.active).engine->outstanding() > 0) wait(card, *card.active);
  const size_t pick = policy_.next(candidates(card));
  const InstanceId next = card.waiting.at(pick);
  card.waiting.erase(card.waiting.begin() + static_cast<std::ptrdiff_t>(pick));
  Seat& in = seats_[next.index()];
  in.waiting = false;
  int64_t out_bytes = 0;
  const std::optional<InstanceId> out = card.active;
  if (out) {
    const Engine& engine = *instances_.instance(*out).engine;
    out_bytes = engine.kv_blocks_needed() * engine.kv_block_bytes();
    seats_[out->index()].offloaded_kv_bytes = out_bytes;
  }
  const Instance& incoming = instances_.instance(next);
  const bool fresh = in.fresh_epoch == card.epoch;
  const int64_t in_bytes = (fresh ? 0 : instances_.model(incoming.model).checkpoint_bytes) + in.offloaded_kv_bytes;
  in.offloaded_kv_bytes = 0;
  card.quantum_event = 0;  // a stale event: its sequence no longer matches
  card.active.reset();
  // Back to the seat that had it, or to weights a load just brought: nothing to move.
  if (out == next || (fresh && out_bytes == 0 && in_bytes == 0)) {
    activate(c, next, Time::zero());
    return;
  }
  ++switches_;
  switched_bytes_ += out_bytes + in_bytes;
  card.incoming = next;
  card.switch_began = sim_.now();
  const NodeId host = topology_.host_memory(card.server);
  if (out_bytes > 0)
    card.flows.push_back(network_.start(topology_.gpu(card.server, instances_.instance(*out).gpus.front()), host,
                                        static_cast<double>(out_bytes), *this, c));
  if (in_bytes > 0)
    card.flows.push_back(network_.start(host, topology_.gpu(card.server, incoming.gpus.front()),
                                        static_cast<double>(in_bytes), *this, c));
  if (card.flows.empty()) switch_moved(c);
}

void ModelSwitching::on_flow_done(FlowId flow, uint64_t tag) {
  const auto c = static_cast<uint32_t>(tag);
  std::erase(cards_[c].flows, flow);
  if (cards_[c].flows.empty()) switch_moved(c);
}

void ModelSwitching::switch_moved(uint32_t c) {
  cards_[c].done_event = sim_.schedule_in(policy_.overhead(), handler_, kSwitchDone, c);
}

void ModelSwitching::activate(uint32_t c, InstanceId id, Time switch_time) {
  Card& card = cards_[c];
  card.incoming.reset();
  card.active = id;
  ++card.epoch;
  const std::vector<SwitchCandidate> others = candidates(card);
  card.quantum_end = sim_.now() + policy_.quantum(candidate(id), others, switch_time);
  card.quantum_event = sim_.schedule_at(card.quantum_end, handler_, kQuantumEnd, c);
  if (asking_ != id) host_.kick(id);
}

void ModelSwitching::on_event(const Event& event) {
  const uint32_t c = event.target;
  Card& card = cards_[c];
  switch (event.kind) {
    case kSwitchDone:
      if (event.seq != card.done_event) return;
      card.done_event = 0;
      activate(c, *card.incoming, sim_.now() - card.switch_began);
      break;
    case kQuantumEnd:
      if (event.seq != card.quantum_event) return;
      card.quantum_event = 0;
      if (!card.active || card.waiting.empty()) return;
      if (instances_.instance(*card.active).engine->stepping())
        host_.cut_run_short(*card.active);
      else
        begin_switch(c);
      break;
    default:
      throw std::logic_error("unknown model-switching event");
  }
}

void ModelSwitching::leave(InstanceId id) {
  if (id.index() >= seats_.size() || !seats_[id.index()].present) return;
  const uint32_t c = seats_[id.index()].card;
  seats_[id.index()] = Seat{};
  Card& card = cards_[c];
  std::erase(card.waiting, id);
  if (card.incoming == id) {
    for (const FlowId flow : card.flows) network_.cancel(flow);
    card.flows.clear();
    card.done_event = 0;
    card.incoming.reset();
  }
  if (card.active == id) {
    card.quantum_event = 0;
    card.active.reset();
  }
  if (!card.active && !card.incoming && !card.waiting.empty()) begin_switch(c);
}

void ModelSwitching::audit() const {
  for (const Card& card : cards_) {
    if (card.active && card.incoming) throw std::logic_error("model switching: a card is active while it switches");
    for (const InstanceId id : card.waiting)
      if (card.active == id || card.incoming == id || !seats_[id.index()].waiting)
        throw std::logic_error("model switching: a waiting seat holds the card or is not marked waiting");
  }
  for (size_t i = 0; i < seats_.size(); ++i) {
    if (!seats_[i].present) continue;
    const InstanceId id(static_cast<uint32_t>(i));
    const Card& card = cards_[seats_[i].card];
    if (card.active != id && instances_.instance(id).computing())
      throw std::logic_error("model switching: a seat steps without its card");
  }
}

}  // namespace slsim
