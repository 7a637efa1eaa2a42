#pragma once
// Where a checkpoint comes from and how long it takes to reach the GPUs. A load reads from the
// fastest tier that holds the checkpoint: host DRAM (over each GPU's host link, shards in
// parallel), the local SSD, or remote storage (over the slower of the server's NIC and the
// store's bandwidth). Stages below the GPU are pipelined, so the slowest one sets the time.
// Loads do not yet contend with each other for bandwidth.

#include <cstdint>
#include <string>
#include <vector>

#include "sim/cluster/cluster.h"
#include "sim/core/fields.h"
#include "sim/core/ids.h"
#include "sim/core/time.h"
#include "sim/loading/tier_cache.h"

namespace slsim {

enum class Tier { dram, ssd, remote };
const char* tier_name(Tier tier);

struct LoaderParams {
  bool keep_in_dram = true;
  bool keep_on_ssd = true;

  template <class V>
  void visit(V& v) {
    v.field("keep_in_dram", keep_in_dram, "keep loaded checkpoints in the server's DRAM cache (LRU)");
    v.field("keep_on_ssd", keep_on_ssd, "keep loaded checkpoints in the server's SSD cache (LRU)");
  }
};

struct LoadPlan {
  Tier tier = Tier::remote;
  Time duration;
};

class Loader {
 public:
  Loader(const Cluster& cluster, const LoaderParams& params);

  LoadPlan plan(ServerId server, ModelId model, int64_t checkpoint_bytes, int64_t tensor_parallel) const;
  // The load finished: the checkpoint passed through DRAM (and the SSD if it came from remote).
  void on_loaded(ServerId server, ModelId model, int64_t checkpoint_bytes, Tier from);

  const TierCache& dram(ServerId server) const { return dram_[server]; }
  const TierCache& ssd(ServerId server) const { return ssd_[server]; }

 private:
  const Cluster& cluster_;
  LoaderParams params_;
  std::vector<TierCache> dram_;
  std::vector<TierCache> ssd_;
};

}  // namespace slsim
