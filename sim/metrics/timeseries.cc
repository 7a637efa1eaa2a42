#include "sim/metrics/timeseries.h"

#include <fmt/format.h>

namespace slsim {
namespace {

constexpr InstanceState kCountedStates[] = {InstanceState::loading, InstanceState::idle, InstanceState::busy,
                                            InstanceState::migrating};
constexpr const char* kStateNames[] = {"loading", "idle", "busy", "migrating"};

}  // namespace

TimeseriesWriter::TimeseriesWriter(Simulator& sim, const Cluster& cluster, const Loader& loader,
                                   const ControlPlane& control, const std::vector<std::string>& model_names,
                                   std::vector<int64_t> gpus_per_instance, Time interval, OutputFile& file)
    : sim_(sim),
      cluster_(cluster),
      loader_(loader),
      control_(control),
      gpus_per_instance_(std::move(gpus_per_instance)),
      interval_(interval),
      file_(file),
      handler_(sim.add_handler(this)) {
  sim_.set_background(handler_);
  std::string header =
      "time_s,gpus_busy,gpus_idle,gpus_loading,gpus_migrating,gpus_free,dram_cached_bytes,ssd_cached_bytes";
  for (const std::string& model : model_names) {
    for (const char* state : kStateNames) header += fmt::format(",{}.{}", model, state);
    header += fmt::format(",{}.queued", model);
  }
  file_.write(header + "\n");
}

void TimeseriesWriter::start() { sim_.schedule_in(Time::zero(), handler_, 0, 0); }

void TimeseriesWriter::on_event(const Event&) {
  sample();
  sim_.schedule_in(interval_, handler_, 0, 0);
}

void TimeseriesWriter::finish() {
  if (last_sample_ != sim_.now()) sample();
}

void TimeseriesWriter::sample() {
  last_sample_ = sim_.now();
  int64_t gpus_by_state[4] = {0, 0, 0, 0};
  std::string per_model;
  for (const ModelId model : gpus_per_instance_.ids()) {
    for (size_t s = 0; s < std::size(kCountedStates); ++s) {
      const int64_t n = control_.instances_in(model, kCountedStates[s]);
      gpus_by_state[s] += n * gpus_per_instance_[model];
      fmt::format_to(std::back_inserter(per_model), ",{}", n);
    }
    fmt::format_to(std::back_inserter(per_model), ",{}", control_.queued_requests(model));
  }
  int64_t gpus = 0;
  int64_t dram = 0;
  int64_t ssd = 0;
  for (const Server& s : cluster_.servers()) {
    gpus += s.profile->gpus;
    dram += loader_.dram(s.id).used_bytes();
    ssd += loader_.ssd(s.id).used_bytes();
  }
  const int64_t held = gpus_by_state[0] + gpus_by_state[1] + gpus_by_state[2] + gpus_by_state[3];
  row_.clear();
  fmt::format_to(std::back_inserter(row_), "{:.3f},{},{},{},{},{},{},{}", sim_.now().seconds(), gpus_by_state[2],
                 gpus_by_state[1], gpus_by_state[0], gpus_by_state[3], gpus - held, dram, ssd);
  row_ += per_model;
  row_ += '\n';
  file_.write(row_);
}

}  // namespace slsim
