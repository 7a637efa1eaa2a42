#pragma once

#include <cstdint>
#include <optional>

#include "sim/core/fields.h"
#include "sim/loading/load_source.h"

namespace slsim {

// BlitzScale (Zhang et al., "BlitzScale: Fast and Live Large Model Autoscaling with O(1) Host
// Caching", OSDI'25): parameters come from GPUs that already hold the model, over NVLink inside a
// server and the compute network's RDMA NICs across servers, and several new instances of one
// model are fed as a multicast chain (source -> r1 -> r2 ...), each forwarding what it receives.
// The host then needs to cache little (the paper's O(1) host caching: about one copy of each
// model for the whole cluster). A source is taken where its bytes arrive no slower, at idle
// rates, than from the server's own tiers: on a DGX H100 a DRAM hit (PCIe Gen5, 63 GB/s) beats a
// 400 Gb/s NIC (50 GB/s), so a server whose host cache holds the model reads it. With `live_scaling`, the paper's
// live autoscaling (scaling by layers rather than instances): a new instance loading from a serving instance of its
// model serves at once, the layers it has received running on it and the rest on the source (the control plane
// models it per step: ControlPlane::on_live_load).
class BlitzScaleLoadSource final : public LoadSourcePolicy {
 public:
  struct Params {
    bool multicast_chain = true;
    std::optional<int64_t> host_cache_bytes;
    bool live_scaling = false;
    template <class V>
    void visit(V& v) {
      v.field("multicast_chain", multicast_chain,
              "loads of one model that overlap join one chain, each reading from the last receiver as it receives "
              "(BlitzScale's multicast); false: each reads its own source");
      v.field("host_cache_bytes", host_cache_bytes,
              "caps each server's DRAM checkpoint cache, bytes (BlitzScale keeps O(1) copies in host memory); "
              "null: the server profile's dram_cache_bytes",
              at_least(0));
      v.field("live_scaling", live_scaling,
              "a new instance loading from a serving instance of its model (directly or along a chain it heads) "
              "serves while its weights arrive: its steps take their usual time and each puts (1 - loaded fraction) of "
              "a step's "
              "compute on the source, whose own steps slow down by that much (BlitzScale's live autoscaling, "
              "OSDI'25); false: it serves once loaded");
    }
  };
  BlitzScaleLoadSource(const Params& params, Context&) : params_(params) {}
  bool reads_other_servers() const override { return true; }
  bool multicast_chain() const override { return params_.multicast_chain; }
  std::optional<int64_t> host_cache_bytes() const override { return params_.host_cache_bytes; }
  bool live_scaling() const override { return params_.live_scaling; }

 private:
  Params params_;
};

}  // namespace slsim
