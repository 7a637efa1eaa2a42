#include "sim/control/kv_tiers.h"

#include <fmt/format.h>

#include <stdexcept>

namespace slsim {
namespace {

// An instance's view: its server's tiers and the cluster's pool, for its model's blocks.
class InstanceOffload final : public KvOffload {
 public:
  InstanceOffload(KvTiers& tiers, ServerId server, ModelId model, int64_t block_bytes)
      : tiers_(tiers), server_(server), model_(model), block_bytes_(block_bytes) {}
  std::optional<KvTier> holder(uint64_t prefix_block) const override {
    return tiers_.holder(server_, model_, prefix_block);
  }
  void fetched(KvFetch& fetch) override {
    fetch.source = tiers_.fetched(server_, model_, fetch.prefix_block, fetch.from).value();
  }
  void evicted(uint64_t prefix_block) override { tiers_.evicted(server_, model_, prefix_block, block_bytes_); }

 private:
  KvTiers& tiers_;
  ServerId server_;
  ModelId model_;
  int64_t block_bytes_;
};

}  // namespace

KvTiers::KvTiers(const KvTierParams& params, size_t servers) : chain_(params.tiers()), dram_(servers), ssd_(servers) {
  for (BlockLru& lru : dram_) lru.capacity_bytes = params.dram_bytes_per_server;
  for (BlockLru& lru : ssd_) lru.capacity_bytes = params.ssd_bytes_per_server;
  pool_.capacity_bytes = params.pool_bytes;
}

KvTiers::BlockLru& KvTiers::lru(KvTier tier, ServerId server) {
  return const_cast<BlockLru&>(std::as_const(*this).lru(tier, server));
}

const KvTiers::BlockLru& KvTiers::lru(KvTier tier, ServerId server) const {
  switch (tier) {
    case KvTier::dram:
      return dram_[server.value()];
    case KvTier::ssd:
      return ssd_[server.value()];
    case KvTier::pool:
      return pool_;
    case KvTier::gpu:
      break;
  }
  throw std::logic_error("the GPU is not a KV offload tier");
}

std::optional<KvTier> KvTiers::holder(ServerId server, ModelId model, uint64_t prefix_block) const {
  const Key key{model, prefix_block};
  for (const KvTier tier : chain_)
    if (lru(tier, server).entries.contains(key)) return tier;
  return std::nullopt;
}

void KvTiers::insert(BlockLru& lru, const Key& key, int64_t bytes, ServerId holder, std::vector<Evicted>& out) {
  if (const auto it = lru.entries.find(key); it != lru.entries.end()) {
    lru.recency.splice(lru.recency.end(), lru.recency, it->second.recency);
    return;
  }
  if (bytes > lru.capacity_bytes) {  // passes on down
    out.push_back(Evicted{key, bytes, holder});
    return;
  }
  while (lru.used_bytes + bytes > lru.capacity_bytes) {
    const Key victim = lru.recency.front();
    const Entry& e = lru.entries.at(victim);
    out.push_back(Evicted{victim, e.bytes, e.holder});
    lru.used_bytes -= e.bytes;
    lru.entries.erase(victim);
    lru.recency.pop_front();
  }
  lru.recency.push_back(key);
  lru.entries.emplace(key, Entry{std::prev(lru.recency.end()), bytes, holder});
  lru.used_bytes += bytes;
}

void KvTiers::evicted(ServerId server, ModelId model, uint64_t prefix_block, int64_t bytes) {
  // What goes into the next tier down, and what that one pushes out: kept between calls, as
  // every GPU eviction comes here.
  going_down_.assign(1, Evicted{Key{model, prefix_block}, bytes, server});
  for (const KvTier tier : chain_) {
    pushed_out_.clear();
    for (const Evicted& e : going_down_) insert(lru(tier, e.holder), e.key, e.bytes, e.holder, pushed_out_);
    going_down_.swap(pushed_out_);
    if (going_down_.empty()) return;
  }
}

ServerId KvTiers::fetched(ServerId server, ModelId model, uint64_t prefix_block, KvTier tier) {
  BlockLru& l = lru(tier, server);
  const auto it = l.entries.find(Key{model, prefix_block});
  if (it == l.entries.end()) throw std::logic_error("a KV block was fetched from a tier that does not hold it");
  l.recency.splice(l.recency.end(), l.recency, it->second.recency);
  return it->second.holder;
}

int64_t KvTiers::used_bytes(KvTier tier, ServerId server) const {
  return tier == KvTier::pool ? pool_.used_bytes : lru(tier, server).used_bytes;
}

std::unique_ptr<KvOffload> KvTiers::offload_for(ServerId server, ModelId model, int64_t block_bytes) {
  return std::make_unique<InstanceOffload>(*this, server, model, block_bytes);
}

void KvTiers::audit() const {
  const auto check = [](const BlockLru& lru, const char* what) {
    int64_t bytes = 0;
    for (const Key& key : lru.recency) bytes += lru.entries.at(key).bytes;
    if (bytes != lru.used_bytes || lru.recency.size() != lru.entries.size() || bytes > lru.capacity_bytes)
      throw std::logic_error(
          fmt::format("the KV {} tier counts {} bytes in {} blocks, holds {} bytes in {} (capacity {})", what,
                      lru.used_bytes, lru.entries.size(), bytes, lru.recency.size(), lru.capacity_bytes));
  };
  for (const BlockLru& lru : dram_) check(lru, "dram");
  for (const BlockLru& lru : ssd_) check(lru, "ssd");
  check(pool_, "pool");
}

}  // namespace slsim
