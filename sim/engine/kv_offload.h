#pragma once
// The KV cache below one instance's GPUs, as its engine sees it. A step may move KV bytes
// between the GPU and the tiers below it before it computes: a preempted request's blocks to
// host memory and back (swap), and prompt prefix blocks that a lower tier holds (offload tiers:
// host DRAM and the local SSD, LMCache-style, and a cluster-wide pool in other servers' DRAM,
// Mooncake Store-style). The engine knows neither time nor links: it lists what a step moves
// (KvMoves), and the caller moves it as flows over the instance's links, where it shares
// bandwidth with checkpoint loads, and lets the step compute once the last byte is in.

#include <cstddef>
#include <cstdint>
#include <iterator>
#include <optional>
#include <vector>

namespace slsim {

// Where a prefix block's keys and values were found: the instance's GPU cache or a tier below.
enum class KvTier : uint8_t { gpu, dram, ssd, pool };
inline constexpr KvTier kKvTiers[] = {KvTier::gpu, KvTier::dram, KvTier::ssd, KvTier::pool};
inline constexpr size_t kKvTierCount = std::size(kKvTiers);
inline const char* kv_tier_name(KvTier tier) {
  constexpr const char* kNames[] = {"gpu", "dram", "ssd", "pool"};
  return kNames[static_cast<size_t>(tier)];
}

// A prefix block brought up to the GPU from the tier below that holds it.
struct KvFetch {
  uint64_t prefix_block = 0;
  KvTier from = KvTier::dram;
  // Where in that tier its bytes are, opaque to the engine: KvOffload::fetched() sets it for the
  // mover (the id of the server whose DRAM or SSD holds it).
  uint32_t source = 0;
};

// What a step moves before it computes; valid from Engine::begin_step() to the next.
struct KvMoves {
  int64_t swap_out_bytes = 0;  // preempted requests' blocks, GPU -> host memory
  int64_t swap_in_bytes = 0;   // swapped requests' blocks, host memory -> GPU
  std::vector<KvFetch> fetches;
  int64_t block_bytes = 0;  // of one fetched block, every layer and tensor-parallel shard together

  bool empty() const { return swap_out_bytes == 0 && swap_in_bytes == 0 && fetches.empty(); }
};

// The tiers below one instance's GPU prefix cache.
class KvOffload {
 public:
  virtual ~KvOffload() = default;
  // The tier below the GPU that holds `prefix_block` now (the nearest, if several do); nullopt:
  // none.
  virtual std::optional<KvTier> holder(uint64_t prefix_block) const = 0;
  // The engine admits a prompt that takes `fetch`'s block from the tier holder() named: the
  // block becomes that tier's most recent, so that the admission's own evictions do not push
  // it out, and `fetch.source` says where its bytes are.
  virtual void fetched(KvFetch& fetch) = 0;
  // The GPU's prefix cache evicted `prefix_block`: it goes down to the first tier below.
  virtual void evicted(uint64_t prefix_block) = 0;
};

}  // namespace slsim
