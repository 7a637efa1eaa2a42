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
                                   std::vector<int64_t> gpus_per_instance, Time interval, OutputFile& file,
                                   std::vector<KvTier> offload_tiers)
    : sim_(sim),
      cluster_(cluster),
      loader_(loader),
      control_(control),
      gpus_per_instance_(std::move(gpus_per_instance)),
      interval_(interval),
      file_(file),
      handler_(sim.add_handler(this)),
      offload_tiers_(std::move(offload_tiers)) {
  sim_.set_background(handler_);
  std::string header =
      "time_s,gpus_busy,gpus_idle,gpus_loading,gpus_migrating,gpus_free,dram_cached_bytes,ssd_cached_bytes,"
      "prefix_hit_rate.gpu";
  for (const KvTier tier : offload_tiers_) header += fmt::format(",prefix_hit_rate.{}", kv_tier_name(tier));
  for (const std::string& model : model_names) {
    for (const char* state : kStateNames) header += fmt::format(",{}.{}", model, state);
    header += fmt::format(",{}.queued", model);
    if (offload_tiers_.empty()) continue;
    header += fmt::format(",{}.prefix_hit_rate.gpu", model);
    for (const KvTier tier : offload_tiers_) header += fmt::format(",{}.prefix_hit_rate.{}", model, kv_tier_name(tier));
  }
  file_.write(header + "\n");
}

void TimeseriesWriter::start() { sim_.schedule_in(Time::zero(), handler_, 0, 0); }

void TimeseriesWriter::on_event(const Event&) {
  sample(false);
  Time next = sim_.now() + interval_;
  if (repeats_ > kRepeatedRowsWritten && sim_.foreground_pending() > 0) {
    // Nothing changes before the next event: wake at the first boundary at or after it.
    const int64_t boundaries = (sim_.next_event_time().ns() + interval_.ns() - 1) / interval_.ns();
    next = std::max(next, Time::from_ns(boundaries * interval_.ns()));
  }
  sim_.schedule_at(next, handler_, 0, 0);
}

void TimeseriesWriter::finish() {
  if (last_sample_ != sim_.now()) {
    sample(true);
  } else if (last_written_ != sim_.now()) {
    write_row(sim_.now(), last_state_);
  }
}

void TimeseriesWriter::write_row(Time at, const std::string& state) {
  last_written_ = at;
  row_.clear();
  fmt::format_to(std::back_inserter(row_), "{:.3f}", at.seconds());
  row_ += state;
  row_ += '\n';
  file_.write(row_);
}

// The hit rates of the prompts first admitted since the last sample, the GPU's then each
// offload tier's, comma-separated; each empty when there were none.
void TimeseriesWriter::write_hit_rates(const PrefixLookups& now, const PrefixLookups& before, std::string& out) const {
  const int64_t prompt_tokens = now.prompt_tokens - before.prompt_tokens;
  const auto write = [&](KvTier tier) {
    if (prompt_tokens > 0)
      fmt::format_to(std::back_inserter(out), "{:.4f}",
                     static_cast<double>(now.hits(tier) - before.hits(tier)) / static_cast<double>(prompt_tokens));
  };
  write(KvTier::gpu);
  for (const KvTier tier : offload_tiers_) {
    out += ',';
    write(tier);
  }
}

void TimeseriesWriter::sample(bool always) {
  last_sample_ = sim_.now();
  int64_t gpus_by_state[4] = {0, 0, 0, 0};
  std::string per_model;
  std::vector<PrefixLookups> lookups_by_model;
  if (!offload_tiers_.empty()) {
    lookups_by_model = control_.prefix_lookups_by_model();
    last_lookups_by_model_.resize(lookups_by_model.size());
  }
  for (const ModelId model : gpus_per_instance_.ids()) {
    for (size_t s = 0; s < std::size(kCountedStates); ++s) {
      const int64_t n = control_.instances_in(model, kCountedStates[s]);
      gpus_by_state[s] += n * gpus_per_instance_[model];
      fmt::format_to(std::back_inserter(per_model), ",{}", n);
    }
    fmt::format_to(std::back_inserter(per_model), ",{}", control_.queued_requests(model));
    if (offload_tiers_.empty()) continue;
    per_model += ',';
    write_hit_rates(lookups_by_model[model.value()], last_lookups_by_model_[model.value()], per_model);
    last_lookups_by_model_[model.value()] = lookups_by_model[model.value()];
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
  state_.clear();
  fmt::format_to(std::back_inserter(state_), ",{},{},{},{},{},{},{},", gpus_by_state[2], gpus_by_state[1],
                 gpus_by_state[0], gpus_by_state[3], gpus - held, dram, ssd);
  const PrefixLookups lookups = control_.prefix_lookups();
  write_hit_rates(lookups, last_lookups_, state_);
  last_lookups_ = lookups;
  state_ += per_model;
  if (last_written_ && state_ == last_state_) {
    if (++repeats_ > kRepeatedRowsWritten && !always) return;
  } else {
    // The flat stretch ended after the boundary before now; its last row shows where.
    const Time before = sim_.now() - interval_;
    if (repeats_ > kRepeatedRowsWritten && last_written_ < before) write_row(before, last_state_);
    repeats_ = 0;
    last_state_ = state_;
  }
  write_row(sim_.now(), state_);
}

}  // namespace slsim
