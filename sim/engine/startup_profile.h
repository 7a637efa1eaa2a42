#pragma once
// How long a serving instance takes to start around its checkpoint load, as measured on one GPU
// type (the `startup` section of models/calibration/<gpu>.json, from
// kernels/testbed/startup_phases.py): process start and imports, CUDA context, engine set-up
// (weight and KV buffers) before the load; compilation, CUDA-graph capture and warm-up after it.

#include <cstdint>
#include <string>
#include <vector>

#include "sim/core/fields.h"

namespace slsim {

// One model's medians over fresh processes.
struct StartupMeasurement {
  std::string model;
  int64_t checkpoint_bytes = 0;
  double process_start_s = 0;
  double gpu_context_s = 0;
  double engine_setup_s = 0;
  double compile_s = 0;
  double graph_capture_s = 0;
  double warm_up_s = 0;

  template <class V>
  void visit(V& v) {
    v.required("model", model, "the catalogue model measured (informational)");
    v.required("checkpoint_bytes", checkpoint_bytes, "its weight bytes on one GPU, the interpolation's axis",
               at_least(1));
    v.required("process_start_s", process_start_s, "launch to imports done (interpreter, import torch), s",
               at_least(0));
    v.required("gpu_context_s", gpu_context_s, "CUDA context creation, s", at_least(0));
    v.required("engine_setup_s", engine_setup_s, "engine set-up: weight and KV cache allocation, s", at_least(0));
    v.required("compile_s", compile_s, "after the load: compiling the fused kernels, s", at_least(0));
    v.required("graph_capture_s", graph_capture_s, "after the load: decode CUDA-graph capture, s", at_least(0));
    v.required("warm_up_s", warm_up_s, "after the load: a first request's prefill and decode step, s", at_least(0));
  }
};

struct StartupProfile {
  std::string source;
  std::string gpu_name;
  std::string driver;
  std::string date_utc;
  std::string command;
  std::vector<StartupMeasurement> models;

  template <class V>
  void visit(V& v) {
    v.field("source", source, "where the figures come from (and, if borrowed, from which GPU)");
    v.field("gpu_name", gpu_name, "the GPU as the driver names it");
    v.field("driver", driver, "the NVIDIA driver version");
    v.field("date_utc", date_utc, "when the measurement ran");
    v.field("command", command, "the command that measured it");
    v.list("models", models, "per measured model, ascending checkpoint_bytes; empty: none measured");
  }
};

// The start-up an instance pays, split at the load.
struct StartupPhases {
  double process_start_s = 0;
  double gpu_context_s = 0;
  double engine_setup_s = 0;
  double post_load_s = 0;  // compile + graph capture + warm-up
  // The measured parts of post_load_s that offline materialization can remove (start-up
  // policies, sim/loading/startup_policy.h); 0 where the config sets post_load_s whole.
  double compile_s = 0;
  double graph_capture_s = 0;

  double before_load_s() const { return process_start_s + gpu_context_s + engine_setup_s; }
};

// The phases of a model of `checkpoint_bytes` per GPU: each phase linear in the bytes between
// the two measured models around it, and the nearest measured model's outside their range (the
// phases are mostly imports and compilation, which do not grow with the model, so a line through
// two noisy points is not extended). `profile.models` must not be empty.
StartupPhases interpolate_startup(const StartupProfile& profile, double checkpoint_bytes);

// Checks a profile read from `path` (a JSON path inside a calibration file): models in ascending
// checkpoint_bytes, no size twice.
void check_startup(const StartupProfile& profile, const std::string& path);

}  // namespace slsim
