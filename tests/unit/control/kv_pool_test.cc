// The elastic KV pool of a shared card (sim/control/kv_pool.h), computed by hand. Engines step
// by hand (a fixed latency); their KV blocks are 16 tokens of 1,000 bytes: 16,000 bytes.

#include "sim/control/kv_pool.h"

#include <gtest/gtest.h>

#include <memory>
#include <optional>
#include <vector>

namespace slsim {
namespace {

constexpr RequestId operator""_r(unsigned long long id) { return RequestId(id); }
constexpr int64_t kBlockBytes = 16'000;

EngineRequest request(RequestId id, int64_t input_tokens, int64_t output_tokens) {
  EngineRequest r;
  r.id = id;
  r.input_tokens = input_tokens;
  r.output_tokens = output_tokens;
  return r;
}

struct FixedLatency : LatencyModel {
  Time step_time(const StepShape& s) const override { return Time::from_ms(s.prefill_tokens > 0 ? 20 : 10); }
};

EngineParams params(double utilization) {
  EngineParams p;
  p.mode = EngineMode::vllm_v0;
  p.watermark = 0;
  p.fast_forward = false;
  p.activation_reserve_bytes = 0;
  p.gpu_memory_utilization = utilization;
  return p;
}

// One server of `cards` cards of `memory_bytes`, `seats` instances each, shared elastically.
std::unique_ptr<Cluster> elastic_cluster(int64_t cards, int64_t seats, int64_t memory_bytes, int64_t min_kv_bytes) {
  ServerGroupSpec group;
  group.server.name = "shared";
  group.server.gpu = "card";
  group.server.gpus = cards * seats;
  group.server.gpus_sharing_compute = seats;
  group.server.gpu_memory_sharing = GpuMemorySharing::elastic_kv;
  group.server.min_kv_reserve_bytes = min_kv_bytes;
  group.gpu.name = "card";
  group.gpu.memory_bytes = memory_bytes;
  return std::make_unique<Cluster>(std::vector<ServerGroupSpec>{group}, 1.0);
}

struct Member {
  FixedLatency latency;
  Engine engine;
  Member(const EngineParams& p, int64_t max_blocks) : engine(latency, p, EngineCapacity{max_blocks, 2048, 1000}) {}
};

constexpr ServerId kServer{0};

// As the instance registry joins a new instance: its engine starts with no blocks.
void join(ElasticKvPool& pool, InstanceId id, int64_t gpu, int64_t weights_bytes, Engine& engine) {
  pool.join(id, kServer, gpu, weights_bytes, engine.kv_block_bytes());
  engine.set_kv_blocks(0);
}

TEST(ElasticKvPool, TwoSmallModelsBothGoOnTheFirstCardBesideEachOther) {
  // 80 GB x 0.9 = 72 GB per card; each instance takes 2 GB of weights and keeps 1 GB of KV.
  const auto cluster = elastic_cluster(2, 8, 80'000'000'000, 1'000'000'000);
  const EngineParams p = params(0.9);
  ElasticKvPool pool(*cluster, p);
  Member a(p, 100);
  Member b(p, 100);
  ASSERT_EQ(pool.seat(kServer, 2'000'000'000), 0);
  cluster->take_gpu(kServer, 0);
  join(pool, InstanceId(0), 0, 2'000'000'000, a.engine);
  ASSERT_EQ(pool.seat(kServer, 2'000'000'000), 1);
  cluster->take_gpu(kServer, 1);
  join(pool, InstanceId(1), 1, 2'000'000'000, b.engine);
  EXPECT_EQ(pool.free_bytes(kServer, 0), 72'000'000'000 - 2 * 3'000'000'000);
  EXPECT_EQ(pool.free_bytes(kServer, 1), 72'000'000'000);
  EXPECT_EQ(a.engine.total_blocks(), 0);  // nothing lent before a step
  pool.leave(InstanceId(0));
  pool.leave(InstanceId(1));
  EXPECT_EQ(pool.free_bytes(kServer, 0), 72'000'000'000);
}

TEST(ElasticKvPool, ACardWithoutRoomForTheWeightsSendsTheInstanceToTheNextCard) {
  const auto shared = elastic_cluster(2, 2, 80'000'000'000, 1'000'000'000);
  const EngineParams p = params(0.9);
  ElasticKvPool pool(*shared, p);
  Member a(p, 100);
  // 40 GB + 1 GB fits the 72 GB card once: 31 GB are left, too few for a second.
  ASSERT_EQ(pool.seat(kServer, 40'000'000'000), 0);
  shared->take_gpu(kServer, 0);
  join(pool, InstanceId(0), 0, 40'000'000'000, a.engine);
  EXPECT_EQ(pool.seat(kServer, 40'000'000'000), 2);  // the first seat of card 1
  EXPECT_EQ(pool.seat(kServer, 30'000'000'000), 1);  // 30 + 1 GB fits beside it
  EXPECT_EQ(pool.seat(kServer, 80'000'000'000), std::nullopt);
}

// A card of 10 blocks (160,000 bytes, all usable, no minimum KV): A's prompt of 100 tokens takes
// 7 blocks, which leaves 3, too few for B's; B waits until A finishes and gives its 7 back.
TEST(ElasticKvPool, BlocksGoToTheInstanceThatNeedsThemAndComeBackWhenItsRequestFinishes) {
  const auto cluster = elastic_cluster(1, 2, 10 * kBlockBytes, 0);
  const EngineParams p = params(1);
  ElasticKvPool pool(*cluster, p);
  Member a(p, 10);
  Member b(p, 10);
  join(pool, InstanceId(0), 0, 0, a.engine);
  join(pool, InstanceId(1), 1, 0, b.engine);
  a.engine.enqueue(request(1_r, 100, 3));
  b.engine.enqueue(request(2_r, 100, 3));
  const auto step = [&](InstanceId id, Engine& engine) {
    pool.lend(id, engine);
    const std::optional<Time> t = engine.begin_step();
    pool.reclaim(id, engine);
    return t;
  };
  ASSERT_TRUE(step(InstanceId(0), a.engine));  // A's prefill
  EXPECT_EQ(a.engine.total_blocks(), 7);
  EXPECT_EQ(pool.free_bytes(kServer, 0), 3 * kBlockBytes);
  EXPECT_FALSE(step(InstanceId(1), b.engine));  // 3 blocks lent, 7 needed: B waits
  EXPECT_EQ(b.engine.total_blocks(), 0);
  a.engine.finish_step();
  for (int decode = 0; decode < 2; ++decode) {
    ASSERT_TRUE(step(InstanceId(0), a.engine));
    EXPECT_EQ(a.engine.total_blocks(), 7);  // token 101 and 102 fit in the 7th block
    a.engine.finish_step();
    pool.reclaim(InstanceId(0), a.engine);
  }
  EXPECT_TRUE(a.engine.idle());
  EXPECT_EQ(a.engine.total_blocks(), 0);
  EXPECT_EQ(pool.free_bytes(kServer, 0), 10 * kBlockBytes);
  ASSERT_TRUE(step(InstanceId(1), b.engine));  // B's prefill now finds its 7
  EXPECT_EQ(b.engine.total_blocks(), 7);
  EXPECT_EQ(pool.free_bytes(kServer, 0), 3 * kBlockBytes);
}

// A holds 112 tokens in 7 full blocks and B 40 tokens in 3: the card's 10 are all taken, so A's
// next token, which opens an 8th block, preempts A (recompute): its 7 blocks go back to the pool.
TEST(ElasticKvPool, AnInstanceThatFindsThePoolExhaustedPreemptsAndGivesItsBlocksBack) {
  const auto cluster = elastic_cluster(1, 2, 10 * kBlockBytes, 0);
  const EngineParams p = params(1);
  ElasticKvPool pool(*cluster, p);
  Member a(p, 10);
  Member b(p, 10);
  join(pool, InstanceId(0), 0, 0, a.engine);
  join(pool, InstanceId(1), 1, 0, b.engine);
  a.engine.enqueue(request(1_r, 112, 5));
  b.engine.enqueue(request(2_r, 40, 5));
  const auto step = [&](InstanceId id, Engine& engine) {
    pool.lend(id, engine);
    const std::optional<Time> t = engine.begin_step();
    pool.reclaim(id, engine);
    return t;
  };
  ASSERT_TRUE(step(InstanceId(0), a.engine));
  a.engine.finish_step();
  pool.reclaim(InstanceId(0), a.engine);
  ASSERT_TRUE(step(InstanceId(1), b.engine));
  EXPECT_EQ(b.engine.total_blocks(), 3);
  EXPECT_EQ(pool.free_bytes(kServer, 0), 0);
  EXPECT_FALSE(step(InstanceId(0), a.engine));  // preempted, and 113 tokens (8 blocks) cannot come back in 7
  EXPECT_EQ(a.engine.stats().preemptions, 1);
  EXPECT_EQ(a.engine.total_blocks(), 0);
  EXPECT_EQ(pool.free_bytes(kServer, 0), 7 * kBlockBytes);
  EXPECT_EQ(a.engine.outstanding(), 1);  // waiting to be recomputed
}

TEST(ElasticKvPool, AuditFindsAnEngineWhoseCapacityDiffersFromWhatWasLent) {
  const auto cluster = elastic_cluster(1, 2, 10 * kBlockBytes, 0);
  const EngineParams p = params(1);
  ElasticKvPool pool(*cluster, p);
  Member a(p, 10);
  join(pool, InstanceId(0), 0, 0, a.engine);
  const auto engine_of = [&](InstanceId) -> const Engine& { return a.engine; };
  EXPECT_NO_THROW(pool.audit(engine_of));
  a.engine.set_kv_blocks(4);
  EXPECT_THROW(pool.audit(engine_of), std::logic_error);
}

}  // namespace
}  // namespace slsim
