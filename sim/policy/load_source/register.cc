#include "sim/policy/load_source/blitzscale.h"
#include "sim/policy/load_source/deepserve.h"
#include "sim/policy/load_source/hydraserve.h"
#include "sim/policy/load_source/lambdascale.h"
#include "sim/policy/load_source/load_source.h"
#include "sim/policy/load_source/tiered.h"

namespace slsim {

const Registry<LoadSourcePolicy>& load_source_policies() {
  static const Registry<LoadSourcePolicy> registry = [] {
    Registry<LoadSourcePolicy> r;
    r.add<TieredLoadSource>("tiered",
                            "a copy on another GPU of the server, else DRAM, SSD, remote store (ServerlessLLM)");
    r.add<BlitzScaleLoadSource>("blitzscale",
                                "GPUs holding the model anywhere first, over NVLink and per-GPU RDMA NICs, in "
                                "multicast chains; tiers only where no GPU holds it (BlitzScale, OSDI'25)");
    r.add<HydraServeLoadSource>("hydraserve",
                                "a cold start from remote storage fetched by several servers at once, served as a "
                                "pipeline over them, then consolidated on one (HydraServe, NSDI'26)");
    r.add<LambdaScaleLoadSource>("lambdascale",
                                 "RDMA multicast from GPUs holding the model, each group of new instances serving "
                                 "as a pipeline over its receivers once each holds its own slice (λScale, 2025)");
    r.add<DeepServeLoadSource>("deepserve",
                               "blitzscale's GPU sources, but a load reading a loaded instance forks it: the process "
                               "state is copied too, no start-up but a fork cost (DeepServe's NPU-fork, 2025)");
    return r;
  }();
  return registry;
}

}  // namespace slsim
