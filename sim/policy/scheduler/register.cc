#include "sim/policy/scheduler/least_loaded.h"
#include "sim/policy/scheduler/placement.h"
#include "sim/policy/scheduler/serverlessllm.h"
#include "sim/policy/scheduler/shepherd.h"

namespace slsim {

const Registry<PlacementPolicy>& placement_policies() {
  static const Registry<PlacementPolicy> registry = [] {
    Registry<PlacementPolicy> r;
    r.add<LeastLoadedPlacement>("least-loaded", "the server with the most free GPUs, then the fewest instances");
    r.add<RandomPlacement>("random", "a server with enough free GPUs, drawn uniformly");
    r.add<LocalityPlacement>("locality", "a server whose DRAM, else SSD, holds the checkpoint; then least-loaded");
    r.add<ServerlessLlmPlacement>("serverlessllm",
                                  "the least estimated time until the instance runs: loading queue + load from the "
                                  "fastest tier + migration of instances in the way (ServerlessLLM, OSDI'24)");
    r.add<ShepherdPlacement>("shepherd",
                             "locality's server where GPUs are free; else restarts victims only when the model's "
                             "waiting input tokens are at least preempt_factor × the tokens they lose (Shepherd-like, "
                             "NSDI'23)");
    return r;
  }();
  return registry;
}

}  // namespace slsim
