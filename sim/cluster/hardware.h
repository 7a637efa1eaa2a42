#pragma once
// Hardware profiles as the catalogue in models/hardware/ describes them. Bandwidths are in
// GB/s (10^9 bytes per second), compute in TFLOP/s, sizes in bytes. Every figure in a
// catalogue file names its source under "sources".

#include <cstdint>
#include <optional>
#include <string>

#include "sim/core/fields.h"

namespace slsim {

struct GpuProfile {
  std::string name;
  int64_t memory_bytes = 0;
  double hbm_bandwidth_gbps = 0;
  double dense_fp16_tflops = 0;
  double host_link_gbps = 0;
  std::optional<double> host_link_measured_gbps;
  double interconnect_gbps = 0;
  double price_per_hour = 0;
  Json sources = Json::object();

  // What a pinned host-to-device copy achieves: the measurement where there is one.
  double effective_host_link_gbps() const { return host_link_measured_gbps.value_or(host_link_gbps); }

  template <class V>
  void visit(V& v) {
    v.required("name", name, "profile name");
    v.required("memory_bytes", memory_bytes, "GPU memory, bytes", positive());
    v.required("hbm_bandwidth_gbps", hbm_bandwidth_gbps, "peak memory bandwidth, GB/s", positive());
    v.required("dense_fp16_tflops", dense_fp16_tflops, "dense fp16/bf16 tensor throughput, TFLOP/s", positive());
    v.required("host_link_gbps", host_link_gbps, "host link per direction, GB/s", positive());
    v.field("host_link_measured_gbps", host_link_measured_gbps, "measured pinned host-to-device, GB/s", positive());
    v.required("interconnect_gbps", interconnect_gbps, "GPU-to-GPU per direction inside a server, GB/s", positive());
    v.field("price_per_hour", price_per_hour, "on-demand price of one GPU for an hour, USD (cost reports)", at_least(0));
    v.raw("sources", sources, "where each figure comes from");
  }
};

struct ServerProfile {
  std::string name;
  std::string gpu;  // a GPU profile name
  int64_t gpus = 0;
  int64_t dram_bytes = 0;
  int64_t dram_cache_bytes = 0;
  int64_t ssd_bytes = 0;
  int64_t ssd_cache_bytes = 0;
  double ssd_read_gbps = 0;
  std::optional<double> ssd_write_gbps;
  double nic_gbps = 0;
  Json sources = Json::object();

  double effective_ssd_write_gbps() const { return ssd_write_gbps.value_or(ssd_read_gbps); }

  template <class V>
  void visit(V& v) {
    v.required("name", name, "profile name");
    v.required("gpu", gpu, "GPU profile name (models/hardware/gpus/)");
    v.required("gpus", gpus, "GPUs in the server", at_least(1));
    v.required("dram_bytes", dram_bytes, "host memory, bytes", positive());
    v.required("dram_cache_bytes", dram_cache_bytes, "pinned checkpoint cache in host memory, bytes", at_least(0));
    v.required("ssd_bytes", ssd_bytes, "local SSD, bytes", at_least(0));
    v.required("ssd_cache_bytes", ssd_cache_bytes, "checkpoint cache on the SSD, bytes", at_least(0));
    v.required("ssd_read_gbps", ssd_read_gbps, "SSD sequential read, GB/s", positive());
    v.field("ssd_write_gbps", ssd_write_gbps, "SSD sequential write, GB/s (null: as ssd_read_gbps)", positive());
    v.required("nic_gbps", nic_gbps, "network interface, GB/s", positive());
    v.raw("sources", sources, "where each figure comes from");
  }
};

}  // namespace slsim
