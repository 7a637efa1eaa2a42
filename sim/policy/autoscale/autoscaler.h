#pragma once
// Autoscaling: how many instances each model should have.
//
// Two kinds of autoscaler share this interface. Reactive ones (`on-demand`) only answer
// instances_to_start() when a request queues. Target-based ones (`fixed`, `kpa`, `rps`,
// `predictive`) have a tick interval > 0: the control plane asks desired_instances() for every
// model on each tick, starts instances up to the target (through placement and the loader, so
// the delay to ready is placement + load under contention) and releases idle instances above
// it once the keep-alive policy has let them go.

#include <cstdint>
#include <optional>

#include "sim/core/registry.h"
#include "sim/policy/views.h"

namespace slsim {

class Autoscaler {
 public:
  static constexpr const char* kind = "autoscale";
  struct Context {
    int64_t models = 0;
  };
  virtual ~Autoscaler() = default;
  // Asked when a request queues at the router. The default scales from zero only, as
  // Knative's activator does for every autoscaler.
  virtual int64_t instances_to_start(const ModelDemand& demand) {
    return demand.ready_instances + demand.starting_instances == 0 && demand.queued_requests > 0 ? 1 : 0;
  }
  // Zero: not target-based, desired_instances() is never asked.
  virtual Time tick_interval() const { return Time::zero(); }
  // The model's target instance count (ready or starting), asked once per model per tick.
  virtual int64_t desired_instances(const ModelDemand& /*demand*/) { return 0; }
  // The fewest instances per model it keeps with no demand at all; once the workload is over,
  // ticks stop when every model is down to it.
  virtual int64_t floor_instances() const { return 0; }
  // With no demand (no request in the system, no arrival since the last tick) and the model's
  // instances unchanged, whether every further tick would return the same target and change no
  // state a later decision reads, except the samples a window records (all equal): then how far
  // back a decision looks, so that ticks skipped through a quiet stretch can resume that long
  // before the next event with the windows holding what they would have. nullopt: ticks must run.
  virtual std::optional<Time> settled_window(ModelId /*model*/, Time /*now*/) const { return std::nullopt; }
  virtual void on_arrival(ModelId /*model*/, Time /*now*/) {}
  // An instance of `model` became ready `duration` after placement.
  virtual void on_load(ModelId /*model*/, Time /*duration*/) {}
};

const Registry<Autoscaler>& autoscale_policies();

}  // namespace slsim
