#pragma once

#include "sim/core/fields.h"
#include "sim/loading/startup_policy.h"
#include "sim/policy/startup/materialized.h"

namespace slsim {

// A pool of pre-initialized runtimes (BlitzScale, OSDI'25; lambdaScale): idle serving processes
// that already hold a CUDA context and a set-up engine take a model when it scales out, so a cold
// start is the load and what follows it. The process start, CUDA context and engine set-up are
// paid by the pool ahead of time, outside any cold start. The pool holds no GPU memory for weights
// or KV cache until it loads (so the instance's GPUs are claimed when its load begins), and its
// idle processes' cost is not counted: an assumption, since both papers take the pool as given.
// Compilation and graph capture are model-specific and stay online as measured unless
// `restore_fraction` shrinks them (0.01: with Foundry's templates).
class PrewarmedStartup final : public StartupPolicy {
 public:
  struct Params {
    double restore_fraction = 1.0;
    template <class V>
    void visit(V& v) {
      v.field("restore_fraction", restore_fraction,
              "compilation and graph capture paid online, as a fraction of their measured time (1: run as measured, "
              "the pooled runtime does not know the model beforehand; 0.01: with Foundry's templates, assumed)",
              between(0, 1));
    }
  };
  PrewarmedStartup(const Params& params, Context&) : params_(params) {}
  StartupPhases online(const StartupPhases& full) const override {
    StartupPhases phases = scale_materializable(full, params_.restore_fraction, params_.restore_fraction);
    phases.process_start_s = 0;
    phases.gpu_context_s = 0;
    phases.engine_setup_s = 0;
    return phases;
  }

 private:
  Params params_;
};

}  // namespace slsim
