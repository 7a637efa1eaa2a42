#include "sim/control/live_scaling.h"

#include <fmt/format.h>

#include <stdexcept>

namespace slsim {

bool LiveScaling::can_read(InstanceId id, InstanceId source) const {
  const Instance& inst = instances_.instance(id);
  const Instance& from = instances_.instance(source);
  const bool source_serves = from.engine && from.model == inst.model && from.live_source.is_none() &&
                             (serving(from.state) || from.state == InstanceState::migrating);
  return inst.migration < 0 && source_serves;
}

void LiveScaling::begin(InstanceId id, InstanceId source) {
  instances_.instance(id).live_source = source;
  ++live_;
}

void LiveScaling::end(InstanceId id) {
  Instance& inst = instances_.instance(id);
  inst.source_share = 0;
  inst.live_source = InstanceId::none();
  --live_;
}

double LiveScaling::source_factor(InstanceId source) const {
  double hosted = 0;
  for_each_reader(source, [&](InstanceId other) { hosted += instances_.instance(other).source_share; });
  return 1 + hosted;
}

void LiveScaling::audit() const {
  int64_t live = 0;
  for (const InstanceId id : instances_.instance_ids()) {
    const Instance& inst = instances_.instance(id);
    live += inst.engine && !inst.live_source.is_none();
  }
  if (live != live_)
    throw std::logic_error(
        fmt::format("{} instances serve while loading, but the control plane counts {}", live, live_));
}

}  // namespace slsim
