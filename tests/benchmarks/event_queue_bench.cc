// The event queue under the classic hold model (pop the earliest event, push one a random
// increment later, at a constant queue size) beside a bare std::priority_queue doing the same
// work. The ratio of the two is the figure of merit (issue target: within 1.5x).

#include <benchmark/benchmark.h>

#include <queue>
#include <random>
#include <vector>

#include "sim/core/event_queue.h"

namespace slsim {
namespace {

std::vector<int64_t> increments(size_t n) {
  std::mt19937_64 rng(1);
  std::exponential_distribution<double> exp(1.0 / 1000.0);
  std::vector<int64_t> v(n);
  for (auto& x : v) x = static_cast<int64_t>(exp(rng));
  return v;
}

void BM_EventQueueHold(benchmark::State& state) {
  const auto size = static_cast<size_t>(state.range(0));
  const auto inc = increments(1 << 16);
  EventQueue q;
  q.reserve(size + 1);
  for (size_t i = 0; i < size; ++i) q.push(Time::from_ns(inc[i % inc.size()]), 0, 0, static_cast<uint32_t>(i));
  size_t i = 0;
  for (auto _ : state) {
    const Event e = q.pop();
    q.push(e.time + Time::from_ns(inc[i++ & 0xffff]), e.handler, e.kind, e.target);
  }
  state.SetItemsProcessed(state.iterations());
}

struct BareEvent {
  int64_t time;
  uint64_t seq;
  uint32_t target;
  bool operator>(const BareEvent& o) const { return time != o.time ? time > o.time : seq > o.seq; }
};

void BM_StdPriorityQueueHold(benchmark::State& state) {
  const auto size = static_cast<size_t>(state.range(0));
  const auto inc = increments(1 << 16);
  std::vector<BareEvent> storage;
  storage.reserve(size + 1);
  std::priority_queue<BareEvent, std::vector<BareEvent>, std::greater<>> q(std::greater<>{}, std::move(storage));
  uint64_t seq = 0;
  for (size_t i = 0; i < size; ++i) q.push({inc[i % inc.size()], ++seq, static_cast<uint32_t>(i)});
  size_t i = 0;
  for (auto _ : state) {
    const BareEvent e = q.top();
    q.pop();
    q.push({e.time + inc[i++ & 0xffff], ++seq, e.target});
  }
  state.SetItemsProcessed(state.iterations());
}

BENCHMARK(BM_EventQueueHold)->RangeMultiplier(10)->Range(100, 1000000);
BENCHMARK(BM_StdPriorityQueueHold)->RangeMultiplier(10)->Range(100, 1000000);

}  // namespace
}  // namespace slsim
