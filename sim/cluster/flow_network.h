#pragma once
// Fluid bandwidth sharing: a transfer is a flow of bytes over a path of the topology's links, and
// the flows' rates are max-min fair (progressive filling), with an optional per-flow cap. Rates
// change only when a flow starts, finishes or is cancelled, so a flow's progress is linear between
// changes and is accounted lazily: each flow keeps its remaining bytes as of its last change.
// Starts, finishes and cancels at one simulated time are recomputed together at the end of that
// timestamp (Simulator::at_end_of_timestamp): no byte moves in between, so the rates are those
// of recomputing after each, and F loads starting at once cost one fill, not F.
// The next completion is one Simulator event, taken from a mutable heap of projected finish times;
// an event made stale by a later change is recognised by its sequence number and ignored.
//
// Invariants:
// - Locality. Two flows interact only through links they share. Call the flows and links
//   connected through shared links a component: no flow outside a component crosses one of its
//   links, so the network's max-min problem is the union of independent per-component problems
//   and its fair allocation the union of theirs. A start, finish or cancel changes one component's
//   problem (or merges, or splits components), so only the flows of the components holding the
//   changed flow's links are recomputed; every other flow's rate is still the max-min fair rate of
//   its unchanged component.
// - Conservation. A flow's delivered bytes are `bytes - remaining`; at completion its remaining
//   bytes are set to zero (not decremented by rate x time), so a finished flow has delivered
//   exactly what it was asked to move. Projected finish times are rounded up to whole
//   nanoseconds, so a flow is never due before its last byte and never a rounding error after.
// - Determinism. Completions due at the same time are handled in flow id order; rates depend
//   only on the flows' paths, caps and ids, never on addresses or hash order.
// - Ids. A flow id is valid from start() until its completion callback or cancel(); then it may
//   be reused by a later start().

#include <boost/heap/d_ary_heap.hpp>
#include <cstdint>
#include <limits>
#include <map>
#include <string>
#include <vector>

#include "sim/cluster/topology.h"
#include "sim/core/simulator.h"

namespace slsim {

class FlowListener {
 public:
  virtual ~FlowListener() = default;
  virtual void on_flow_done(FlowId flow, uint64_t tag) = 0;
};

struct FlowNetworkStats {
  uint64_t recomputations = 0;    // rate updates after starts, finishes and cancels
  uint64_t flows_recomputed = 0;  // over all recomputations: flows whose rate was recomputed
  uint64_t flows_started = 0;
  uint64_t flows_finished = 0;
};

class FlowNetwork final : public EventHandler {
 public:
  FlowNetwork(Simulator& sim, const Topology& topology);
  // The simulator holds a pointer to this network as an event handler.
  FlowNetwork(const FlowNetwork&) = delete;
  FlowNetwork& operator=(const FlowNetwork&) = delete;

  // Starts moving `bytes` from `from` to `to`; `max_rate_gbytes_per_s` caps the flow (a loader that cannot
  // go faster than its own CPU work, say). Completion is reported to the listener with `tag`, at
  // the time the last byte arrives plus the path's latency.
  FlowId start(NodeId from, NodeId to, double bytes, FlowListener& listener, uint64_t tag,
               double max_rate_gbytes_per_s = std::numeric_limits<double>::infinity());
  void cancel(FlowId flow);  // no callback
  // 0 once the last byte has left (the flow then waits out its path's latency). Brings the
  // rates of the current timestamp's changes up to date first.
  double rate_gbytes_per_s(FlowId flow);
  double remaining_bytes(FlowId flow) const;             // as of now
  size_t active_flows() const { return moving_flows_; }  // flows still moving bytes
  // Bytes delivered so far per link class (for summary.json "bytes moved per link class"): each
  // byte counts once on every link it crossed.
  std::map<std::string, double> bytes_by_link_class() const;
  void on_event(const Event& e) override;
  void on_end_of_timestamp() override;
  const char* name() const override { return "flow network"; }

  // Recomputes every flow's rate from scratch: the reference the incremental update is tested
  // and benchmarked against.
  void recompute_all_rates();
  const FlowNetworkStats& stats() const { return stats_; }
  // Throws std::logic_error unless no link carries more than its bandwidth, every flow has
  // between 0 and its size left, and the bytes of all flows started equal those finished,
  // cancelled and still active (nothing lost or made up).
  void audit() const;

 private:
  enum EventKind : uint16_t { kCompletion = 0, kDelivery = 1 };
  enum class Phase : uint8_t { free, moving, in_flight };

  struct Projection {
    Time finish;
    FlowId flow;
  };
  struct FinishesLater {
    bool operator()(const Projection& a, const Projection& b) const {
      return a.finish != b.finish ? a.finish > b.finish : a.flow > b.flow;
    }
  };
  using ProjectionHeap = boost::heap::d_ary_heap<Projection, boost::heap::arity<4>, boost::heap::mutable_<true>,
                                                 boost::heap::compare<FinishesLater>>;

  struct Flow {
    const std::vector<LinkId>* path = nullptr;
    std::vector<uint32_t> position_on_link;  // parallel to *path: index in that link's flow list
    FlowListener* listener = nullptr;
    uint64_t tag = 0;
    double bytes = 0;
    double remaining_bytes = 0;    // as of updated_at
    double rate_gbytes_per_s = 0;  // GB/s, which is bytes per nanosecond
    double max_rate_gbytes_per_s = 0;
    Time updated_at;
    Time latency;
    ProjectionHeap::handle_type projection;
    EventSeq delivery = 0;
    uint32_t generation = 0;
    Phase phase = Phase::free;
  };

  // A constraint in progressive filling: a link's fair share, or a flow's own cap.
  struct Share {
    double rate_gbytes_per_s;
    uint32_t id;
    bool is_flow_cap;
  };
  struct LargerShare {
    bool operator()(const Share& a, const Share& b) const {
      if (a.rate_gbytes_per_s != b.rate_gbytes_per_s) return a.rate_gbytes_per_s > b.rate_gbytes_per_s;
      if (a.is_flow_cap != b.is_flow_cap) return a.is_flow_cap;
      return a.id > b.id;
    }
  };

  FlowId allocate();
  void release(FlowId id);
  void attach(FlowId id);
  void detach(FlowId id);
  void settle(Flow& flow);
  Time projected_finish(const Flow& flow) const;
  void recompute(const std::vector<FlowId>& seed_flows, const std::vector<LinkId>& seed_links);
  // The seeds of changes since the last recompute; recomputed at the end of the timestamp.
  void mark_changed(FlowId started);
  void mark_changed(const std::vector<LinkId>& links);
  void recompute_changed();
  void fill(const std::vector<FlowId>& flows, const std::vector<LinkId>& links);
  void freeze(FlowId id, double rate_gbytes_per_s);
  void reschedule();
  void deliver(FlowId id);

  Simulator& sim_;
  const Topology& topology_;
  uint16_t handler_;
  std::vector<Flow> flows_;
  std::vector<FlowId> free_ids_;
  size_t moving_flows_ = 0;
  std::vector<std::vector<FlowId>> flows_on_link_;
  std::vector<uint16_t> link_class_of_;
  std::vector<std::string> class_names_;
  std::vector<double> class_bytes_done_;  // by flows that finished or were cancelled
  ProjectionHeap projections_;
  EventSeq pending_completion_ = 0;
  Time pending_completion_at_;
  FlowNetworkStats stats_;
  double bytes_started_ = 0;
  double bytes_ended_ = 0;  // of flows finished or cancelled

  // Scratch of recompute() and fill(), kept to avoid allocating per change.
  uint64_t epoch_ = 0;
  std::vector<uint64_t> link_seen_;
  std::vector<uint64_t> flow_seen_;
  std::vector<uint8_t> flow_frozen_;
  std::vector<double> capacity_left_gbytes_per_s_;
  std::vector<uint32_t> unfrozen_on_link_;
  std::vector<FlowId> component_flows_;
  std::vector<LinkId> component_links_;
  std::vector<Share> shares_;
  std::vector<FlowId> seed_flows_;
  std::vector<LinkId> seed_links_;
  bool changed_ = false;  // seeds are waiting for the end of the timestamp
  std::vector<std::pair<FlowId, uint32_t>> finished_;
};

}  // namespace slsim
