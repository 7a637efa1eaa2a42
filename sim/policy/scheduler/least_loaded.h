#pragma once

#include "sim/policy/scheduler/placement.h"

namespace slsim {

// The server with the most free GPUs; ties go to the one hosting fewer instances, then to
// the lowest id. Spreads instances so that they interfere least.
class LeastLoadedPlacement final : public PlacementPolicy {
 public:
  struct Params {
    template <class V>
    void visit(V&) {}
  };
  LeastLoadedPlacement(const Params&, Context& context) : cluster_(context.cluster) {}
  std::optional<ServerId> place(const PlacementRequest& request) override;

 private:
  const Cluster& cluster_;
};

}  // namespace slsim
