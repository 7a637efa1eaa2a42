#pragma once
// Hardware profiles as the catalogue in models/hardware/ describes them. Bandwidths are in
// GB/s (gigabytes per second, 10^9 bytes per second; names end in `_gbytes_per_s`), compute in TFLOP/s, sizes in bytes.
// Every figure in a catalogue file names its source under "sources".

#include <cstdint>
#include <optional>
#include <string>

#include "sim/core/fields.h"

namespace slsim {

struct GpuProfile {
  std::string name;
  int64_t memory_bytes = 0;
  double hbm_bandwidth_gbytes_per_s = 0;
  double dense_fp16_tflops = 0;
  double host_link_gbytes_per_s = 0;
  std::optional<double> host_link_measured_gbytes_per_s;
  double interconnect_gbytes_per_s = 0;
  double price_per_hour = 0;
  Json sources = Json::object();

  // What a pinned host-to-device copy achieves: the measurement where there is one.
  double effective_host_link_gbytes_per_s() const {
    return host_link_measured_gbytes_per_s.value_or(host_link_gbytes_per_s);
  }

  template <class V>
  void visit(V& v) {
    v.required("name", name, "profile name");
    v.required("memory_bytes", memory_bytes, "GPU memory, bytes", positive());
    v.required("hbm_bandwidth_gbytes_per_s", hbm_bandwidth_gbytes_per_s,
               "peak memory bandwidth, GB/s (gigabytes per second)", positive());
    v.required("dense_fp16_tflops", dense_fp16_tflops, "dense fp16/bf16 tensor throughput, TFLOP/s", positive());
    v.required("host_link_gbytes_per_s", host_link_gbytes_per_s, "host link per direction, GB/s (gigabytes per second)",
               positive());
    v.field("host_link_measured_gbytes_per_s", host_link_measured_gbytes_per_s,
            "measured pinned host-to-device, GB/s (gigabytes per second)", positive());
    v.required("interconnect_gbytes_per_s", interconnect_gbytes_per_s,
               "GPU-to-GPU per direction inside a server, GB/s (gigabytes per second)", positive());
    v.field("price_per_hour", price_per_hour, "on-demand price of one GPU for an hour, USD (cost reports)",
            at_least(0));
    v.raw("sources", sources, "where each figure comes from");
  }
};

// How the instances on the GPUs of one card (gpus_sharing_compute > 1) share its memory.
enum class GpuMemorySharing : uint8_t { sliced, elastic_kv, switching };
inline constexpr EnumNames<GpuMemorySharing, 3> kGpuMemorySharingNames{{{GpuMemorySharing::sliced, "sliced"},
                                                                        {GpuMemorySharing::elastic_kv, "elastic-kv"},
                                                                        {GpuMemorySharing::switching, "switching"}}};

struct ServerProfile {
  std::string name;
  std::string gpu;  // a GPU profile name
  int64_t gpus = 0;
  int64_t dram_bytes = 0;
  int64_t dram_cache_bytes = 0;
  int64_t ssd_bytes = 0;
  int64_t ssd_cache_bytes = 0;
  double ssd_read_gbytes_per_s = 0;
  std::optional<double> ssd_write_gbytes_per_s;
  double nic_gbytes_per_s = 0;
  std::optional<double> gpu_nic_gbytes_per_s;
  int64_t gpus_sharing_compute = 1;
  double compute_sharing_efficiency = 0.87;
  double graph_capture_compute_share = 0.28;
  GpuMemorySharing gpu_memory_sharing = GpuMemorySharing::sliced;
  int64_t min_kv_reserve_bytes = 1'000'000'000;
  Json sources = Json::object();

  double effective_ssd_write_gbytes_per_s() const { return ssd_write_gbytes_per_s.value_or(ssd_read_gbytes_per_s); }

  template <class V>
  void visit(V& v) {
    v.required("name", name, "profile name");
    v.required("gpu", gpu, "GPU profile name (models/hardware/gpus/)");
    v.required("gpus", gpus, "GPUs in the server", at_least(1));
    v.required("dram_bytes", dram_bytes, "host memory, bytes", positive());
    v.required("dram_cache_bytes", dram_cache_bytes, "pinned checkpoint cache in host memory, bytes", at_least(0));
    v.required("ssd_bytes", ssd_bytes, "local SSD, bytes", at_least(0));
    v.required("ssd_cache_bytes", ssd_cache_bytes, "checkpoint cache on the SSD, bytes", at_least(0));
    v.required("ssd_read_gbytes_per_s", ssd_read_gbytes_per_s, "SSD sequential read, GB/s (gigabytes per second)",
               positive());
    v.field("ssd_write_gbytes_per_s", ssd_write_gbytes_per_s,
            "SSD sequential write, GB/s (gigabytes per second; null: as ssd_read_gbytes_per_s)", positive());
    v.required("nic_gbytes_per_s", nic_gbytes_per_s,
               "network interface, GB/s (gigabytes per second: a 400 Gb/s NIC is 50)", positive());
    v.field("gpu_nic_gbytes_per_s", gpu_nic_gbytes_per_s,
            "an RDMA NIC of each GPU's own (GPUDirect RDMA) on a compute network apart from the host NIC's, GB/s "
            "(gigabytes per second); null: none, GPUs of different servers reach each other through host memory",
            positive());
    v.field("gpus_sharing_compute", gpus_sharing_compute,
            "consecutive GPUs that are memory slices of one physical GPU and time-share its compute (several "
            "serving processes on one card; steps in progress share it equally); 1: every GPU is a card of its own; "
            "must divide gpus",
            at_least(1));
    v.field("compute_sharing_efficiency", compute_sharing_efficiency,
            "with gpus_sharing_compute > 1: the share of the card's speed that time-sliced processes get together "
            "while more than one uses it: 2 / 2.31, a decode step's mean time beside one stepping neighbour over its "
            "time alone (testbed run 3, kernels/testbed/step_contention.py --pooled; 2.19 in run 2)",
            between(0.01, 1));
    v.field(
        "graph_capture_compute_share", graph_capture_compute_share,
        "with gpus_sharing_compute > 1: what a CUDA-graph capture in progress weighs on the card against a step "
        "(1): 1.47 x 0.87 - 1, from a neighbour's decode taking 1.47x its time alone during one (run 3; 1.39 in run "
        "2); the capture itself keeps its measured in-service length",
        between(0, 1));
    v.choice("gpu_memory_sharing", gpu_memory_sharing,
             "with gpus_sharing_compute > 1: sliced: each GPU is a fixed memory slice of the card (the GPU profile's "
             "memory_bytes); elastic-kv (Prism, kvcached): the gpus_sharing_compute GPUs of a card are seats for "
             "instances of any models, whose weights stay resident and whose KV caches take blocks from one pool of "
             "the card's memory (the GPU profile's memory_bytes x engine.gpu_memory_utilization) as they need them "
             "and give them back when done; switching (Aegaeon): the gpus_sharing_compute GPUs of a card are seats "
             "for instances of any models, each sized as if alone on the card, of which only one at a time has its "
             "weights and KV on the card and steps, the card switching between them as policies.switching decides "
             "(weights and KV moved over the host link)",
             kGpuMemorySharingNames);
    v.field("min_kv_reserve_bytes", min_kv_reserve_bytes,
            "with gpu_memory_sharing elastic-kv: KV memory an instance always keeps on its card, bytes; an instance "
            "is placed on a card only where its weights, activation reserve and this fit in the card's free memory",
            at_least(0));
    v.raw("sources", sources, "where each figure comes from");
  }
};

}  // namespace slsim
