#include "sim/policy/startup/full.h"
#include "sim/policy/startup/materialized.h"
#include "sim/policy/startup/prewarmed.h"
#include "sim/policy/startup/startup.h"

namespace slsim {

const Registry<StartupPolicy>& startup_policies() {
  static const Registry<StartupPolicy> registry = [] {
    Registry<StartupPolicy> r;
    r.add<FullStartup>("full", "every measured start-up phase runs online (vLLM, the project's testbed)");
    r.add<MedusaStartup>("medusa", "CUDA graphs materialized offline and restored online (Medusa, ASPLOS'25)");
    r.add<FoundryStartup>("foundry",
                          "graphs and their kernels materialized as templates, neither compiled nor captured "
                          "online (Foundry, 2026)");
    r.add<PrewarmedStartup>("prewarmed",
                            "a pool of pre-initialized runtimes: no process start, CUDA context or engine set-up "
                            "online (BlitzScale, OSDI'25; lambdaScale)");
    return r;
  }();
  return registry;
}

}  // namespace slsim
