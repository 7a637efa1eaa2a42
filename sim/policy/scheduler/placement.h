#pragma once
// Placement: which server a new instance starts on, and which running instances (if any) must
// make room for it there.

#include <functional>
#include <optional>
#include <span>
#include <vector>

#include "sim/cluster/cluster.h"
#include "sim/core/random.h"
#include "sim/core/registry.h"
#include "sim/loading/loader.h"
#include "sim/policy/views.h"

namespace slsim {

class PlacementPolicy {
 public:
  static constexpr const char* kind = "placement";
  struct Context {
    const Cluster& cluster;
    const Loader& loader;
    RandomStream random;
  };
  virtual ~PlacementPolicy() = default;
  // A server the instance fits on (request.fits_on) with request.gpus free GPUs (or that many
  // once the victims left), or nullopt if the instance must wait.
  virtual std::optional<Placement> place(const PlacementRequest& request) = 0;
  // True: the policy decides itself whether freeing GPUs is worth it, so where it answers
  // nullopt the start waits. False: where it names no server and the migration policy can free
  // GPUs, the placer frees them where that costs the fewest tokens.
  virtual bool weighs_victims() const { return false; }
};

const Registry<PlacementPolicy>& placement_policies();

// The slowest tier on `server` holding a part of the checkpoint (Tier::remote: a part is on no
// tier there).
Tier slowest_tier_holding(const Loader& loader, ServerId server, std::span<const CheckpointPart> checkpoint);

// Instances to free GPUs with: their ids, their views (pointing into request.movable) and the
// sum of their costs.
struct Victims {
  std::vector<InstanceId> instances;
  std::vector<const InstanceView*> views;
  double total_cost = 0;
};

// The cheapest set of request.movable instances on `server` whose GPUs, with the free ones,
// make request.gpus, taking instances in increasing `cost`; nullopt if they never do or the
// instance does not fit on the server.
std::optional<Victims> cheapest_victims(const Server& server, const PlacementRequest& request,
                                        const std::function<double(const InstanceView&)>& cost);

}  // namespace slsim
