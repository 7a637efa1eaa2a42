#pragma once

#include "sim/policy/keepalive/keepalive.h"

namespace slsim {

// A fixed time-to-live after the last request, as AWS Lambda, Knative and most FaaS
// platforms do; 0 releases the GPUs the moment the instance is idle.
class FixedKeepAlive final : public KeepAlivePolicy {
 public:
  struct Params {
    double ttl_s = 60;
    template <class V>
    void visit(V& v) {
      v.field("ttl_s", ttl_s, "seconds an idle instance keeps its GPUs; 0 releases them at once", at_least(0));
    }
  };
  FixedKeepAlive(const Params& params, Context&) : ttl_(Time::from_seconds(params.ttl_s)) {}
  Time idle_timeout(ModelId, Time) override { return ttl_; }

 private:
  Time ttl_;
};

}  // namespace slsim
