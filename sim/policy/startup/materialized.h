#pragma once

#include "sim/core/fields.h"
#include "sim/loading/startup_policy.h"

namespace slsim {

// The full start-up with its compilation and graph capture each scaled to the given fraction of
// their measured time (1: run as measured; a restore's cost otherwise), post-load shrunk to match.
inline StartupPhases scale_materializable(const StartupPhases& full, double compile_fraction, double capture_fraction) {
  StartupPhases phases = full;
  phases.compile_s = full.compile_s * compile_fraction;
  phases.graph_capture_s = full.graph_capture_s * capture_fraction;
  phases.post_load_s -= (full.compile_s - phases.compile_s) + (full.graph_capture_s - phases.graph_capture_s);
  return phases;
}

// Medusa (ASPLOS'25): the CUDA graphs (and the KV cache size) are materialized offline and
// restored online, at a fraction of the capture's time. The fraction is derived from the
// paper's figures: KV initialization and graph capture take up to 50% of its loading phase and
// materialization cuts that phase by 42.5%, so restoring costs about 15% of what it replaces.
// The project's engine sizes its KV cache from the memory left, without a profiling pass, so
// only the capture is left to remove here.
class MedusaStartup final : public StartupPolicy {
 public:
  struct Params {
    double graph_restore_fraction = 0.15;
    template <class V>
    void visit(V& v) {
      v.field("graph_restore_fraction", graph_restore_fraction,
              "restoring the materialized CUDA graphs, as a fraction of capturing them (derived from Medusa's 42.5% "
              "of a loading phase up to 50% of which is KV initialization and capture)",
              between(0, 1));
    }
  };
  MedusaStartup(const Params& params, Context&) : params_(params) {}
  StartupPhases online(const StartupPhases& full) const override {
    return scale_materializable(full, 1, params_.graph_restore_fraction);
  }

 private:
  Params params_;
};

// Foundry (2026): graph templates persist the graphs with their execution context, and the
// kernel binaries they run are reloaded rather than compiled, so neither compilation nor capture
// runs online; reconstruction costs `restore_fraction` of them (the paper: "negligible", a cold
// start cut by up to 99%; the default is that bound, an assumption).
class FoundryStartup final : public StartupPolicy {
 public:
  struct Params {
    double restore_fraction = 0.01;
    template <class V>
    void visit(V& v) {
      v.field("restore_fraction", restore_fraction,
              "reconstructing the graphs and reloading their kernels, as a fraction of compiling and capturing "
              "(assumed from Foundry's up-to-99% cut)",
              between(0, 1));
    }
  };
  FoundryStartup(const Params& params, Context&) : params_(params) {}
  StartupPhases online(const StartupPhases& full) const override {
    return scale_materializable(full, params_.restore_fraction, params_.restore_fraction);
  }

 private:
  Params params_;
};

}  // namespace slsim
