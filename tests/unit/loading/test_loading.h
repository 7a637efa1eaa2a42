#pragma once
// A server with round figures and an idle, latency-free fabric, for loader and placement tests
// whose answers are computed by hand: GPU host links 100 GB/s, GPU interconnect 400 GB/s, SSD
// 4 GB/s, NIC 10 GB/s, 1 TiB DRAM and SSD caches.

#include <memory>

#include "sim/cluster/cluster.h"
#include "sim/cluster/topology.h"
#include "sim/loading/loader.h"
#include "sim/policy/cache/cache_policies.h"

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

inline std::unique_ptr<EvictionPolicy> lru_eviction() {
  EvictionPolicy::Context context;
  return cache_policies().make(PolicyChoice{"lru", Json::object()}, context);
}

}  // namespace slsim::testing
