// The flow network at the scale of the issue: 1,000 eight-GPU servers under 50 ToR switches and
// one spine (2:1 oversubscribed), 10,000 concurrent flows in a loader-like mix. Per server:
// four host->GPU copies, two GPU->GPU copies, an SSD read, an SSD write, a copy to another
// server and a download from the remote store. Counters:
//   flows_per_recompute  flows whose rate a change recomputed (the component it touched)
//   flow_events          starts, finishes and cancels handled per second (items/s)
// BM_FullRecompute is the reference a change would cost if it recomputed every flow.
//
//   build/release/tests/benchmarks/bench_flow_network

#include <benchmark/benchmark.h>

#include <memory>
#include <vector>

#include "sim/cluster/flow_network.h"
#include "sim/core/random.h"

namespace slsim {
namespace {

constexpr int64_t kServers = 1000;
constexpr int64_t kGpus = 8;
constexpr int kFlowsPerServer = 10;

ServerGroupSpec dgx_like() {
  ServerGroupSpec g;
  g.count = kServers;
  g.server.name = "bench";
  g.server.gpu = "bench-gpu";
  g.server.gpus = kGpus;
  g.server.dram_bytes = int64_t{1} << 41;
  g.server.ssd_read_gbytes_per_s = 16;
  g.server.nic_gbytes_per_s = 12.5;
  g.gpu.name = "bench-gpu";
  g.gpu.host_link_gbytes_per_s = 25;
  g.gpu.interconnect_gbytes_per_s = 300;
  return g;
}

enum class Kind { local, cross_server, remote };

struct Endpoints {
  NodeId from, to;
};

// The flow mix above; slot i of a server picks its kind.
Endpoints endpoints(const Topology& t, RandomStream& rng, ServerId s, int slot) {
  const auto gpu = [&] { return static_cast<int64_t>(rng.below(kGpus)); };
  switch (slot) {
    case 0:
    case 1:
    case 2:
    case 3:
      return {t.host_memory(s), t.gpu(s, gpu())};
    case 4:
    case 5: {
      const int64_t a = gpu();
      return {t.gpu(s, a), t.gpu(s, (a + 1 + static_cast<int64_t>(rng.below(kGpus - 1))) % kGpus)};
    }
    case 6:
      return {t.ssd(s), t.host_memory(s)};
    case 7:
      return {t.host_memory(s), t.ssd(s)};
    case 8:
      return {t.host_memory(s),
              t.host_memory(ServerId(static_cast<uint32_t>((s.value() + 1 + rng.below(kServers - 1)) % kServers)))};
    default:
      return {t.remote_storage(), t.host_memory(s)};
  }
}

int slot_of(Kind kind, RandomStream& rng) {
  switch (kind) {
    case Kind::local:
      return static_cast<int>(rng.below(8));
    case Kind::cross_server:
      return 8;
    default:
      return 9;
  }
}

class Restarter : public FlowListener {
 public:
  void on_flow_done(FlowId, uint64_t tag) override {
    if (!net) return;
    const auto s = static_cast<ServerId>(tag / kFlowsPerServer);
    const int slot = static_cast<int>(tag % kFlowsPerServer);
    const Endpoints e = endpoints(*topology, *rng, s, slot);
    net->start(e.from, e.to, size_bytes(), *this, tag);
  }
  double size_bytes() { return 1e8 + rng->exponential(1.0 / 2e9); }
  FlowNetwork* net = nullptr;
  const Topology* topology = nullptr;
  RandomStream* rng = nullptr;
};

struct Scene {
  Cluster cluster{{dgx_like()}, 50};
  Topology topology{cluster, [] {
                      TopologyParams p;
                      p.servers_per_rack = 20;
                      p.oversubscription = 2;
                      return p;
                    }()};
  Simulator sim;
  RandomStream rng{42};
  Restarter restarter;
  FlowNetwork net{sim, topology};
  std::vector<FlowId> flows;  // by tag

  Scene() {
    restarter.topology = &topology;
    restarter.rng = &rng;
    for (const ServerId s : ids_below<ServerId>(kServers)) {
      for (int slot = 0; slot < kFlowsPerServer; ++slot) {
        const Endpoints e = endpoints(topology, rng, s, slot);
        flows.push_back(net.start(e.from, e.to, restarter.size_bytes(), restarter, flows.size()));
      }
    }
  }
};

void report(benchmark::State& state, const FlowNetworkStats& before, const FlowNetworkStats& after) {
  const auto recomputations = static_cast<double>(after.recomputations - before.recomputations);
  state.counters["flows_per_recompute"] =
      recomputations > 0 ? static_cast<double>(after.flows_recomputed - before.flows_recomputed) / recomputations : 0;
  state.counters["concurrent_flows"] = static_cast<double>(kServers * kFlowsPerServer);
}

// Each iteration cancels one flow of the given kind and starts another of that kind in its
// place: two flow events, two recomputations, 10,000 flows throughout.
void BM_FlowEvent(benchmark::State& state) {
  const auto kind = static_cast<Kind>(state.range(0));
  Scene scene;
  const FlowNetworkStats before = scene.net.stats();
  for (auto _ : state) {
    const auto s = static_cast<ServerId>(scene.rng.below(kServers));
    const int slot = slot_of(kind, scene.rng);
    const size_t tag = s.index() * kFlowsPerServer + static_cast<size_t>(slot);
    scene.net.cancel(scene.flows[tag]);
    const Endpoints e = endpoints(scene.topology, scene.rng, s, slot);
    scene.flows[tag] = scene.net.start(e.from, e.to, 1e12, scene.restarter, tag);
  }
  state.SetItemsProcessed(2 * state.iterations());
  report(state, before, scene.net.stats());
  state.SetLabel(kind == Kind::local          ? "server-local flow"
                 : kind == Kind::cross_server ? "server-to-server flow"
                                              : "remote-store flow");
}
BENCHMARK(BM_FlowEvent)->DenseRange(0, 2)->Unit(benchmark::kMicrosecond);

// The simulator at work: flows finish and each finish starts a replacement (a hold model at
// 10,000 flows). Each iteration advances simulated time by 10 ms; items are flow events.
void BM_FlowCompletionsHold(benchmark::State& state) {
  Scene scene;
  scene.restarter.net = &scene.net;
  const FlowNetworkStats before = scene.net.stats();
  for (auto _ : state) scene.sim.run(scene.sim.now() + Time::from_ms(10));
  const FlowNetworkStats& after = scene.net.stats();
  state.SetItemsProcessed(static_cast<int64_t>((after.flows_started - before.flows_started) +
                                               (after.flows_finished - before.flows_finished)));
  report(state, before, after);
  state.counters["finishes_per_recompute"] = static_cast<double>(after.flows_finished - before.flows_finished) /
                                             static_cast<double>(after.recomputations - before.recomputations);
}
BENCHMARK(BM_FlowCompletionsHold)->Unit(benchmark::kMillisecond);

void BM_FullRecompute(benchmark::State& state) {
  Scene scene;
  const FlowNetworkStats before = scene.net.stats();
  for (auto _ : state) scene.net.recompute_all_rates();
  report(state, before, scene.net.stats());
}
BENCHMARK(BM_FullRecompute)->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace slsim
