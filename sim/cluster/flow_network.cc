#include "sim/cluster/flow_network.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <stdexcept>

namespace slsim {
namespace {

// Past any simulated horizon (about 31 years), yet far from overflowing Time when added to now.
constexpr double kNeverNs = 1e18;
// Rounding slack when converting a finish time to whole nanoseconds: a flow due at 1000.0000001
// ns because of floating-point error is due at 1000, not 1001.
constexpr double kRoundingSlackNs = 1e-6;

}  // namespace

FlowNetwork::FlowNetwork(Simulator& sim, const Topology& topology)
    : sim_(sim),
      topology_(topology),
      handler_(sim.add_handler(this)),
      flows_on_link_(topology.link_count()),
      link_seen_(topology.link_count(), 0),
      capacity_left_gbytes_per_s_(topology.link_count(), 0),
      unfrozen_on_link_(topology.link_count(), 0) {
  std::map<std::string, uint16_t> class_index;
  for (const auto& link : topology.links()) class_index.emplace(link.link_class, 0);
  for (auto& [name, index] : class_index) {
    index = static_cast<uint16_t>(class_names_.size());
    class_names_.push_back(name);
  }
  class_bytes_done_.assign(class_names_.size(), 0);
  link_class_of_.reserve(topology.link_count());
  for (const auto& link : topology.links()) link_class_of_.push_back(class_index.at(link.link_class));
}

FlowId FlowNetwork::allocate() {
  if (!free_ids_.empty()) {
    const FlowId id = free_ids_.back();
    free_ids_.pop_back();
    return id;
  }
  if (flows_.size() >= std::numeric_limits<FlowId>::max()) throw std::length_error("too many concurrent flows");
  flows_.emplace_back();
  flow_seen_.push_back(0);
  flow_frozen_.push_back(0);
  return static_cast<FlowId>(flows_.size() - 1);
}

void FlowNetwork::release(FlowId id) {
  Flow& flow = flows_[id];
  flow.phase = Phase::free;
  flow.listener = nullptr;
  ++flow.generation;
  free_ids_.push_back(id);
}

void FlowNetwork::attach(FlowId id) {
  Flow& flow = flows_[id];
  flow.position_on_link.resize(flow.path->size());
  for (size_t i = 0; i < flow.path->size(); ++i) {
    auto& on_link = flows_on_link_[(*flow.path)[i]];
    flow.position_on_link[i] = static_cast<uint32_t>(on_link.size());
    on_link.push_back(id);
  }
}

// Swap-and-pop from each link's list, fixing the moved flow's position on that link.
void FlowNetwork::detach(FlowId id) {
  Flow& flow = flows_[id];
  for (size_t i = 0; i < flow.path->size(); ++i) {
    const LinkId link = (*flow.path)[i];
    auto& on_link = flows_on_link_[link];
    const uint32_t position = flow.position_on_link[i];
    const FlowId moved = on_link.back();
    on_link[position] = moved;
    on_link.pop_back();
    if (moved == id) continue;
    Flow& other = flows_[moved];
    const auto at = std::find(other.path->begin(), other.path->end(), link) - other.path->begin();
    other.position_on_link[static_cast<size_t>(at)] = position;
  }
}

FlowId FlowNetwork::start(NodeId from, NodeId to, double bytes, FlowListener& listener, uint64_t tag,
                          double max_rate_gbytes_per_s) {
  if (!(bytes >= 0) || !std::isfinite(bytes))
    throw std::invalid_argument(fmt::format("a flow needs a finite byte count >= 0, got {}", bytes));
  if (!(max_rate_gbytes_per_s > 0))
    throw std::invalid_argument(fmt::format("a flow's rate cap must be > 0, got {}", max_rate_gbytes_per_s));
  const std::vector<LinkId>& path = topology_.path(from, to);
  const FlowId id = allocate();
  Flow& flow = flows_[id];
  flow.path = &path;
  flow.listener = &listener;
  flow.tag = tag;
  flow.bytes = bytes;
  flow.remaining_bytes = bytes;
  flow.rate_gbytes_per_s = 0;
  flow.max_rate_gbytes_per_s = max_rate_gbytes_per_s;
  flow.updated_at = sim_.now();
  flow.latency = topology_.path_latency(from, to);
  flow.delivery = 0;
  flow.phase = Phase::moving;
  flow.projection = projections_.push(Projection{Time::max(), id});
  attach(id);
  ++moving_flows_;
  ++stats_.flows_started;
  bytes_started_ += bytes;

  mark_changed(id);
  return id;
}

void FlowNetwork::cancel(FlowId id) {
  if (id >= flows_.size() || flows_[id].phase == Phase::free)
    throw std::logic_error(fmt::format("cancel of flow {}, which is not active", id));
  Flow& flow = flows_[id];
  if (flow.phase == Phase::moving) {
    settle(flow);
    for (const LinkId link : *flow.path) class_bytes_done_[link_class_of_[link]] += flow.bytes - flow.remaining_bytes;
    bytes_ended_ += flow.bytes;
    projections_.erase(flow.projection);
    detach(id);
    --moving_flows_;
    mark_changed(*flow.path);
    release(id);
  } else {
    release(id);
  }
}

double FlowNetwork::rate_gbytes_per_s(FlowId id) {
  if (id >= flows_.size() || flows_[id].phase == Phase::free)
    throw std::logic_error(fmt::format("rate of flow {}, which is not active", id));
  recompute_changed();
  const Flow& flow = flows_[id];
  return flow.phase == Phase::moving ? flow.rate_gbytes_per_s : 0;
}

double FlowNetwork::remaining_bytes(FlowId id) const {
  if (id >= flows_.size() || flows_[id].phase == Phase::free)
    throw std::logic_error(fmt::format("remaining bytes of flow {}, which is not active", id));
  const Flow& flow = flows_[id];
  if (flow.phase != Phase::moving) return 0;
  const double elapsed_ns = static_cast<double>((sim_.now() - flow.updated_at).ns());
  if (elapsed_ns == 0) return flow.remaining_bytes;
  return std::max(0.0, flow.remaining_bytes - flow.rate_gbytes_per_s * elapsed_ns);
}

std::map<std::string, double> FlowNetwork::bytes_by_link_class() const {
  std::vector<double> bytes = class_bytes_done_;
  for (FlowId id = 0; id < flows_.size(); ++id) {
    if (flows_[id].phase != Phase::moving) continue;
    const double delivered = flows_[id].bytes - remaining_bytes(id);
    for (const LinkId link : *flows_[id].path) bytes[link_class_of_[link]] += delivered;
  }
  std::map<std::string, double> by_class;
  for (size_t i = 0; i < class_names_.size(); ++i) by_class.emplace(class_names_[i], bytes[i]);
  return by_class;
}

void FlowNetwork::audit() const {
  auto fail = [](const std::string& what) { throw std::logic_error("flow network: " + what); };
  constexpr double kSlack = 1e-9;  // relative: rates and byte counts are sums of doubles
  double active_bytes = 0;
  for (FlowId id = 0; id < flows_.size(); ++id) {
    const Flow& flow = flows_[id];
    if (flow.phase != Phase::moving) continue;
    active_bytes += flow.bytes;
    const double left = remaining_bytes(id);
    if (!(left >= 0 && left <= flow.bytes))
      fail(fmt::format("flow {} has {} of its {} bytes left", id, left, flow.bytes));
  }
  for (LinkId link = 0; link < flows_on_link_.size(); ++link) {
    double rate = 0;
    for (const FlowId id : flows_on_link_[link]) rate += flows_[id].rate_gbytes_per_s;
    const double bandwidth = topology_.link(link).bandwidth_gbytes_per_s;
    if (rate > bandwidth * (1 + kSlack))
      fail(fmt::format("link {} carries {} GB/s over its {} GB/s", link, rate, bandwidth));
  }
  if (std::abs(bytes_started_ - bytes_ended_ - active_bytes) > kSlack * std::max(1.0, bytes_started_))
    fail(fmt::format("{} bytes started, but {} ended and {} are active", bytes_started_, bytes_ended_, active_bytes));
}

void FlowNetwork::settle(Flow& flow) {
  const Time now = sim_.now();
  const double elapsed_ns = static_cast<double>((now - flow.updated_at).ns());
  if (elapsed_ns > 0) flow.remaining_bytes = std::max(0.0, flow.remaining_bytes - flow.rate_gbytes_per_s * elapsed_ns);
  flow.updated_at = now;
}

Time FlowNetwork::projected_finish(const Flow& flow) const {
  if (flow.remaining_bytes == 0 || std::isinf(flow.rate_gbytes_per_s)) return flow.updated_at;
  const double ns = std::ceil(flow.remaining_bytes / flow.rate_gbytes_per_s - kRoundingSlackNs);
  return flow.updated_at + Time::from_ns(static_cast<int64_t>(std::clamp(ns, 0.0, kNeverNs)));
}

// Collects the components holding the seeds (flows, and links whose flows changed), brings their
// flows' byte counts up to now, and refills their rates; nothing outside them is read or written.
void FlowNetwork::recompute(const std::vector<FlowId>& seed_flows, const std::vector<LinkId>& seed_links) {
  ++epoch_;
  component_flows_.clear();
  component_links_.clear();
  const auto visit_flow = [&](FlowId id) {
    if (flow_seen_[id] == epoch_) return;
    flow_seen_[id] = epoch_;
    component_flows_.push_back(id);
    for (const LinkId link : *flows_[id].path) {
      if (link_seen_[link] == epoch_) continue;
      link_seen_[link] = epoch_;
      component_links_.push_back(link);
    }
  };
  // A seed flow cancelled since it started is no longer there (or its id is another flow's).
  for (const FlowId id : seed_flows)
    if (flows_[id].phase == Phase::moving) visit_flow(id);
  for (const LinkId link : seed_links) {
    if (link_seen_[link] == epoch_) continue;
    link_seen_[link] = epoch_;
    component_links_.push_back(link);
  }
  // component_links_ grows while it is scanned: a breadth-first search over links.
  for (size_t i = 0; i < component_links_.size(); ++i)
    for (const FlowId id : flows_on_link_[component_links_[i]]) visit_flow(id);

  for (const FlowId id : component_flows_) settle(flows_[id]);
  fill(component_flows_, component_links_);
  for (const FlowId id : component_flows_)
    projections_.update(flows_[id].projection, Projection{projected_finish(flows_[id]), id});
  ++stats_.recomputations;
  stats_.flows_recomputed += component_flows_.size();
}

void FlowNetwork::mark_changed(FlowId started) {
  seed_flows_.push_back(started);
  if (!changed_) sim_.at_end_of_timestamp(handler_);
  changed_ = true;
}

void FlowNetwork::mark_changed(const std::vector<LinkId>& links) {
  seed_links_.insert(seed_links_.end(), links.begin(), links.end());
  if (!changed_) sim_.at_end_of_timestamp(handler_);
  changed_ = true;
}

void FlowNetwork::recompute_changed() {
  if (!changed_) return;
  changed_ = false;
  recompute(seed_flows_, seed_links_);
  seed_flows_.clear();
  seed_links_.clear();
  reschedule();
}

void FlowNetwork::on_end_of_timestamp() { recompute_changed(); }

void FlowNetwork::recompute_all_rates() {
  changed_ = false;
  seed_flows_.clear();
  for (FlowId id = 0; id < flows_.size(); ++id)
    if (flows_[id].phase == Phase::moving) seed_flows_.push_back(id);
  seed_links_.clear();
  recompute(seed_flows_, seed_links_);
  reschedule();
}

// Progressive filling: raise every unfrozen flow's rate together; the first constraint to bind
// (the link with the least fair share of its remaining capacity, or a flow's own cap) freezes its
// flows at that rate. A link's share never decreases while filling (freezing one of its k flows
// at the minimum share r <= c/k leaves (c - r)/(k - 1) >= c/k), so a heap entry is a lower bound
// of its link's share: a popped entry that no longer equals the share goes back in with the
// current value, and one that does is the true minimum. That re-pushes a link only when it reaches
// the top, not at every change. Rates are clamped to the fill level so that rounding cannot make
// a later flow slower than an earlier bottleneck.
void FlowNetwork::fill(const std::vector<FlowId>& flows, const std::vector<LinkId>& links) {
  shares_.clear();
  double level_gbytes_per_s = 0;
  const auto push = [&](const Share& share) {
    shares_.push_back(share);
    std::push_heap(shares_.begin(), shares_.end(), LargerShare{});
  };
  const auto link_share = [&](LinkId link) {
    return std::max(capacity_left_gbytes_per_s_[link], 0.0) / unfrozen_on_link_[link];
  };
  for (const LinkId link : links) {
    capacity_left_gbytes_per_s_[link] = topology_.link(link).bandwidth_gbytes_per_s;
    unfrozen_on_link_[link] = static_cast<uint32_t>(flows_on_link_[link].size());
    if (unfrozen_on_link_[link] > 0) push(Share{link_share(link), link, false});
  }
  for (const FlowId id : flows) {
    flow_frozen_[id] = 0;
    if (std::isfinite(flows_[id].max_rate_gbytes_per_s)) push(Share{flows_[id].max_rate_gbytes_per_s, id, true});
  }
  while (!shares_.empty()) {
    std::pop_heap(shares_.begin(), shares_.end(), LargerShare{});
    const Share share = shares_.back();
    shares_.pop_back();
    if (share.is_flow_cap) {
      if (flow_frozen_[share.id]) continue;
      level_gbytes_per_s = std::max(level_gbytes_per_s, share.rate_gbytes_per_s);
      freeze(share.id, level_gbytes_per_s);
      continue;
    }
    const LinkId link = share.id;
    if (unfrozen_on_link_[link] == 0) continue;
    const double current = link_share(link);
    if (current != share.rate_gbytes_per_s) {
      push(Share{current, link, false});
      continue;
    }
    level_gbytes_per_s = std::max(level_gbytes_per_s, current);
    for (const FlowId id : flows_on_link_[link])
      if (!flow_frozen_[id]) freeze(id, level_gbytes_per_s);
  }
  // Flows on no link with no cap (a copy within one node) are unconstrained.
  for (const FlowId id : flows)
    if (!flow_frozen_[id]) flows_[id].rate_gbytes_per_s = std::numeric_limits<double>::infinity();
}

void FlowNetwork::freeze(FlowId id, double rate_gbytes_per_s) {
  Flow& flow = flows_[id];
  flow_frozen_[id] = 1;
  flow.rate_gbytes_per_s = rate_gbytes_per_s;
  for (const LinkId link : *flow.path) {
    capacity_left_gbytes_per_s_[link] -= rate_gbytes_per_s;
    --unfrozen_on_link_[link];
  }
}

void FlowNetwork::reschedule() {
  if (projections_.empty()) {
    pending_completion_ = 0;
    return;
  }
  const Time next = projections_.top().finish;
  if (pending_completion_ != 0 && pending_completion_at_ == next) return;
  pending_completion_ = sim_.schedule_at(next, handler_, kCompletion, 0);
  pending_completion_at_ = next;
}

void FlowNetwork::on_event(const Event& e) {
  if (e.kind == kDelivery) {
    if (e.target < flows_.size() && flows_[e.target].phase == Phase::in_flight && flows_[e.target].delivery == e.seq)
      deliver(e.target);
    return;
  }
  if (e.seq != pending_completion_) return;
  pending_completion_ = 0;
  const Time now = sim_.now();
  finished_.clear();
  while (!projections_.empty() && projections_.top().finish <= now) {
    const FlowId id = projections_.top().flow;
    projections_.pop();
    Flow& flow = flows_[id];
    flow.remaining_bytes = 0;
    flow.rate_gbytes_per_s = 0;
    flow.updated_at = now;
    for (const LinkId link : *flow.path) class_bytes_done_[link_class_of_[link]] += flow.bytes;
    bytes_ended_ += flow.bytes;
    detach(id);
    mark_changed(*flow.path);
    flow.phase = Phase::in_flight;
    --moving_flows_;
    ++stats_.flows_finished;
    finished_.emplace_back(id, flow.generation);
  }
  // Nothing finished (the flow due was cancelled): nothing to recompute, but the next is due.
  if (!changed_) reschedule();
  // Listeners run last, with every finished flow detached, since they may start or cancel
  // flows (recomputed with the finishes at the end of the timestamp); one may cancel another
  // finished flow, hence the generation check.
  for (size_t i = 0; i < finished_.size(); ++i) {
    const auto [id, generation] = finished_[i];
    Flow& flow = flows_[id];
    if (flow.phase != Phase::in_flight || flow.generation != generation) continue;
    if (flow.latency == Time::zero())
      deliver(id);
    else
      flow.delivery = sim_.schedule_in(flow.latency, handler_, kDelivery, id);
  }
}

void FlowNetwork::deliver(FlowId id) {
  FlowListener* listener = flows_[id].listener;
  const uint64_t tag = flows_[id].tag;
  release(id);
  listener->on_flow_done(id, tag);
}

}  // namespace slsim
