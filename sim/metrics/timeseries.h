#pragma once
// timeseries.csv: every `interval`, one row of the serving system's state: cluster GPUs by
// state, bytes cached per tier (summed over servers), and per model its instances by state
// and the requests queued at its router. Sampling is a background event (sim/core/simulator.h),
// read-only: the run, its end time and its event count are the same with or without it.

#include <cstdint>
#include <string>
#include <vector>

#include "sim/cluster/cluster.h"
#include "sim/control/control_plane.h"
#include "sim/core/simulator.h"
#include "sim/loading/loader.h"
#include "sim/metrics/output_file.h"

namespace slsim {

class TimeseriesWriter final : public EventHandler {
 public:
  TimeseriesWriter(Simulator& sim, const Cluster& cluster, const Loader& loader, const ControlPlane& control,
                   const std::vector<std::string>& model_names, std::vector<int64_t> gpus_per_instance, Time interval,
                   OutputFile& file);
  // Schedules the first sample at time zero.
  void start();
  // The last row, at the end of the run (unless a sample was just taken then).
  void finish();
  void on_event(const Event& event) override;

 private:
  void sample();
  Simulator& sim_;
  const Cluster& cluster_;
  const Loader& loader_;
  const ControlPlane& control_;
  IdVector<ModelId, int64_t> gpus_per_instance_;
  Time interval_;
  OutputFile& file_;
  uint16_t handler_;
  std::optional<Time> last_sample_;
  std::string row_;
};

}  // namespace slsim
