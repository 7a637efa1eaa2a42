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
  std::optional<Placement> place(const PlacementRequest& request) override;

 private:
  const Cluster& cluster_;
};

// A server drawn uniformly among those with enough free GPUs (stream `placement`).
class RandomPlacement final : public PlacementPolicy {
 public:
  struct Params {
    template <class V>
    void visit(V&) {}
  };
  RandomPlacement(const Params&, Context& context) : cluster_(context.cluster), random_(context.random) {}
  std::optional<Placement> place(const PlacementRequest& request) override;

 private:
  const Cluster& cluster_;
  RandomStream random_;
};

// Prefers a server whose DRAM, then SSD, holds the checkpoint (every part, at its slowest
// tier); among equals, least-loaded's order. Ignores how busy the server's loader is.
class LocalityPlacement final : public PlacementPolicy {
 public:
  struct Params {
    template <class V>
    void visit(V&) {}
  };
  LocalityPlacement(const Params&, Context& context) : cluster_(context.cluster), loader_(context.loader) {}
  std::optional<Placement> place(const PlacementRequest& request) override;

 private:
  const Cluster& cluster_;
  const Loader& loader_;
};

}  // namespace slsim
