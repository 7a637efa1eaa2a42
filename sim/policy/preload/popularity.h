#pragma once

#include "sim/policy/preload/preload.h"

namespace slsim {

// Keeps the checkpoints of the most requested models in the servers' DRAM (or SSD) caches,
// refreshed every interval: models ranked by an exponentially decayed request count, each
// placed on `replicas` servers, spread round-robin, while the target caches have room.
class PopularityPreload final : public PreloadPolicy {
 public:
  struct Params {
    double interval_s = 300;
    double half_life_s = 900;
    int64_t replicas = 1;
    std::string tier = "dram";
    template <class V>
    void visit(V& v) {
      v.field("interval_s", interval_s, "refresh period, s", positive());
      v.field("half_life_s", half_life_s, "half-life of a request's weight in the popularity count, s", positive());
      v.field("replicas", replicas, "servers that hold each popular checkpoint", at_least(1));
      v.choice("tier", tier, "cache tier to fill", {"dram", "ssd"});
    }
  };
  PopularityPreload(const Params& params, Context& context);
  Time interval() const override { return Time::from_seconds(params_.interval_s); }
  void on_request(ModelId model, Time now) override;
  void plan(Time now, std::vector<PreloadAction>& actions) override;

 private:
  double decayed(ModelId model, Time now) const;
  Params params_;
  const Cluster& cluster_;
  IdVector<ModelId, int64_t> checkpoint_bytes_;
  IdVector<ModelId, double> score_;
  IdVector<ModelId, Time> scored_at_;
};

}  // namespace slsim
