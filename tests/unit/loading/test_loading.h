#pragma once
// A server with round figures and an idle, latency-free fabric, for loader and placement tests
// whose answers are computed by hand: GPU host links 100 GB/s, GPU interconnect 400 GB/s, SSD
// 4 GB/s, NIC 10 GB/s, 1 TiB DRAM and SSD caches.

#include <map>
#include <memory>
#include <string>
#include <utility>

#include "sim/cluster/cluster.h"
#include "sim/cluster/topology.h"
#include "sim/loading/loader.h"
#include "sim/policy/cache/cache_policies.h"
#include "sim/policy/load_source/load_source.h"
#include "sim/policy/startup/startup.h"

namespace slsim::testing {

inline ServerGroupSpec round_servers(int64_t count, int64_t gpus) {
  ServerGroupSpec g;
  g.count = count;
  g.server.name = "test";
  g.server.gpu = "test-gpu";
  g.server.gpus = gpus;
  g.server.dram_bytes = int64_t{1} << 40;
  g.server.dram_cache_bytes = int64_t{1} << 40;
  g.server.ssd_bytes = int64_t{1} << 40;
  g.server.ssd_cache_bytes = int64_t{1} << 40;
  g.server.ssd_read_gbytes_per_s = 4;
  g.server.nic_gbytes_per_s = 10;
  g.gpu.name = "test-gpu";
  g.gpu.memory_bytes = int64_t{80} << 30;
  g.gpu.hbm_bandwidth_gbytes_per_s = 3000;
  g.gpu.dense_fp16_tflops = 1000;
  g.gpu.host_link_gbytes_per_s = 100;
  g.gpu.interconnect_gbytes_per_s = 400;
  return g;
}

inline TopologyParams no_latency() {
  TopologyParams p;
  p.pcie_latency_us = p.gpu_interconnect_latency_us = p.ssd_latency_us = p.network_hop_latency_us = 0;
  p.storage_latency_ms = 0;
  return p;
}

// No start-up before or after a load and a 1-byte pipeline chunk (no fill): a load's time is its
// transfer alone.
inline LoaderParams transfer_only(double process_start_s = 0, double gpu_context_s = 0, int64_t chunk_bytes = 1) {
  LoaderParams p;
  p.process_start_s = process_start_s;
  p.gpu_context_s = gpu_context_s;
  p.engine_setup_s = 0;
  p.post_load_s = 0;
  p.chunk_bytes = chunk_bytes;
  return p;
}

// A 1-byte pipeline chunk (no fill) and the start-up keys unset, so that a GPU with a measured
// start-up (measured_test_gpu) takes its phases.
inline LoaderParams measured_startup() {
  LoaderParams p;
  p.chunk_bytes = 1;
  return p;
}

// The test GPU's measured start-up: one model, so every size takes its phases (process start 4 s,
// CUDA context 0.25 s, engine set-up 6 s; compilation 5.5 s, graph capture 2.5 s, warm-up 0.25 s).
inline std::map<std::string, StartupProfile> measured_test_gpu() {
  StartupProfile p;
  p.models.push_back(StartupMeasurement{"m", 2'000'000'000, 4.0, 0.25, 6.0, 5.5, 2.5, 0.25});
  return {{"test-gpu", p}};
}

inline std::unique_ptr<EvictionPolicy> lru_eviction() {
  EvictionPolicy::Context context;
  return cache_policies().make(PolicyChoice{"lru", Json::object()}, context);
}

// A registered load-source or start-up policy with its parameters, resolved as a config's would be.
inline std::unique_ptr<LoadSourcePolicy> load_source(const std::string& name, Json params = Json::object()) {
  LoadSourcePolicy::Context context;
  const PolicyChoice resolved =
      load_source_policies().resolve(PolicyChoice{name, std::move(params)}, "policies.load_source");
  return load_source_policies().make(resolved, context);
}

inline std::unique_ptr<StartupPolicy> startup(const std::string& name, Json params = Json::object()) {
  StartupPolicy::Context context;
  const PolicyChoice resolved = startup_policies().resolve(PolicyChoice{name, std::move(params)}, "policies.startup");
  return startup_policies().make(resolved, context);
}

}  // namespace slsim::testing
