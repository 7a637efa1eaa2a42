#include "sim/cluster/flow_network.h"

#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "sim/core/random.h"
#include "tests/unit/cluster/test_clusters.h"

namespace slsim {
namespace {

using testing::CustomBuilder;
using testing::node_named;
using testing::random_fabric;
using testing::RandomFabric;
using testing::server_group;

struct Done {
  FlowId flow;
  uint64_t tag;
  Time at;
  bool operator==(const Done&) const = default;
};

class Recorder : public FlowListener {
 public:
  explicit Recorder(Simulator& sim) : sim_(sim) {}
  void on_flow_done(FlowId flow, uint64_t tag) override {
    done.push_back({flow, tag, sim_.now()});
    if (then) then(flow, tag);
  }
  std::vector<Done> done;
  std::function<void(FlowId, uint64_t)> then;

 private:
  Simulator& sim_;
};

// Runs a callback at a simulated time.
class At : public EventHandler {
 public:
  explicit At(Simulator& sim) : sim_(sim), id_(sim.add_handler(this)) {}
  void schedule(Time when, std::function<void()> action) {
    actions_.push_back(std::move(action));
    sim_.schedule_at(when, id_, 0, static_cast<uint32_t>(actions_.size() - 1));
  }
  void on_event(const Event& e) override { actions_[e.target](); }

 private:
  Simulator& sim_;
  uint16_t id_;
  std::vector<std::function<void()>> actions_;
};

// A custom topology with extra switch nodes a, b, c, d on one one-GPU server.
struct Net : ::testing::Test {
  Cluster cluster{{server_group(1, 1)}, 1.25};
  Simulator sim;
  Recorder recorder{sim};
  At at{sim};
  std::unique_ptr<Topology> topology;
  std::unique_ptr<FlowNetwork> net;

  void build(CustomBuilder& b) {
    b.node("a").node("b").node("c").node("d");
    topology = std::make_unique<Topology>(cluster, b.params);
    net = std::make_unique<FlowNetwork>(sim, *topology);
  }
  NodeId n(const std::string& name) const { return node_named(*topology, name); }
  FlowId start(const std::string& from, const std::string& to, double bytes, uint64_t tag,
               double cap = std::numeric_limits<double>::infinity()) {
    return net->start(n(from), n(to), bytes, recorder, tag, cap);
  }
};

TEST_F(Net, OneFlowGetsTheWholeLink) {
  CustomBuilder b;
  b.link("a", "b", 10);
  build(b);
  const FlowId f = start("a", "b", 1e9, 7);
  EXPECT_EQ(net->rate_gbytes_per_s(f), 10);
  EXPECT_EQ(net->active_flows(), 1u);
  sim.run();
  EXPECT_EQ(recorder.done, (std::vector<Done>{{f, 7, Time::from_ms(100)}}));
  EXPECT_EQ(net->active_flows(), 0u);
}

TEST_F(Net, TwoEqualFlowsOnOneLinkGetHalfEachAndFinishInIdOrder) {
  CustomBuilder b;
  b.link("a", "b", 10);
  build(b);
  const FlowId f1 = start("a", "b", 1e9, 1);
  const FlowId f2 = start("a", "b", 1e9, 2);
  EXPECT_EQ(net->rate_gbytes_per_s(f1), 5);
  EXPECT_EQ(net->rate_gbytes_per_s(f2), 5);
  sim.run();
  EXPECT_EQ(recorder.done, (std::vector<Done>{{f1, 1, Time::from_ms(200)}, {f2, 2, Time::from_ms(200)}}));
}

// The textbook case: f1 crosses a->b (10 GB/s) and b->c (2 GB/s); f2 uses only a->b; f3 only
// b->c. b->c is the bottleneck of f1 and f3 (1 each); f2 takes what f1 leaves on a->b: 9.
TEST_F(Net, FlowBottleneckedElsewhereLeavesItsShareToOthers) {
  CustomBuilder b;
  b.link("a", "b", 10).link("b", "c", 2);
  build(b);
  const FlowId f1 = start("a", "c", 1e9, 1);
  const FlowId f2 = start("a", "b", 1e12, 2);
  const FlowId f3 = start("b", "c", 0.5e9, 3);
  EXPECT_DOUBLE_EQ(net->rate_gbytes_per_s(f1), 1);
  EXPECT_DOUBLE_EQ(net->rate_gbytes_per_s(f2), 9);
  EXPECT_DOUBLE_EQ(net->rate_gbytes_per_s(f3), 1);
  // f3 is done at 0.5 s; f1 (0.5e9 bytes left) then gets all of b->c, and f2 the rest of a->b.
  at.schedule(Time::from_ms(600), [&] {
    EXPECT_DOUBLE_EQ(net->rate_gbytes_per_s(f1), 2);
    EXPECT_DOUBLE_EQ(net->rate_gbytes_per_s(f2), 8);
    net->cancel(f2);
  });
  sim.run();
  EXPECT_EQ(recorder.done, (std::vector<Done>{{f3, 3, Time::from_ms(500)}, {f1, 1, Time::from_ms(750)}}));
}

TEST_F(Net, RateIsRecomputedWhenAFlowFinishes) {
  CustomBuilder b;
  b.link("a", "b", 10);
  build(b);
  const FlowId f1 = start("a", "b", 1e9, 1);
  const FlowId f2 = start("a", "b", 3e9, 2);
  // Both at 5 GB/s until f1 is done at 0.2 s; f2 then moves its last 2e9 bytes at 10 GB/s.
  sim.run();
  EXPECT_EQ(recorder.done, (std::vector<Done>{{f1, 1, Time::from_ms(200)}, {f2, 2, Time::from_ms(400)}}));
}

TEST_F(Net, RateCapLimitsAFlowAndTheOthersTakeTheRest) {
  CustomBuilder b;
  b.link("a", "b", 10);
  build(b);
  const FlowId capped = start("a", "b", 1e9, 1, 2);
  const FlowId free = start("a", "b", 1e9, 2);
  EXPECT_EQ(net->rate_gbytes_per_s(capped), 2);
  EXPECT_EQ(net->rate_gbytes_per_s(free), 8);
  sim.run();
  // The free flow finishes at 0.125 s; the capped one stays at 2 GB/s: 0.5 s.
  EXPECT_EQ(recorder.done, (std::vector<Done>{{free, 2, Time::from_ms(125)}, {capped, 1, Time::from_ms(500)}}));
}

TEST_F(Net, CancelledFlowHasNoCallbackAndFreesItsShare) {
  CustomBuilder b;
  b.link("a", "b", 10);
  build(b);
  const FlowId keep = start("a", "b", 1e9, 1);
  const FlowId drop = start("a", "b", 1e9, 2);
  at.schedule(Time::from_ms(100), [&] {
    EXPECT_DOUBLE_EQ(net->remaining_bytes(keep), 0.5e9);
    net->cancel(drop);
    EXPECT_EQ(net->rate_gbytes_per_s(keep), 10);
    EXPECT_EQ(net->active_flows(), 1u);
  });
  sim.run();
  EXPECT_EQ(recorder.done, (std::vector<Done>{{keep, 1, Time::from_ms(150)}}));
  EXPECT_THROW(net->cancel(drop), std::logic_error);
}

TEST_F(Net, CompletionComesAfterTheLastByteAndThePathLatency) {
  CustomBuilder b;
  b.link("a", "b", 10, 300).link("b", "c", 10, 200);
  build(b);
  const FlowId f = start("a", "c", 1e9, 1);
  at.schedule(Time::from_ms(100) + Time::from_ns(1), [&] {
    EXPECT_EQ(net->active_flows(), 0u);  // the last byte has left; it is still on its way
    EXPECT_EQ(net->rate_gbytes_per_s(f), 0);
    EXPECT_EQ(net->remaining_bytes(f), 0);
  });
  sim.run();
  EXPECT_EQ(recorder.done, (std::vector<Done>{{f, 1, Time::from_ms(100) + Time::from_ns(500'000)}}));
}

TEST_F(Net, CancelDuringThePathLatencySuppressesTheCallback) {
  CustomBuilder b;
  b.link("a", "b", 10, 1000);
  build(b);
  const FlowId f = start("a", "b", 1e9, 1);
  at.schedule(Time::from_ms(100) + Time::from_ns(1), [&] { net->cancel(f); });
  sim.run();
  EXPECT_TRUE(recorder.done.empty());
}

TEST_F(Net, EmptyFlowCompletesAfterThePathLatencyOnly) {
  CustomBuilder b;
  b.link("a", "b", 10, 3);
  build(b);
  const FlowId f = start("a", "b", 0, 4);
  sim.run();
  EXPECT_EQ(recorder.done, (std::vector<Done>{{f, 4, Time::from_ns(3000)}}));
}

TEST_F(Net, ListenerMayStartTheNextFlowFromItsCallback) {
  CustomBuilder b;
  b.link("a", "b", 10);
  build(b);
  recorder.then = [&](FlowId, uint64_t tag) {
    if (tag < 3) start("a", "b", 1e9, tag + 1);
  };
  start("a", "b", 1e9, 1);
  sim.run();
  ASSERT_EQ(recorder.done.size(), 3u);
  EXPECT_EQ(recorder.done[2].at, Time::from_ms(300));
  EXPECT_EQ(recorder.done[2].flow, recorder.done[0].flow);  // ids are reused once a flow is done
}

TEST_F(Net, BytesDeliveredEqualBytesSentPerLinkClass) {
  CustomBuilder b;
  b.link("a", "b", 3, 0, "x").link("b", "c", 7, 0, "y").link("a", "c", 1.1, 0, "x");
  build(b);
  const double sizes[] = {123456789, 987654321.5, 3.3e8, 77, 1e10 / 3};
  double a_to_c = 0;
  double b_to_c = 0;
  for (int i = 0; i < 5; ++i) {
    const bool from_a = i % 2 == 0;
    start(from_a ? "a" : "b", "c", sizes[i], i);
    (from_a ? a_to_c : b_to_c) += sizes[i];
    at.schedule(Time::from_ms(37 * i), [&, i] { start("a", "b", sizes[i], 10 + i, 0.7); });
  }
  sim.run();
  EXPECT_EQ(recorder.done.size(), 10u);
  // a->c takes its direct link ("x", one hop); b->c crosses "y"; a->b crosses "x".
  const auto bytes = net->bytes_by_link_class();
  double to_b = 0;
  for (const double s : sizes) to_b += s;
  EXPECT_EQ(bytes.at("x"), a_to_c + to_b);
  EXPECT_EQ(bytes.at("y"), b_to_c);
}

TEST_F(Net, BytesMovedSoFarCountFlowsInProgressAndCancelled) {
  CustomBuilder b;
  b.link("a", "b", 10, 0, "x");
  build(b);
  const FlowId f1 = start("a", "b", 1e9, 1);
  start("a", "b", 1e9, 2);
  at.schedule(Time::from_ms(40), [&] {
    EXPECT_DOUBLE_EQ(net->bytes_by_link_class().at("x"), 0.4e9);
    net->cancel(f1);
  });
  sim.run();
  EXPECT_DOUBLE_EQ(net->bytes_by_link_class().at("x"), 0.2e9 + 1e9);
}

TEST_F(Net, ChangeRecomputesOnlyTheFlowsThatShareLinksWithIt) {
  CustomBuilder b;
  b.link("a", "b", 10).link("c", "d", 10).link("b", "c", 10);
  build(b);
  start("a", "b", 1e9, 1);
  start("a", "b", 1e9, 2);
  net->rate_gbytes_per_s(start("c", "d", 1e9, 3));  // reading a rate applies the changes so far
  FlowNetworkStats before = net->stats();
  net->rate_gbytes_per_s(start("c", "d", 1e9, 4));  // shares c->d with one flow only
  EXPECT_EQ(net->stats().flows_recomputed - before.flows_recomputed, 2u);
  before = net->stats();
  net->rate_gbytes_per_s(start("a", "d", 1e9, 5));  // joins both groups through b->c: all five
  EXPECT_EQ(net->stats().flows_recomputed - before.flows_recomputed, 5u);
}

// Three flows start at time 0 from three events: one recomputation at the end of the
// timestamp gives each 10 / 3 GB/s; they finish together at 0.3 s (one more).
TEST_F(Net, FlowsStartedAtOneTimeAreRecomputedOnceAtItsEnd) {
  CustomBuilder b;
  b.link("a", "b", 10);
  build(b);
  std::vector<FlowId> flows;
  for (uint64_t tag = 1; tag <= 3; ++tag)
    at.schedule(Time::zero(), [&, tag] { flows.push_back(start("a", "b", 1e9, tag)); });
  at.schedule(Time::from_ms(100), [&] {
    for (const FlowId f : flows) EXPECT_DOUBLE_EQ(net->rate_gbytes_per_s(f), 10.0 / 3);
  });
  sim.run();
  EXPECT_EQ(net->stats().recomputations, 2u);
  ASSERT_EQ(recorder.done.size(), 3u);
  for (const Done& d : recorder.done) EXPECT_EQ(d.at, Time::from_ms(300));
}

// A flow started and cancelled in one timestamp leaves nothing to recompute for: its id may be
// taken by the next start at that time, which then gets the link alone.
TEST_F(Net, FlowCancelledInTheTimestampItStartedIsForgotten) {
  CustomBuilder b;
  b.link("a", "b", 10);
  build(b);
  FlowId second = 0;
  at.schedule(Time::zero(), [&] {
    net->cancel(start("a", "b", 1e9, 1));
    second = start("a", "b", 1e9, 2);
  });
  sim.run();
  EXPECT_EQ(recorder.done, (std::vector<Done>{{second, 2, Time::from_ms(100)}}));
}

// Two servers of rack 0 send to rack 1 through its 2:1 oversubscribed uplink (2 x 12.5 / 2 =
// 12.5 GB/s): 6.25 GB/s each, though each NIC could do 12.5. A download from the store (1.25
// GB/s) is bottlenecked there, and the intra-server copy is alone on its PCIe link.
TEST(FlowNetworkOnGeneratedFabric, OversubscribedUplinkAndRemoteStoreAreTheBottlenecks) {
  Cluster cluster({server_group(4)}, 1.25);
  TopologyParams params;
  params.servers_per_rack = 2;
  params.oversubscription = 2;
  Topology t(cluster, params);
  Simulator sim;
  Recorder recorder(sim);
  FlowNetwork net(sim, t);
  const FlowId a = net.start(t.host_memory(ServerId(0)), t.host_memory(ServerId(2)), 1e9, recorder, 0);
  const FlowId b = net.start(t.host_memory(ServerId(1)), t.host_memory(ServerId(3)), 1e9, recorder, 1);
  const FlowId download = net.start(t.remote_storage(), t.host_memory(ServerId(0)), 1e9, recorder, 2);
  const FlowId copy = net.start(t.host_memory(ServerId(0)), t.gpu(ServerId(0), 1), 1e9, recorder, 3);
  EXPECT_EQ(net.rate_gbytes_per_s(a), 6.25);
  EXPECT_EQ(net.rate_gbytes_per_s(b), 6.25);
  EXPECT_EQ(net.rate_gbytes_per_s(download), 1.25);
  EXPECT_EQ(net.rate_gbytes_per_s(copy), 25);
  sim.run();
  ASSERT_EQ(recorder.done.size(), 4u);
  // The copy: 40 ms plus 1 us of PCIe latency.
  EXPECT_EQ(recorder.done[0], (Done{copy, 3, Time::from_ms(40) + Time::from_ns(1000)}));
}

TEST(FlowNetworkOnGeneratedFabric, SameInputsGiveTheSameCompletions) {
  const auto run = [] {
    Cluster cluster({server_group(6), server_group(2, 2, 12.5, "edge")}, 1.25);
    TopologyParams params;
    params.servers_per_rack = 3;
    params.sites.push_back(SiteParams{"edge", 0.5, 10});
    Topology t(cluster, params);
    Simulator sim;
    Recorder recorder(sim);
    FlowNetwork net(sim, t);
    RandomStream rng(7);
    for (uint64_t i = 0; i < 200; ++i) {
      const auto s = static_cast<ServerId>(rng.below(8));
      const NodeId from = rng.uniform() < 0.5 ? t.remote_storage() : t.host_memory(static_cast<ServerId>(rng.below(8)));
      if (from != t.host_memory(s)) net.start(from, t.host_memory(s), 1e8 * (1 + rng.uniform()), recorder, i);
    }
    sim.run();
    return recorder.done;
  };
  const auto first = run();
  EXPECT_GT(first.size(), 150u);
  EXPECT_EQ(first, run());
}

// Max-min fairness, checked from its definition: every link carries at most its bandwidth, and
// every flow is at its cap or has a bottleneck, a saturated link on its path where no flow is
// faster than it.
void expect_max_min_fair(const Topology& topology, FlowNetwork& net, const std::vector<FlowId>& flows,
                         const std::vector<std::vector<LinkId>>& paths, const std::vector<double>& caps) {
  std::vector<double> load(topology.link_count(), 0);
  std::vector<double> fastest(topology.link_count(), 0);
  for (size_t i = 0; i < flows.size(); ++i) {
    for (const LinkId l : paths[i]) {
      load[l] += net.rate_gbytes_per_s(flows[i]);
      fastest[l] = std::max(fastest[l], net.rate_gbytes_per_s(flows[i]));
    }
  }
  const double tolerance = 1e-9;
  for (LinkId l = 0; l < topology.link_count(); ++l)
    ASSERT_LE(load[l], topology.link(l).bandwidth_gbytes_per_s * (1 + tolerance)) << "link " << l;
  for (size_t i = 0; i < flows.size(); ++i) {
    const double rate = net.rate_gbytes_per_s(flows[i]);
    ASSERT_GT(rate, 0);
    if (rate >= caps[i] * (1 - tolerance)) continue;
    bool bottlenecked = false;
    for (const LinkId l : paths[i]) {
      const bool saturated = load[l] >= topology.link(l).bandwidth_gbytes_per_s * (1 - tolerance);
      if (saturated && rate >= fastest[l] * (1 - tolerance)) bottlenecked = true;
    }
    ASSERT_TRUE(bottlenecked) << "flow " << flows[i] << " at " << rate << " GB/s has no bottleneck";
  }
}

TEST(FlowNetworkRandomized, RatesAreMaxMinFairOnRandomTopologies) {
  RandomStream rng(20240611);
  for (int trial = 0; trial < 40; ++trial) {
    Cluster cluster({server_group(1, 1)}, 1.25);
    // A random spanning tree of duplex links keeps every node reachable; random one-way links
    // add alternative routes and shared bottlenecks.
    const RandomFabric fabric = random_fabric(rng, 4, 12, 1.0, 2, [&] { return 1 + 99 * rng.uniform(); });
    const std::vector<std::string>& names = fabric.names;
    Topology topology(cluster, fabric.builder.params);
    Simulator sim;
    Recorder recorder(sim);
    FlowNetwork net(sim, topology);
    std::vector<FlowId> flows;
    std::vector<std::vector<LinkId>> paths;
    std::vector<double> caps;
    const size_t count = 1 + rng.below(60);
    for (size_t i = 0; i < count; ++i) {
      const auto from = static_cast<NodeId>(rng.below(names.size()));
      const auto to = static_cast<NodeId>((from + 1 + rng.below(names.size() - 1)) % names.size());
      const double cap = rng.uniform() < 0.2 ? 0.5 + 20 * rng.uniform() : std::numeric_limits<double>::infinity();
      flows.push_back(net.start(from, to, 1e9, recorder, i, cap));
      paths.push_back(topology.path(from, to));
      caps.push_back(cap);
      // Cancelling now and then exercises removals and component splits.
      if (rng.uniform() < 0.15) {
        const size_t victim = rng.below(flows.size());
        net.cancel(flows[victim]);
        flows.erase(flows.begin() + static_cast<std::ptrdiff_t>(victim));
        paths.erase(paths.begin() + static_cast<std::ptrdiff_t>(victim));
        caps.erase(caps.begin() + static_cast<std::ptrdiff_t>(victim));
      }
      expect_max_min_fair(topology, net, flows, paths, caps);
      if (::testing::Test::HasFatalFailure()) return;
    }
    // The incremental rates are those a recomputation of every flow gives.
    std::vector<double> incremental;
    for (const FlowId f : flows) incremental.push_back(net.rate_gbytes_per_s(f));
    net.recompute_all_rates();
    for (size_t i = 0; i < flows.size(); ++i)
      EXPECT_NEAR(net.rate_gbytes_per_s(flows[i]), incremental[i], 1e-9 * incremental[i]) << "trial " << trial;
    sim.run();
    EXPECT_EQ(recorder.done.size(), flows.size());
  }
}

// Flows finishing at random times on a generated fabric with a remote site: after every
// completion the remaining flows are still max-min fair.
TEST(FlowNetworkRandomized, RatesStayMaxMinFairAsFlowsFinish) {
  Cluster cluster({server_group(5, 4), server_group(3, 2, 25, "edge")}, 2.5);
  TopologyParams params;
  params.servers_per_rack = 2;
  params.oversubscription = 3;
  params.sites.push_back(SiteParams{"edge", 1, 5});
  Topology t(cluster, params);
  Simulator sim;
  Recorder recorder(sim);
  FlowNetwork net(sim, t);
  RandomStream rng(99);
  std::vector<FlowId> flows;
  std::vector<std::vector<LinkId>> paths;
  std::vector<double> caps;
  std::vector<double> sizes;  // whole bytes, so that their sums are exact
  std::vector<NodeId> nodes = {t.remote_storage()};
  for (const ServerId s : ids_below<ServerId>(8)) {
    nodes.insert(nodes.end(), {t.host_memory(s), t.ssd(s), t.gpu(s, 0), t.gpu(s, 1)});
  }
  for (uint64_t i = 0; i < 300; ++i) {
    const NodeId from = nodes[rng.below(nodes.size())];
    NodeId to = nodes[rng.below(nodes.size())];
    if (to == from) continue;
    const double cap = rng.uniform() < 0.2 ? 0.1 + 10 * rng.uniform() : std::numeric_limits<double>::infinity();
    sizes.push_back(std::round(1e8 * (1 + 10 * rng.uniform())));
    flows.push_back(net.start(from, to, sizes.back(), recorder, flows.size(), cap));
    paths.push_back(t.path(from, to));
    caps.push_back(cap);
  }
  std::vector<bool> finished(flows.size(), false);
  size_t checks = 0;
  recorder.then = [&](FlowId, uint64_t tag) {
    finished[tag] = true;
    std::vector<FlowId> live;
    std::vector<std::vector<LinkId>> live_paths;
    std::vector<double> live_caps;
    for (size_t i = 0; i < flows.size(); ++i) {
      if (finished[i] || net.rate_gbytes_per_s(flows[i]) == 0) continue;  // done, or its last byte in flight
      live.push_back(flows[i]);
      live_paths.push_back(paths[i]);
      live_caps.push_back(caps[i]);
    }
    expect_max_min_fair(t, net, live, live_paths, live_caps);
    ++checks;
  };
  sim.run();
  EXPECT_EQ(checks, flows.size());
  EXPECT_EQ(net.active_flows(), 0u);
  std::map<std::string, double> expected;
  for (size_t i = 0; i < flows.size(); ++i)
    for (const LinkId l : paths[i]) expected[t.link(l).link_class] += sizes[i];
  for (const auto& [link_class, bytes] : net.bytes_by_link_class())
    EXPECT_EQ(bytes, expected[link_class]) << link_class;
}

}  // namespace
}  // namespace slsim
