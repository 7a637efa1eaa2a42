#pragma once

#include "sim/policy/keepalive/keepalive.h"

namespace slsim {

// A fixed time-to-live after the last request, as AWS Lambda, Knative and most FaaS
// platforms do; 0 releases the GPUs the moment the instance is idle.
class FixedKeepAlive final : public KeepAlivePolicy {
 public:
  struct Params {
    double ttl_s = 60;
    bool keep_checkpoint_in_dram = true;
    template <class V>
    void visit(V& v) {
      v.field("ttl_s", ttl_s, "seconds an idle instance keeps its GPUs; 0 releases them at once", at_least(0));
      v.field("keep_checkpoint_in_dram", keep_checkpoint_in_dram,
              "on release, keep the checkpoint in the server's DRAM cache (ServerlessLLM); false removes what its load "
              "put there");
    }
  };
  FixedKeepAlive(const Params& params, Context&) : params_(params) {}
  KeepAliveDecision decide(ModelId, Time) override {
    return KeepAliveDecision{Time::from_seconds(params_.ttl_s), Time::zero(), params_.keep_checkpoint_in_dram};
  }

 private:
  Params params_;
};

}  // namespace slsim
