#pragma once
// Preloading: copying checkpoints into faster tiers, or starting instances, before demand.

#include <cstdint>
#include <vector>

#include "sim/cluster/cluster.h"
#include "sim/core/registry.h"
#include "sim/loading/loader.h"
#include "sim/policy/views.h"

namespace slsim {

struct PreloadAction {
  enum class Target : uint8_t { dram, ssd, instance };
  Target target = Target::dram;
  ModelId model;
  ServerId server = ServerId::none();  // none: wherever the placement policy puts an instance
  Time at;                             // when to act (>= now)
  Time keep_alive;                     // for an instance: how long it may stay idle before its first request
};

class PreloadPolicy {
 public:
  static constexpr const char* kind = "preload";
  struct Context {
    const Cluster& cluster;
    const Loader& loader;
    IdVector<ModelId, int64_t> checkpoint_bytes;
  };
  virtual ~PreloadPolicy() = default;
  // Zero: plan() is called only after hooks; otherwise also every interval.
  virtual Time interval() const { return Time::zero(); }
  virtual void on_request(ModelId /*model*/, Time /*now*/) {}
  virtual void on_idle(ModelId /*model*/, Time /*now*/) {}
  // Appends what to do; called every interval and after each hook.
  virtual void plan(Time now, std::vector<PreloadAction>& actions) = 0;
};

const Registry<PreloadPolicy>& preload_policies();

struct NoPreloadParams {
  template <class V>
  void visit(V&) {}
};

class NoPreload final : public PreloadPolicy {
 public:
  using Params = NoPreloadParams;
  NoPreload(const Params&, Context&) {}
  void plan(Time, std::vector<PreloadAction>&) override {}
};

}  // namespace slsim
