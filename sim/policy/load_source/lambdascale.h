#pragma once

#include "sim/core/fields.h"
#include "sim/loading/load_source.h"

namespace slsim {

// λScale (Yu et al., "λScale: Enabling Fast Scaling for Serverless Large Language Model
// Inference", arXiv 2502.09922, 2025): a scale-out's new instances of a model receive its
// checkpoint by RDMA multicast from GPUs that hold it (here: BlitzScale's sources and multicast
// chains, the same machinery), and with λPipe they serve before it is whole. The receivers of
// one multicast group take its blocks in different orders, receiver i slice i of g first; once
// each holds its own slice the g of them run the model as one g-stage pipeline over their
// servers, and once each holds all of it they are g instances. The paper reports 2.4-5x lower
// tail latency than ServerlessLLM-style loading under load spikes.
class LambdaScaleLoadSource final : public LoadSourcePolicy {
 public:
  struct Params {
    bool execute_while_load = true;
    template <class V>
    void visit(V& v) {
      v.field("execute_while_load", execute_while_load,
              "the loads of one model placed at one instant that form one multicast chain are a group of g: each "
              "receiver's first 1/g of every shard is its own slice, and once all hold theirs the group serves as "
              "one g-stage pipeline over their GPUs until every load is done, then as g instances (λScale's "
              "λPipe); false: the multicast alone (blitzscale's chains, each instance serving once loaded). The "
              "paper's blocks are not modelled: the fluid flows deliver bytes continuously, and a block only "
              "rounds the slice up to the next block boundary");
    }
  };
  LambdaScaleLoadSource(const Params& params, Context&) : params_(params) {}
  bool reads_other_servers() const override { return true; }
  bool multicast_chain() const override { return true; }
  bool execute_while_load() const override { return params_.execute_while_load; }

 private:
  Params params_;
};

}  // namespace slsim
