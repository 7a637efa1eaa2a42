// Loads over the fluid network on one idle server, with answers computed by hand. The server:
// 2 GPUs with 100 GB/s host links, an SSD reading and writing 4 GB/s, a 10 GB/s NIC, and a
// remote store at 1 GB/s; all latencies 0 so times are bytes / rate.

#include "sim/loading/loader.h"

#include <gtest/gtest.h>

#include <map>
#include <memory>

#include "sim/policy/startup/startup.h"
#include "tests/unit/loading/test_loading.h"

namespace slsim {
namespace {

struct Recorder : LoadListener {
  Simulator* sim = nullptr;
  std::map<InstanceId, std::pair<Time, LoadOutcome>> done;
  void on_load_done(InstanceId id, const LoadOutcome& outcome) override { done[id] = {sim->now(), outcome}; }
};

const ServerId kServer(0);  // the only one

CheckpointFormat ideal() { return CheckpointFormat{}; }

CheckpointFormat staged() {
  CheckpointFormat f;
  f.ssd_efficiency = 0.5;
  f.host_to_gpu_efficiency = 0.25;
  f.pipelined = false;
  return f;
}

struct Bench {
  explicit Bench(const CheckpointFormat& format, const LoaderParams& params = testing::transfer_only(),
                 std::map<std::string, StartupProfile> measured_startup = {},
                 std::unique_ptr<StartupPolicy> startup_policy = nullptr)
      : cluster({testing::round_servers(1, 2)}, 1.0),
        topology(cluster, testing::no_latency()),
        network(sim, topology),
        loader(sim, cluster, topology, network, params, format, lru, lru, std::move(measured_startup),
               std::move(startup_policy)) {
    recorder.sim = &sim;
  }
  // Instance `instance` loads checkpoint `part` onto `gpus` of the server.
  void load(uint32_t instance, uint32_t part, double gigabytes, std::vector<int64_t> gpus) {
    const CheckpointPart checkpoint{CheckpointId(part), static_cast<int64_t>(gigabytes * 1e9), 1};
    loader.start(LoadRequest{InstanceId(instance), kServer, std::move(gpus), {}, {checkpoint}, {}}, recorder);
  }
  double done_s(uint32_t instance) { return recorder.done.at(InstanceId(instance)).first.seconds(); }
  Tier tier(uint32_t instance) { return recorder.done.at(InstanceId(instance)).second.tier; }

  EvictionFactory lru = &testing::lru_eviction;
  Simulator sim;
  Cluster cluster;
  Topology topology;
  FlowNetwork network;
  Loader loader;
  Recorder recorder;
};

}  // namespace

TEST(Loader, OneRemoteLoadOnIdleLinksTakesBytesOverTheSlowestLink) {
  Bench b(ideal());
  b.load(0, 7, 1.0, {0});
  b.sim.run();
  EXPECT_DOUBLE_EQ(b.done_s(0), 1.0);  // 1 GB at the 1 GB/s store
  EXPECT_EQ(b.tier(0), Tier::remote);
  EXPECT_TRUE(b.loader.dram(kServer).contains(CheckpointId(7)));  // passed through DRAM
  EXPECT_TRUE(b.loader.ssd(kServer).contains(CheckpointId(7)));   // written behind to the SSD
}

TEST(Loader, TwoConcurrentRemoteLoadsShareTheStoreLink) {
  Bench b(ideal());
  b.load(0, 1, 1.0, {0});
  b.load(1, 2, 1.0, {1});
  b.sim.run();
  EXPECT_DOUBLE_EQ(b.done_s(0), 2.0);
  EXPECT_DOUBLE_EQ(b.done_s(1), 2.0);
}

TEST(Loader, AReadCeilingBelowTheStoreSetsOneLoadsRate) {
  LoaderParams params = testing::transfer_only();
  params.read_max_gbytes_per_s = 0.4;
  Bench b(ideal(), params);
  b.load(0, 1, 1.0, {0});
  b.sim.run();
  EXPECT_NEAR(b.done_s(0), 2.5, 1e-9);  // 1 GB at the 0.4 GB/s ceiling, not the 1 GB/s store
}

TEST(Loader, ConcurrentLoadsUnderAReadCeilingShareTheStoreOnlyBeyondIt) {
  LoaderParams params = testing::transfer_only();
  params.read_max_gbytes_per_s = 0.4;
  Bench b(ideal(), params);
  b.load(0, 1, 1.0, {0});
  b.load(1, 2, 1.0, {1});
  b.load(2, 3, 1.0, {0});
  b.sim.run();
  // Two loads take 0.8 of the 1 GB/s store, each at its ceiling; three share it at 1/3 GB/s each:
  // 1 GB in 3 s, where two alone would have finished at 2.5 s.
  EXPECT_NEAR(b.done_s(0), 3.0, 1e-9);
  EXPECT_NEAR(b.done_s(2), 3.0, 1e-9);
}

TEST(Loader, AReadCeilingLeavesLoadsFromDramAtTheHostLink) {
  LoaderParams params = testing::transfer_only();
  params.read_max_gbytes_per_s = 0.4;
  Bench b(ideal(), params);
  b.loader.preload(kServer, CheckpointPart{CheckpointId(8), 1'000'000'000, 1}, Tier::dram);
  b.sim.run();
  const double start_s = b.sim.now().seconds();
  b.load(0, 8, 1.0, {0});
  b.sim.run();
  EXPECT_NEAR(b.done_s(0) - start_s, 0.01, 1e-9);  // 1 GB over the 100 GB/s host link
}

TEST(Loader, SerializedLoadsOfOneServerRunOneAfterTheOther) {
  LoaderParams params = testing::transfer_only();
  params.serialize_per_server = true;
  Bench b(ideal(), params);
  b.load(0, 1, 1.0, {0});
  b.load(1, 2, 1.0, {1});
  EXPECT_EQ(b.loader.queue_wait(kServer), Time::from_seconds(2.0));  // both loads' estimates
  b.sim.run();
  EXPECT_DOUBLE_EQ(b.done_s(0), 1.0);  // alone on the 1 GB/s store
  EXPECT_DOUBLE_EQ(b.done_s(1), 2.0);  // then the second, alone too
}

TEST(Loader, EstimatesCanUseTheRatesEarlierLoadsAchieved) {
  Bench b(ideal(), testing::transfer_only());
  const std::vector<CheckpointPart> other{CheckpointPart{CheckpointId(9), 1'000'000'000, 1}};
  EXPECT_EQ(b.loader.estimate(kServer, other, 1, true), Time::from_seconds(1.0));  // nothing observed: idle links
  b.load(0, 1, 1.0, {0});
  b.load(1, 2, 1.0, {1});
  b.sim.run();  // both shared the 1 GB/s store: 0.5 GB/s each
  EXPECT_DOUBLE_EQ(b.loader.observed_rate_gbytes_per_s(kServer, Tier::remote), 0.5);
  b.load(2, 3, 1.0, {0});
  b.sim.run();  // alone: 1 GB/s, averaged with weight 0.5
  EXPECT_DOUBLE_EQ(b.loader.observed_rate_gbytes_per_s(kServer, Tier::remote), 0.75);
  EXPECT_EQ(b.loader.estimate(kServer, other, 1, true), Time::from_seconds(1.0 / 0.75));
  EXPECT_EQ(b.loader.estimate(kServer, other, 1), Time::from_seconds(1.0));
}

TEST(Loader, ShardsOfATensorParallelLoadShareTheSsdAndUseTheirOwnHostLinks) {
  Bench b(ideal());
  b.loader.preload(kServer, CheckpointPart{CheckpointId(5), 1'000'000'000, 1}, Tier::ssd);
  b.sim.run();  // the preload: 1 GB from the store to the SSD, 1 s
  const Time start = b.sim.now();
  b.load(0, 5, 1.0, {0, 1});
  b.sim.run();
  EXPECT_EQ(b.tier(0), Tier::ssd);
  EXPECT_TRUE(b.recorder.done.at(InstanceId(0)).second.preloaded);
  // Two shards of 0.5 GB share the 4 GB/s SSD: 2 GB/s each, 0.25 s.
  EXPECT_NEAR(b.done_s(0) - start.seconds(), 0.25, 1e-9);
}

TEST(Loader, ALoadFromDramUsesTheHostLink) {
  Bench b(ideal());
  b.load(0, 3, 1.0, {0});
  b.sim.run();
  const Time start = b.sim.now();
  b.load(1, 3, 1.0, {1});
  b.sim.run();
  EXPECT_EQ(b.tier(1), Tier::dram);
  EXPECT_NEAR(b.done_s(1) - start.seconds(), 0.01, 1e-9);  // 1 GB at 100 GB/s
  EXPECT_EQ(b.loader.dram(kServer).stats().hits, 1u);
}

TEST(Loader, ANonPipelinedFormatDownloadsReadsThenCopies) {
  Bench b(staged());
  b.load(0, 4, 1.0, {0});
  b.sim.run();
  // Download 1 GB at 1 GB/s (1 s), read from SSD at 0.5 x 4 GB/s (0.5 s), copy at 0.25 x 100 GB/s (0.04 s).
  EXPECT_NEAR(b.done_s(0), 1.54, 1e-9);
}

namespace {

// A format bound by its own CPU work: the host-to-GPU stage never exceeds `ceiling` GB/s.
CheckpointFormat cpu_bound(double ceiling, double host_to_gpu_efficiency = 1.0) {
  CheckpointFormat f;
  f.host_to_gpu_efficiency = host_to_gpu_efficiency;
  f.host_to_gpu_max_gbytes_per_s = ceiling;
  return f;
}

// The time of a 1 GB load from the DRAM cache, after a preload has put the checkpoint there.
double dram_load_s(const CheckpointFormat& format) {
  Bench b(format);
  b.loader.preload(kServer, CheckpointPart{CheckpointId(8), 1'000'000'000, 1}, Tier::dram);
  b.sim.run();
  const Time start = b.sim.now();
  b.load(0, 8, 1.0, {0});
  b.sim.run();
  EXPECT_EQ(b.tier(0), Tier::dram);
  return b.done_s(0) - start.seconds();
}

}  // namespace

TEST(Loader, ACpuBoundFormatCopiesAtItsCeilingWhateverTheHostLink) {
  // 1 GB at the 2 GB/s ceiling, not at the 100 GB/s host link: 0.5 s.
  EXPECT_NEAR(dram_load_s(cpu_bound(2.0)), 0.5, 1e-9);
}

TEST(Loader, AHostLinkShareBelowTheCeilingSetsTheRate) {
  // 0.01 x 100 GB/s = 1 GB/s is below the 2 GB/s ceiling: 1 GB in 1 s.
  EXPECT_NEAR(dram_load_s(cpu_bound(2.0, 0.01)), 1.0, 1e-9);
}

TEST(Loader, TheCeilingBoundsTheCopyStageAloneNotTheDownloadOrTheRead) {
  CheckpointFormat format = staged();
  format.host_to_gpu_max_gbytes_per_s = 0.5;
  Bench b(format);
  b.load(0, 4, 1.0, {0});
  b.sim.run();
  // Download 1 GB at 1 GB/s (1 s) and read it at 0.5 x 4 GB/s (0.5 s), both above the 0.5 GB/s
  // ceiling, then copy at min(0.25 x 100, 0.5) GB/s (2 s).
  EXPECT_NEAR(b.done_s(0), 3.5, 1e-9);
}

TEST(Loader, StartupAndPipelineFillAddToTheTransfer) {
  LoaderParams params = testing::transfer_only(2.0, 0.5, int64_t{32} << 20);
  Bench b(ideal(), params);
  b.loader.preload(kServer, CheckpointPart{CheckpointId(6), 1'000'000'000, 1}, Tier::ssd);
  b.sim.run();
  const Time start = b.sim.now();
  b.load(0, 6, 1.0, {0});
  b.sim.run();
  // 2.5 s of start-up, 0.25 s at the SSD's 4 GB/s, and one 32 MiB chunk over the 100 GB/s host link.
  EXPECT_NEAR(b.done_s(0) - start.seconds(), 2.5 + 0.25 + 33554432 / 100e9, 1e-8);
}

namespace {

using testing::measured_test_gpu;

}  // namespace

TEST(Loader, AColdStartIsMeasuredStartUpThenTheTransferThenThePostLoadPhases) {
  Bench b(ideal(), testing::measured_startup(), measured_test_gpu());
  b.load(0, 7, 2.0, {0});
  b.sim.run();
  // Before the load 4 + 0.25 + 6 = 10.25 s; 2 GB at the 1 GB/s store, 2 s; after it
  // 5.5 + 2.5 + 0.25 = 8.25 s.
  EXPECT_DOUBLE_EQ(b.done_s(0), 10.25 + 2.0 + 8.25);
  const CheckpointPart part{CheckpointId(8), 2'000'000'000, 1};
  EXPECT_EQ(b.loader.estimate(ServerId(0), std::span(&part, 1), 1), Time::from_seconds(10.25 + 2.0 + 8.25));
}

TEST(Loader, StartUpPhasesTheConfigSetsReplaceTheMeasuredOnes) {
  LoaderParams params = testing::measured_startup();
  params.process_start_s = 1.0;
  params.post_load_s = 0.0;
  Bench b(ideal(), params, measured_test_gpu());
  b.load(0, 7, 2.0, {0});
  b.sim.run();
  // 1 (set) + 0.25 + 6 (measured) before, 2 s of transfer, nothing after.
  EXPECT_DOUBLE_EQ(b.done_s(0), 7.25 + 2.0);
}

// Materializes the whole graph capture offline.
class NoCapture final : public StartupPolicy {
 public:
  StartupPhases online(const StartupPhases& full) const override {
    StartupPhases phases = full;
    phases.post_load_s -= full.graph_capture_s;
    phases.graph_capture_s = 0;
    return phases;
  }
};

TEST(Loader, TheStartupPolicyDecidesWhichMeasuredPhasesAColdStartPays) {
  Bench b(ideal(), testing::measured_startup(), measured_test_gpu(), std::make_unique<NoCapture>());
  b.load(0, 7, 2.0, {0});
  b.sim.run();
  // As measured, without the 2.5 s capture: 10.25 + 2 + 5.75; the estimate agrees.
  EXPECT_DOUBLE_EQ(b.done_s(0), 10.25 + 2.0 + 5.75);
  const CheckpointPart part{CheckpointId(8), 2'000'000'000, 1};
  EXPECT_EQ(b.loader.estimate(ServerId(0), std::span(&part, 1), 1), Time::from_seconds(10.25 + 2.0 + 5.75));
}

namespace {

std::unique_ptr<StartupPolicy> prewarmed(double restore_fraction) {
  return testing::startup("prewarmed", Json{{"restore_fraction", restore_fraction}});
}

}  // namespace

TEST(Loader, FromAPrewarmedRuntimeAColdStartIsTheTransferThenThePostLoadPhases) {
  // The measured model's 10.25 s before the load are the pool's: 2 s of transfer, then
  // compile 5.5 + capture 2.5 + warm-up 0.25 as measured. The estimate agrees.
  Bench b(ideal(), testing::measured_startup(), measured_test_gpu(), prewarmed(1.0));
  b.load(0, 7, 2.0, {0});
  b.sim.run();
  EXPECT_DOUBLE_EQ(b.done_s(0), 2.0 + 8.25);
  const CheckpointPart part{CheckpointId(8), 2'000'000'000, 1};
  EXPECT_EQ(b.loader.estimate(ServerId(0), std::span(&part, 1), 1), Time::from_seconds(2.0 + 8.25));
}

TEST(Loader, APrewarmedRuntimeWithFoundrysTemplatesPaysTheRestoreFractionOfCompileAndCapture) {
  // 2 s of transfer, then 0.01 x (5.5 + 2.5) + the 0.25 s warm-up.
  Bench b(ideal(), testing::measured_startup(), measured_test_gpu(), prewarmed(0.01));
  b.load(0, 7, 2.0, {0});
  b.sim.run();
  EXPECT_NEAR(b.done_s(0), 2.0 + 0.08 + 0.25, 1e-9);
}

TEST(Loader, APostLoadTheConfigSetsWholeHasNothingToMaterialize) {
  LoaderParams params = testing::measured_startup();
  params.post_load_s = 3.0;
  Bench b(ideal(), params, measured_test_gpu(), std::make_unique<NoCapture>());
  b.load(0, 7, 2.0, {0});
  b.sim.run();
  EXPECT_DOUBLE_EQ(b.done_s(0), 10.25 + 2.0 + 3.0);
}

TEST(Loader, WithoutMeasuredStartUpTheAssumedDefaultsApply) {
  // A GPU with a calibration profile lacking `startup` (no models) and one without a profile.
  for (const auto& measured : {std::map<std::string, StartupProfile>{{"test-gpu", StartupProfile{}}},
                               std::map<std::string, StartupProfile>{}}) {
    Bench b(ideal(), testing::measured_startup(), measured);
    b.load(0, 7, 2.0, {0});
    b.sim.run();
    // process start 2 s + CUDA context 0.5 s, then 2 s of transfer.
    EXPECT_DOUBLE_EQ(b.done_s(0), 2.5 + 2.0);
  }
}

TEST(Loader, AVariantLoadsOnlyTheDeltaItsServerLacks) {
  Bench b(ideal());
  b.load(0, 1, 1.0, {0});  // the base checkpoint, now in DRAM
  b.sim.run();
  const Time start = b.sim.now();
  const std::vector<CheckpointPart> variant{{CheckpointId(1), 1'000'000'000, 1}, {CheckpointId(2), 100'000'000, 1}};
  b.loader.start(LoadRequest{InstanceId(1), kServer, {1}, {}, variant, {}}, b.recorder);
  b.sim.run();
  // The base from DRAM (1 GB at 100 GB/s, 0.01 s) and the 0.1 GB delta from the store (0.1 s),
  // side by side.
  EXPECT_NEAR(b.done_s(1) - start.seconds(), 0.1, 1e-9);
  EXPECT_EQ(b.tier(1), Tier::remote);
}

TEST(Loader, ACopyOnAnotherGpuOfTheServerIsTheFastestSource) {
  Bench b(ideal());
  b.loader.start(LoadRequest{InstanceId(0), kServer, {1}, {0}, {CheckpointPart{CheckpointId(9), 4'000'000'000, 1}}, {}},
                 b.recorder);
  b.sim.run();
  EXPECT_EQ(b.tier(0), Tier::gpu);
  EXPECT_NEAR(b.done_s(0), 0.01, 1e-9);  // 4 GB over the 400 GB/s GPU interconnect
}

TEST(Loader, ALoadRecordsThePartsItPutInDramAndADropTakesThemOut) {
  Bench b(ideal());
  b.load(0, 7, 1.0, {0});
  b.sim.run();
  EXPECT_TRUE(b.recorder.done.at(InstanceId(0)).second.cached_in_dram(0));  // new in DRAM: this load put it there
  b.load(1, 7, 1.0, {1});
  b.sim.run();
  EXPECT_EQ(b.tier(1), Tier::dram);
  EXPECT_FALSE(b.recorder.done.at(InstanceId(1)).second.cached_in_dram(0));  // already there before the load
  b.loader.drop_from_dram(ServerId(0), CheckpointId(7));
  EXPECT_FALSE(b.loader.dram(ServerId(0)).contains(CheckpointId(7)));
  const Time start = b.sim.now();
  b.load(2, 7, 1.0, {0});
  b.sim.run();
  // DRAM no longer holds it, the SSD still does (written behind by the first load): 1 GB at 4 GB/s.
  EXPECT_EQ(b.tier(2), Tier::ssd);
  EXPECT_NEAR(b.done_s(2) - start.seconds(), 0.25, 1e-9);
}

TEST(Loader, ACheckpointStagedOnTheSsdLoadsFromItWithoutEvictingAnother) {
  Bench b(ideal());
  EXPECT_TRUE(b.loader.stage(kServer, CheckpointPart{CheckpointId(5), 2'000'000'000, 1}, Tier::ssd));
  b.load(0, 5, 2.0, {0});
  b.sim.run();
  EXPECT_EQ(b.tier(0), Tier::ssd);
  EXPECT_DOUBLE_EQ(b.done_s(0), 0.5);  // 2 GB at the SSD's 4 GB/s, no download
  // The test server's SSD cache is 2^40 bytes; a checkpoint of that size does not fit beside the
  // staged 2 GB, and staging never evicts.
  EXPECT_FALSE(b.loader.stage(kServer, CheckpointPart{CheckpointId(6), int64_t{1} << 40, 1}, Tier::ssd));
  EXPECT_TRUE(b.loader.ssd(kServer).contains(CheckpointId(5)));
  EXPECT_FALSE(b.loader.ssd(kServer).contains(CheckpointId(6)));
}

TEST(Loader, ACheckpointStagedInDramLoadsFromItAtTheHostLinksBandwidthAndIsNoPreload) {
  Bench b(ideal());
  EXPECT_TRUE(b.loader.stage(kServer, CheckpointPart{CheckpointId(5), 2'000'000'000, 1}, Tier::dram));
  EXPECT_FALSE(b.loader.ssd(kServer).contains(CheckpointId(5)));
  b.load(0, 5, 2.0, {0});
  b.sim.run();
  EXPECT_EQ(b.tier(0), Tier::dram);
  EXPECT_DOUBLE_EQ(b.done_s(0), 0.02);  // 2 GB at the host link's 100 GB/s
  EXPECT_FALSE(b.recorder.done.at(InstanceId(0)).second.preloaded);
  EXPECT_FALSE(b.recorder.done.at(InstanceId(0)).second.cached_in_dram(0));  // there before the load
}

}  // namespace slsim
