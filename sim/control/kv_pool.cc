#include "sim/control/kv_pool.h"

#include <algorithm>
#include <stdexcept>
#include <string>

namespace slsim {

ElasticKvPool::ElasticKvPool(const Cluster& cluster, const EngineParams& params)
    : cluster_(cluster),
      activation_reserve_bytes_(params.activation_reserve_bytes),
      memory_utilization_(params.gpu_memory_utilization) {
  for (const Server& s : cluster.servers()) {
    const int64_t cards = elastic(s.id) ? s.profile->gpus / s.profile->gpus_sharing_compute : 0;
    cards_.push_back(std::vector<int64_t>(static_cast<size_t>(cards), card_bytes(s.id)));
  }
}

int64_t ElasticKvPool::card_bytes(ServerId server) const {
  return static_cast<int64_t>(static_cast<double>(cluster_.server(server).gpu->memory_bytes) * memory_utilization_);
}

std::optional<int64_t> ElasticKvPool::free_gpu(ServerId server, int64_t card) const {
  const Server& s = cluster_.server(server);
  for (int64_t gpu = card * seats(server); gpu < (card + 1) * seats(server); ++gpu)
    if (!s.gpu_taken[static_cast<size_t>(gpu)]) return gpu;
  return std::nullopt;
}

std::optional<int64_t> ElasticKvPool::seat(ServerId server, int64_t weights_bytes) const {
  if (!elastic(server)) return std::nullopt;
  const int64_t needed = bytes_needed(server, weights_bytes);
  for (int64_t card = 0; card < cards(server); ++card)
    if (cards_[server][static_cast<size_t>(card)] >= needed)
      if (const std::optional<int64_t> gpu = free_gpu(server, card)) return gpu;
  return std::nullopt;
}

void ElasticKvPool::join(InstanceId id, ServerId server, int64_t gpu, int64_t weights_bytes, int64_t block_bytes) {
  if (members_.size() <= id.index()) members_.resize(id.index() + 1);
  Member& m = members_[id];
  if (m.present) fail("an instance joined a card's KV pool twice");
  m = Member{true, server, gpu / seats(server), weights_bytes + activation_reserve_bytes_, block_bytes, 0};
  int64_t& free = cards_[server][static_cast<size_t>(m.card)];
  free -= m.resident_bytes + held_kv_bytes(m);
  if (free < 0) fail("an instance was placed on a card without room for it");
}

void ElasticKvPool::leave(InstanceId id) {
  Member& m = members_.at(id);
  if (!m.present) fail("an instance left a card's KV pool it never joined");
  cards_[m.server][static_cast<size_t>(m.card)] += m.resident_bytes + held_kv_bytes(m);
  m = Member{};
}

void ElasticKvPool::lend_blocks(Member& m, Engine& engine, int64_t blocks) {
  int64_t& free = cards_[m.server][static_cast<size_t>(m.card)];
  free += held_kv_bytes(m);
  m.lent_blocks = blocks;
  free -= held_kv_bytes(m);
  engine.set_kv_blocks(blocks);
}

void ElasticKvPool::lend(InstanceId id, Engine& engine) {
  Member& m = members_.at(id);
  const int64_t available = cards_[m.server][static_cast<size_t>(m.card)] + held_kv_bytes(m);
  lend_blocks(m, engine, std::min(available / m.block_bytes, engine.max_kv_blocks()));
}

void ElasticKvPool::reclaim(InstanceId id, Engine& engine) {
  lend_blocks(members_.at(id), engine, engine.kv_blocks_needed());
}

void ElasticKvPool::fail(const char* what) { throw std::logic_error(std::string("elastic KV pool: ") + what); }

}  // namespace slsim
