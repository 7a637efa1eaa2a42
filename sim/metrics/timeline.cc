#include "sim/metrics/timeline.h"

#include <fmt/format.h>

#include "sim/core/fields.h"

namespace slsim {
namespace {

const char* state_name(InstanceState s) {
  switch (s) {
    case InstanceState::loading:
      return "loading";
    case InstanceState::idle:
      return "idle";
    case InstanceState::busy:
      return "busy";
    case InstanceState::migrating:
      return "migrating";
    case InstanceState::released:
      break;
  }
  return "released";
}

// Trace-event timestamps are microseconds; three decimals keep nanoseconds exact.
double micros(Time t) { return static_cast<double>(t.ns()) / 1000.0; }

}  // namespace

TimelineWriter::TimelineWriter(std::vector<std::string> model_names, std::vector<std::string> server_names,
                               int64_t max_batches, OutputFile& file)
    : model_names_(std::move(model_names)),
      server_names_(std::move(server_names)),
      max_batches_(max_batches),
      file_(file),
      server_named_(server_names_.size(), false) {
  file_.write("{\"displayTimeUnit\": \"ms\", \"traceEvents\": [\n");
}

void TimelineWriter::slice(const char* category, const std::string& name, ServerId server, InstanceId instance,
                           Time start, Time end, const std::string& args) {
  line_.clear();
  fmt::format_to(std::back_inserter(line_),
                 "{}{{\"ph\":\"X\",\"cat\":\"{}\",\"name\":{},\"pid\":{},\"tid\":{},\"ts\":{:.3f},\"dur\":{:.3f},"
                 "\"args\":{{{}}}}}",
                 first_ ? "" : ",\n", category, Json(name).dump(), server, instance, micros(start),
                 micros(end) - micros(start), args);
  first_ = false;
  file_.write(line_);
}

void TimelineWriter::name_tracks(ServerId server, InstanceId instance, ModelId model) {
  line_.clear();
  if (!server_named_[server]) {
    server_named_[server] = true;
    fmt::format_to(std::back_inserter(line_),
                   "{}{{\"ph\":\"M\",\"name\":\"process_name\",\"pid\":{},\"args\":{{\"name\":{}}}}}",
                   first_ ? "" : ",\n", server, Json(server_names_[server]).dump());
    first_ = false;
  }
  // Instance ids are reused, so each new instance renames its track.
  fmt::format_to(std::back_inserter(line_),
                 "{}{{\"ph\":\"M\",\"name\":\"thread_name\",\"pid\":{},\"tid\":{},\"args\":{{\"name\":{}}}}}",
                 first_ ? "" : ",\n", server, instance,
                 Json(fmt::format("instance {} ({})", instance, model_names_[model])).dump());
  first_ = false;
  file_.write(line_);
}

void TimelineWriter::close(InstanceId instance, Time end) {
  const Open& o = open_[instance];
  if (o.state == InstanceState::released) return;
  const std::string name = o.state == InstanceState::loading ? fmt::format("loading from {}", tier_name(o.tier))
                                                             : std::string(state_name(o.state));
  slice("instance", name, o.server, instance, o.since, end,
        fmt::format("\"model\":{}", Json(model_names_[o.model]).dump()));
}

void TimelineWriter::on_instance(const InstanceTransition& t) {
  if (t.instance.index() >= open_.size()) open_.resize(t.instance.index() + 1);
  close(t.instance, t.now);
  if (t.from == InstanceState::released) name_tracks(t.server, t.instance, t.model);
  Open& o = open_[t.instance];
  o = Open{t.model, t.server, t.to, t.now, o.tier};
}

void TimelineWriter::on_load(InstanceId instance, ModelId, ServerId, Tier tier, Time) {
  // Published just before the instance leaves `loading`, so its loading slice is named by tier.
  if (instance.index() < open_.size()) open_[instance].tier = tier;
}

void TimelineWriter::on_batch(InstanceId instance, ModelId, ServerId server, Time start, Time end, int64_t requests) {
  if (batches_ >= max_batches_) {
    ++dropped_batches_;
    return;
  }
  ++batches_;
  slice("batch", "batch", server, instance, start, end, fmt::format("\"requests\":{}", requests));
}

void TimelineWriter::finish(Time end) {
  for (const InstanceId i : open_.ids()) close(i, end);
  file_.write(fmt::format("\n], \"metadata\": {{\"batches\": {}, \"dropped_batches\": {}, \"max_batches\": {}}}}}\n",
                          batches_, dropped_batches_, max_batches_));
}

}  // namespace slsim
