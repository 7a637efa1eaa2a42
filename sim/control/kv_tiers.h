#pragma once
// KV offload tiers: where prompt prefix blocks go when an instance's GPU prefix cache evicts
// them, so that a later prompt sharing them fetches their keys and values instead of computing
// them. Per server, a host DRAM tier and a local SSD tier (LMCache's local CPU and disk
// backends); over the cluster, a pool in servers' DRAM reached over the network (Mooncake
// Store). A block evicted from a GPU goes to the first tier its server has; a tier full (LRU by
// bytes) pushes its least recently used block down to the next tier, and the last one drops it.
// A hit keeps the block where it is (a copy comes up) and makes it the tier's most recent. A
// pooled block lives in the DRAM of the server that pushed it there. Blocks are keyed by model
// and prefix block id: the same prompt under two models has different keys and values.
//
// Invariants: a tier's used bytes are the sum of its blocks' bytes and never exceed its
// capacity; a block is at most once in each tier (it may be in several: DRAM and SSD, say).

#include <cstdint>
#include <list>
#include <memory>
#include <optional>
#include <unordered_map>
#include <vector>

#include "sim/core/fields.h"
#include "sim/core/ids.h"
#include "sim/engine/kv_offload.h"

namespace slsim {

struct KvTierParams {
  int64_t dram_bytes_per_server = 0;
  int64_t ssd_bytes_per_server = 0;
  int64_t pool_bytes = 0;

  template <class V>
  void visit(V& v) {
    v.field("dram_bytes_per_server", dram_bytes_per_server,
            "host DRAM per server for prompt KV blocks the GPUs' prefix caches evict (LMCache's local CPU "
            "backend), bytes; fetched back over the host link. 0: no DRAM tier",
            at_least(0));
    v.field("ssd_bytes_per_server", ssd_bytes_per_server,
            "local SSD per server for prompt KV blocks the DRAM tier evicts (or the GPUs, with no DRAM tier; "
            "LMCache's local disk backend), bytes; fetched back over the SSD read and host links. 0: no SSD tier",
            at_least(0));
    v.field("pool_bytes", pool_bytes,
            "cluster-wide KV pool in servers' DRAM for the blocks each server's last tier evicts (Mooncake "
            "Store), bytes over all servers; fetched from the holding server over the network. 0: no pool",
            at_least(0));
  }
  bool enabled() const { return !tiers().empty(); }
  // The tiers there are, top down: the chain an evicted block goes down.
  std::vector<KvTier> tiers() const {
    std::vector<KvTier> chain;
    if (dram_bytes_per_server > 0) chain.push_back(KvTier::dram);
    if (ssd_bytes_per_server > 0) chain.push_back(KvTier::ssd);
    if (pool_bytes > 0) chain.push_back(KvTier::pool);
    return chain;
  }
};

class KvTiers {
 public:
  KvTiers(const KvTierParams& params, size_t servers);

  // The nearest tier holding block `prefix_block` of `model` for an instance on `server`.
  std::optional<KvTier> holder(ServerId server, ModelId model, uint64_t prefix_block) const;
  // A block of `bytes` that a GPU of `server` evicted goes down to the server's first tier.
  void evicted(ServerId server, ModelId model, uint64_t prefix_block, int64_t bytes);
  // A prompt admitted on `server` takes the block from `tier`: it becomes that tier's most
  // recently used. Returns the server whose memory or SSD holds it: `server` itself, or for the
  // pool the server that pooled it.
  ServerId fetched(ServerId server, ModelId model, uint64_t prefix_block, KvTier tier);
  // Bytes held in a tier: a server's DRAM or SSD tier, or the pool (server ignored).
  int64_t used_bytes(KvTier tier, ServerId server) const;
  // What an instance of `model` on `server` sees; the tiers must outlive it.
  std::unique_ptr<KvOffload> offload_for(ServerId server, ModelId model, int64_t block_bytes);
  // Throws std::logic_error unless every tier's invariants hold.
  void audit() const;

 private:
  struct Key {
    ModelId model;
    uint64_t prefix_block;
    bool operator==(const Key&) const = default;
  };
  struct KeyHash {
    size_t operator()(const Key& k) const noexcept {
      return std::hash<uint64_t>()(k.prefix_block ^ (uint64_t{k.model.value()} << 48));
    }
  };
  struct Entry {
    std::list<Key>::iterator recency;
    int64_t bytes = 0;
    ServerId holder;  // whose DRAM or SSD holds it
  };
  // One tier: its blocks by key, least recently used first, within `capacity_bytes`.
  struct BlockLru {
    int64_t capacity_bytes = 0;
    int64_t used_bytes = 0;
    std::list<Key> recency;
    std::unordered_map<Key, Entry, KeyHash> entries;
  };
  struct Evicted {
    Key key;
    int64_t bytes;
    ServerId holder;
  };
  // Inserts (or refreshes) a block; the blocks pushed out to make room go to `out`.
  static void insert(BlockLru& lru, const Key& key, int64_t bytes, ServerId holder, std::vector<Evicted>& out);
  BlockLru& lru(KvTier tier, ServerId server);
  const BlockLru& lru(KvTier tier, ServerId server) const;

  std::vector<KvTier> chain_;   // KvTierParams::tiers()
  std::vector<BlockLru> dram_;  // by server
  std::vector<BlockLru> ssd_;   // by server
  BlockLru pool_;
  std::vector<Evicted> going_down_;  // evicted()'s scratch
  std::vector<Evicted> pushed_out_;
};

}  // namespace slsim
