#pragma once
// --timeline FILE: a Chrome / Perfetto trace-event JSON (opens in ui.perfetto.dev or
// chrome://tracing). One process per server, one track per instance; slices for each
// instance state (`loading from <tier>`, `idle`, `busy`, `migrating`) and, nested in `busy`,
// one per engine step or fast-forwarded run of decode steps (`batch`, with its requests).
// Lifecycle slices are always written (a few per instance); batches stop after
// `max_batches` so a long run's file stays openable, and the file then says how many were
// left out (`dropped_batches` in its metadata).

#include <cstdint>
#include <string>
#include <vector>

#include "sim/control/observer.h"
#include "sim/metrics/output_file.h"

namespace slsim {

class TimelineWriter final : public ServingObserver {
 public:
  TimelineWriter(std::vector<std::string> model_names, std::vector<std::string> server_names, int64_t max_batches,
                 OutputFile& file);
  void on_instance(const InstanceTransition& t) override;
  void on_load(InstanceId instance, ModelId, ServerId, Tier tier, Time) override;
  void on_batch(InstanceId instance, ModelId model, ServerId server, Time start, Time end, int64_t requests) override;
  // Closes the slices of instances still up at `end` and the JSON document.
  void finish(Time end);

 private:
  struct Open {
    ModelId model;
    ServerId server;
    InstanceState state = InstanceState::released;
    Time since;
    Tier tier = Tier::remote;
  };
  void slice(const char* category, const std::string& name, ServerId server, InstanceId instance, Time start, Time end,
             const std::string& args);
  void name_tracks(ServerId server, InstanceId instance, ModelId model);
  void close(InstanceId instance, Time end);

  IdVector<ModelId, std::string> model_names_;
  IdVector<ServerId, std::string> server_names_;
  int64_t max_batches_;
  OutputFile& file_;
  IdVector<InstanceId, Open> open_;
  IdVector<ServerId, bool> server_named_;
  int64_t batches_ = 0;
  int64_t dropped_batches_ = 0;
  bool first_ = true;
  std::string line_;
};

}  // namespace slsim
