#pragma once
// timeseries.csv: every `interval`, one row of the serving system's state: cluster GPUs by
// state, bytes cached per tier (summed over servers), the GPU prefix caches' hit rate over the
// prompts admitted since the last row, and per model its instances by state and the requests
// queued at its router. Sampling is a background event (sim/core/simulator.h),
// read-only: the run, its end time and its event count are the same with or without it.
// A state unchanged for more than kRepeatedRowsWritten rows is not written again until it
// changes: the sampler then wakes only at the first interval boundary at or after the next
// event, and writes the flat stretch's last row (the boundary before the change) before the
// new one; the run's last row is always written. A far-future arrival or a long keep-alive
// thus costs a bounded number of rows, not one per interval of idle simulated time.

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
  static constexpr int64_t kRepeatedRowsWritten = 1000;
  TimeseriesWriter(Simulator& sim, const Cluster& cluster, const Loader& loader, const ControlPlane& control,
                   const std::vector<std::string>& model_names, std::vector<int64_t> gpus_per_instance, Time interval,
                   OutputFile& file, std::vector<KvTier> offload_tiers = {});
  // Schedules the first sample at time zero.
  void start();
  // The last row, at the end of the run (unless a sample was just taken then).
  void finish();
  void on_event(const Event& event) override;

 private:
  // Samples now; a repeated state past kRepeatedRowsWritten is written only when `always`.
  void sample(bool always);
  void write_row(Time at, const std::string& state);
  void write_hit_rates(const PrefixLookups& now, const PrefixLookups& before, std::string& out) const;
  Simulator& sim_;
  const Cluster& cluster_;
  const Loader& loader_;
  const ControlPlane& control_;
  IdVector<ModelId, int64_t> gpus_per_instance_;
  Time interval_;
  OutputFile& file_;
  uint16_t handler_;
  std::optional<Time> last_sample_;
  std::optional<Time> last_written_;
  std::string state_;           // the row without its time
  std::string last_state_;      // the last row written or skipped, without its time
  int64_t repeats_ = 0;         // samples since last_state_ first appeared
  PrefixLookups last_lookups_;  // the run's totals at the last sample
  // With KV offload tiers: their hit rates beside the GPU's, overall and per model.
  std::vector<KvTier> offload_tiers_;
  std::vector<PrefixLookups> last_lookups_by_model_;
  std::string row_;
};

}  // namespace slsim
