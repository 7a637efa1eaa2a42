#pragma once

#include <cstdint>

#include "sim/control/instance_registry.h"
#include "sim/core/ids.h"

namespace slsim {

// Live scaling (BlitzScale; load_source blitzscale's live_scaling): an instance serves while its
// weights arrive from a serving instance of its model, its source. Layers it has run on it and
// the rest on the source, which the simulator models at step granularity: its steps take their
// usual time (the two stages together do one model's work; the activations' hand-off between
// them is left out) and each puts 1 - f of its compute on the source, f the loaded fraction when
// it begins computing, so the source's own steps meanwhile go (1 + the shares on it) times
// slower. This class keeps which instance reads which source (Instance::live_source), the shares
// (Instance::source_share), how many read one, and that arithmetic; the control plane re-times
// the steps a change of share affects and moves the instances between states.
class LiveScaling {
 public:
  explicit LiveScaling(InstanceRegistry& instances) : instances_(instances) {}

  // Whether any instance serves while loading; while none does, no step is slowed by live scaling.
  bool any() const { return live_ > 0; }
  bool live(InstanceId id) const { return !instances_.instance(id).live_source.is_none(); }
  // Whether `source` can run layers for `id`: a migration's destination takes over at its switch
  // and reads none; a source let go since the placement (its slot perhaps reused) serves none.
  bool can_read(InstanceId id, InstanceId source) const;
  void begin(InstanceId id, InstanceId source);
  // The instance reads its source no more; its share is dropped.
  void end(InstanceId id);
  // The share of its compute that a step of a live instance beginning now puts on its source.
  static double step_share(double loaded_fraction) { return 1 - loaded_fraction; }
  void set_share(InstanceId id, double share) { instances_.instance(id).source_share = share; }
  // How many times longer than alone a step of `source` takes for the live steps it runs for
  // others: 1 + their shares.
  double source_factor(InstanceId source) const;
  // Calls f(id) for each live instance reading `source`, in the model's order.
  template <class F>
  void for_each_reader(InstanceId source, F&& f) const {
    for (const InstanceId other : instances_.model(instances_.instance(source).model).instances())
      if (instances_.instance(other).live_source == source) f(other);
  }
  // Throws std::logic_error unless the count agrees with the instances.
  void audit() const;

 private:
  InstanceRegistry& instances_;
  int64_t live_ = 0;  // instances serving while their weights arrive
};

}  // namespace slsim
