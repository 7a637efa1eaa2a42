#include "sim/policy/preload/forecast.h"
#include "sim/policy/preload/popularity.h"
#include "sim/policy/preload/preload.h"

namespace slsim {

const Registry<PreloadPolicy>& preload_policies() {
  static const Registry<PreloadPolicy> registry = [] {
    Registry<PreloadPolicy> r;
    r.add<NoPreload>("none", "no preloading");
    r.add<PopularityPreload>("popularity",
                             "keep the most requested checkpoints in servers' DRAM or SSD, refreshed on an interval");
    r.add<ForecastPreload>("forecast",
                           "load into DRAM or start an instance ahead of the arrival the idle-time histogram predicts");
    return r;
  }();
  return registry;
}

}  // namespace slsim
