#pragma once
// Load balance between the running instances of one model (Llumnix, OSDI'24 §4.4): every
// interval the policy compares their loads and names requests to move from loaded instances to
// lightly loaded ones. The control plane moves them live, the sources serving the rest
// (sim/control/partial_migration.h); the destinations already hold the weights.

#include <cstdint>
#include <span>
#include <vector>

#include "sim/core/ids.h"
#include "sim/core/registry.h"
#include "sim/core/time.h"

namespace slsim {

// A request an instance may give away: running, one sequence, its KV cache in the GPUs.
struct MovableRequest {
  RequestId request;
  int64_t tokens = 0;  // input plus generated tokens whose keys and values are cached
  int64_t blocks = 0;  // the KV blocks those take
};

// One serving instance of the model that takes part in no other migration.
struct InstanceLoad {
  InstanceId instance;
  int64_t requests = 0;                 // in its engine: waiting, running or swapped
  int64_t used_blocks = 0;              // KV blocks its requests hold in the GPUs
  int64_t capacity_blocks = 1;          // its KV cache
  std::vector<MovableRequest> movable;  // in request-id order (arrival order)
};

struct RebalanceMove {
  InstanceId source;
  InstanceId destination;
  std::vector<RequestId> requests;
};

class RebalancePolicy {
 public:
  static constexpr const char* kind = "rebalance";
  struct Context {};
  virtual ~RebalancePolicy() = default;
  // How often the loads are compared; zero: never.
  virtual Time interval() const = 0;
  // The moves among one model's instances, appended to `moves`; no instance in two moves.
  virtual void plan(std::span<const InstanceLoad> instances, std::vector<RebalanceMove>& moves) const = 0;
  // A KV copy's stage is the last (the moved requests leave the source) when it has at most this
  // many blocks to copy, or when it is stage `max_stages`.
  virtual int64_t last_stage_max_blocks() const { return 0; }
  virtual int64_t max_stages() const { return 1; }
};

const Registry<RebalancePolicy>& rebalance_policies();

// Requests stay where they were routed.
class NoRebalance final : public RebalancePolicy {
 public:
  struct Params {
    template <class V>
    void visit(V&) {}
  };
  NoRebalance(const Params&, Context&) {}
  Time interval() const override { return Time::zero(); }
  void plan(std::span<const InstanceLoad>, std::vector<RebalanceMove>&) const override {}
};

enum class RebalanceMetric : uint8_t { kv, requests };
inline constexpr EnumNames<RebalanceMetric, 2> kRebalanceMetricNames{
    {{RebalanceMetric::kv, "kv"}, {RebalanceMetric::requests, "requests"}}};
enum class RebalancePick : uint8_t { shortest, last };
inline constexpr EnumNames<RebalancePick, 2> kRebalancePickNames{
    {{RebalancePick::shortest, "shortest"}, {RebalancePick::last, "last"}}};

// Llumnix's balancing: the instances sorted by load, the most loaded is paired with the least
// loaded, the second with the second, while a pair's loads differ by more than `threshold`;
// each pair's source gives the destination requests, in `pick` order, as long as the source
// stays at least as loaded as the destination after each. The requests' KV caches are copied in
// stages while the source decodes (Llumnix's live migration, the `live-kv` method's mechanism).
class LlumnixRebalance final : public RebalancePolicy {
 public:
  struct Params {
    double interval_s = 0.05;
    RebalanceMetric metric = RebalanceMetric::kv;
    double threshold = 0.1;
    RebalancePick pick = RebalancePick::shortest;
    int64_t last_stage_max_blocks = 16;
    int64_t max_stages = 3;

    template <class V>
    void visit(V& v) {
      v.field("interval_s", interval_s,
              "how often the model's instances are compared, s (Llumnix --polling-interval 0.05 with "
              "--pair-migration-frequency 1)",
              positive());
      v.choice("metric", metric,
               "an instance's load: `kv`, the fraction of its KV blocks its requests hold (Llumnix's usage ratio "
               "without its virtual usage of queued requests: an assumption); `requests`, the requests in its engine",
               kRebalanceMetricNames);
      v.field("threshold", threshold,
              "move requests when the most loaded instance's load exceeds the least loaded one's by more than this "
              "(a fraction of the KV cache for `kv`, requests for `requests`; 0.1 is an assumption: Llumnix's "
              "--migrate-out-threshold is in its own load unit)",
              at_least(0));
      v.choice("pick", pick,
               "which requests move first: `shortest`, the fewest cached tokens (Llumnix's default "
               "--request-migration-policy SR); `last`, the latest arrived (Llumnix LCR)",
               kRebalancePickNames);
      v.field("last_stage_max_blocks", last_stage_max_blocks,
              "the moved requests leave the source once a stage has at most this many blocks to copy (Llumnix "
              "--migration-last-stage-max-blocks 16)",
              at_least(0));
      v.field("max_stages", max_stages,
              "stages at most, the last with the moved requests stopped (Llumnix --migration-max-stages 3; Llumnix "
              "then drops the migration, here it ends with the stop-and-copy)",
              at_least(1));
    }
  };
  LlumnixRebalance(const Params& params, Context&) : params_(params) {}
  Time interval() const override { return Time::from_seconds(params_.interval_s); }
  void plan(std::span<const InstanceLoad> instances, std::vector<RebalanceMove>& moves) const override;
  int64_t last_stage_max_blocks() const override { return params_.last_stage_max_blocks; }
  int64_t max_stages() const override { return params_.max_stages; }

 private:
  double load(const InstanceLoad& instance) const;
  Params params_;
};

}  // namespace slsim
