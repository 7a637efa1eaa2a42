#pragma once

#include <optional>

#include "sim/core/fields.h"
#include "sim/loading/load_source.h"

namespace slsim {

// DeepServe (Hu et al., "DeepServe: Serverless Large Language Model Serving at Scale", Huawei
// Cloud, arXiv 2501.14417, 2025; USENIX ATC'25): with pre-warmed pods, DRAM pre-loading and
// NPU-fork the platform scales a model to 64 instances in seconds (the abstract), Llama3-8B's
// scaling time falling from 42.12 s to 4.75 s (as summarized by alphaXiv's overview of the paper;
// the fork's own share of it is not given there). NPU-fork creates a new instance from a running
// one of the same model: its weights are copied device to device (HCCS inside a server, RoCE
// across) and so is the serving process's state, so the new instance skips the start-up that
// state stands for. Here the weights come from the sources BlitzScale's would (a loaded copy over
// NVLink or the GPUs' RDMA NICs, multicast chains), but a fork is taken wherever a loaded instance
// is reachable even if the server's DRAM is faster (the start-up it saves outweighs the rate).
// The fork's instance pays `fork_s` where the process start, CUDA context and engine set-up were,
// and no compilation or graph capture when the fork copies them: a pre-warmed runtime has the
// process but not the model's compiled kernels and captured graphs, which only a running instance
// of the model holds. A load that reads no loaded instance (the tiers, or a chain whose head
// reads them) is a fallback: blitzscale's load with the start-up policy's phases.
class DeepServeLoadSource final : public LoadSourcePolicy {
 public:
  struct Params {
    bool multicast_chain = true;
    double fork_s = 0.5;
    bool copies_compilation = true;
    bool copies_graphs = true;
    template <class V>
    void visit(V& v) {
      v.field("multicast_chain", multicast_chain,
              "loads of one model that overlap join one chain, each reading from the last receiver as it receives "
              "(as blitzscale's); a member whose chain's head forks a loaded instance forks it too");
      v.field("fork_s", fork_s,
              "the fork's fixed cost before the weights move, s, in place of the process start, CUDA context and "
              "engine set-up: a new device context (0.15 s measured on the H100) and mapping the copied state onto "
              "the new GPUs (assumed: the paper does not break its 4.75 s scale-out of Llama3-8B down)",
              at_least(0));
      v.field("copies_compilation", copies_compilation,
              "the forked process holds the source's compiled kernels: no compilation online; false: compiled as "
              "measured");
      v.field("copies_graphs", copies_graphs,
              "the forked process holds the source's captured CUDA graphs, replayable once the new GPUs' buffers "
              "are mapped at the source's addresses (within fork_s): no capture online; false: captured as measured");
    }
  };
  DeepServeLoadSource(const Params& params, Context&) : params_(params) {}
  bool reads_other_servers() const override { return true; }
  bool multicast_chain() const override { return params_.multicast_chain; }
  std::optional<StartupPhases> forked(const StartupPhases& online) const override {
    StartupPhases phases = online;
    phases.process_start_s = params_.fork_s;
    phases.gpu_context_s = 0;
    phases.engine_setup_s = 0;
    if (params_.copies_compilation) {
      phases.post_load_s -= phases.compile_s;
      phases.compile_s = 0;
    }
    if (params_.copies_graphs) {
      phases.post_load_s -= phases.graph_capture_s;
      phases.graph_capture_s = 0;
    }
    return phases;
  }

 private:
  Params params_;
};

}  // namespace slsim
