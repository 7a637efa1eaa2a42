#include "sim/engine/startup_profile.h"

#include <algorithm>

#include "sim/core/errors.h"

namespace slsim {
namespace {

StartupPhases phases_of(const StartupMeasurement& m) {
  return StartupPhases{m.process_start_s, m.gpu_context_s,
                       m.engine_setup_s,  m.compile_s + m.graph_capture_s + m.warm_up_s,
                       m.compile_s,       m.graph_capture_s};
}

}  // namespace

StartupPhases interpolate_startup(const StartupProfile& profile, double checkpoint_bytes) {
  const std::vector<StartupMeasurement>& ms = profile.models;
  const auto above = std::find_if(ms.begin(), ms.end(), [&](const StartupMeasurement& m) {
    return static_cast<double>(m.checkpoint_bytes) >= checkpoint_bytes;
  });
  if (above == ms.begin()) return phases_of(ms.front());
  if (above == ms.end()) return phases_of(ms.back());
  const StartupPhases lo = phases_of(*(above - 1));
  const StartupPhases hi = phases_of(*above);
  const auto lo_bytes = static_cast<double>((above - 1)->checkpoint_bytes);
  const double f = (checkpoint_bytes - lo_bytes) / (static_cast<double>(above->checkpoint_bytes) - lo_bytes);
  const auto mix = [f](double a, double b) { return a + f * (b - a); };
  return StartupPhases{mix(lo.process_start_s, hi.process_start_s),
                       mix(lo.gpu_context_s, hi.gpu_context_s),
                       mix(lo.engine_setup_s, hi.engine_setup_s),
                       mix(lo.post_load_s, hi.post_load_s),
                       mix(lo.compile_s, hi.compile_s),
                       mix(lo.graph_capture_s, hi.graph_capture_s)};
}

void check_startup(const StartupProfile& profile, const std::string& path) {
  for (size_t i = 1; i < profile.models.size(); ++i)
    if (profile.models[i].checkpoint_bytes <= profile.models[i - 1].checkpoint_bytes)
      throw ConfigError(path + ".models[" + std::to_string(i) + "].checkpoint_bytes",
                        "expected ascending sizes, one model per size");
}

}  // namespace slsim
