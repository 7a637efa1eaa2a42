#pragma once
// Elastic KV memory on shared cards (Prism, kvcached): on a server whose profile sets
// gpu_memory_sharing = elastic-kv, the gpus_sharing_compute GPUs of a card are seats for
// instances of any models. Their weights stay resident for the instance's life; their KV caches
// draw blocks from one pool, the card's memory (memory_bytes x gpu_memory_utilization) less every
// resident instance's weights and activation reserve, as kvcached maps physical pages into each
// engine's virtual KV space on demand. Each instance keeps at least min_kv_reserve_bytes.
//
// Blocks are lent at step boundaries, the only moments an engine takes them: before a step the
// engine may take every free byte of its card (lend), after planning it or finishing one it keeps
// only what it holds and what the step in progress will take (reclaim), so the rest is free for
// the card's other instances. An engine that finds too few blocks preempts or waits as vLLM does.
// A new instance goes on the first card of its server with a free seat whose free memory holds
// its weights, activation reserve and minimum KV (first fit, which packs).
//
// Invariants (audit()): on every card, the resident bytes plus every member's held KV bytes
// (its lent blocks, at least its minimum) never exceed the card's pool; each member's engine
// holds exactly its lent blocks as capacity and needs no more than it.

#include <algorithm>
#include <cstdint>
#include <optional>
#include <vector>

#include "sim/cluster/cluster.h"
#include "sim/core/ids.h"
#include "sim/engine/engine.h"
#include "sim/engine/engine_params.h"

namespace slsim {

class ElasticKvPool {
 public:
  ElasticKvPool(const Cluster& cluster, const EngineParams& params);

  bool elastic(ServerId server) const {
    return cluster_.server(server).profile->gpu_memory_sharing == GpuMemorySharing::elastic_kv;
  }
  // The lowest free GPU (seat) of the first card of an elastic server with room for an instance
  // whose weights take `weights_bytes`; nullopt: none.
  std::optional<int64_t> seat(ServerId server, int64_t weights_bytes) const;
  // The instance on `gpu` (a seat that seat() gave) holds its weights there from now, and no KV
  // blocks of `block_bytes` yet: its engine starts with none (set_kv_blocks(0)).
  void join(InstanceId id, ServerId server, int64_t gpu, int64_t weights_bytes, int64_t block_bytes);
  void leave(InstanceId id);
  // Before a step: the engine may take every free block of its card.
  void lend(InstanceId id, Engine& engine);
  // After planning or finishing a step: the engine keeps what it needs, the rest goes back.
  void reclaim(InstanceId id, Engine& engine);
  bool member(InstanceId id) const { return id.index() < members_.size() && members_[id].present; }
  int64_t cards(ServerId server) const { return static_cast<int64_t>(cards_[server].size()); }
  // What an instance whose weights take `weights_bytes` needs free on a card of the server.
  int64_t bytes_needed(ServerId server, int64_t weights_bytes) const {
    return weights_bytes + activation_reserve_bytes_ + cluster_.server(server).profile->min_kv_reserve_bytes;
  }
  bool free_seat(ServerId server, int64_t card) const { return free_gpu(server, card).has_value(); }
  int64_t card_of(InstanceId id) const { return members_.at(id).card; }
  // What the member's leaving would give back to its card.
  int64_t bytes_of(InstanceId id) const {
    const Member& m = members_.at(id);
    return m.resident_bytes + held_kv_bytes(m);
  }
  // The bytes of the card's pool neither resident nor held as KV.
  int64_t free_bytes(ServerId server, int64_t card) const { return cards_[server][static_cast<size_t>(card)]; }

  // Throws std::logic_error naming the first broken invariant; `engine_of` gives a member's engine.
  template <class EngineOf>
  void audit(EngineOf&& engine_of) const;

 private:
  struct Member {
    bool present = false;
    ServerId server;
    int64_t card = 0;
    int64_t resident_bytes = 0;  // weights and activation reserve
    int64_t block_bytes = 0;
    int64_t lent_blocks = 0;
  };
  int64_t card_bytes(ServerId server) const;
  int64_t seats(ServerId server) const { return cluster_.server(server).profile->gpus_sharing_compute; }
  // The card's lowest-numbered free GPU (seat); nullopt: every seat is taken.
  std::optional<int64_t> free_gpu(ServerId server, int64_t card) const;
  int64_t min_kv(const Member& m) const { return cluster_.server(m.server).profile->min_kv_reserve_bytes; }
  int64_t held_kv_bytes(const Member& m) const { return std::max(m.lent_blocks * m.block_bytes, min_kv(m)); }
  void lend_blocks(Member& m, Engine& engine, int64_t blocks);
  [[noreturn]] static void fail(const char* what);

  const Cluster& cluster_;
  int64_t activation_reserve_bytes_;
  double memory_utilization_;
  // By server, then card: the pool's free bytes (elastic servers only).
  IdVector<ServerId, std::vector<int64_t>> cards_;
  IdVector<InstanceId, Member> members_;
};

template <class EngineOf>
void ElasticKvPool::audit(EngineOf&& engine_of) const {
  IdVector<ServerId, std::vector<int64_t>> used;
  for (const Server& s : cluster_.servers()) used.push_back(std::vector<int64_t>(cards_[s.id].size(), 0));
  for (const InstanceId id : members_.ids()) {
    const Member& m = members_[id];
    if (!m.present) continue;
    used[m.server][static_cast<size_t>(m.card)] += m.resident_bytes + held_kv_bytes(m);
    const Engine& engine = engine_of(id);
    if (engine.total_blocks() != m.lent_blocks || engine.kv_blocks_needed() > m.lent_blocks)
      fail("an engine's KV capacity differs from the blocks its card's pool lent it");
  }
  for (const Server& s : cluster_.servers())
    for (size_t c = 0; c < cards_[s.id].size(); ++c)
      if (used[s.id][c] + cards_[s.id][c] != card_bytes(s.id) || cards_[s.id][c] < 0)
        fail("a card's elastic KV pool lends more than it holds, or lost count");
}

}  // namespace slsim
