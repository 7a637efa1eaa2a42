#pragma once
// Freeing GPUs: what happens to the running instances a placement needs out of the way. The
// control plane carries out the method; the policy says which and when a live migration's
// rounds stop.

#include <cstdint>

#include "sim/core/registry.h"

namespace slsim {

enum class MigrationMethod : uint8_t { none, preempt, live_token, live_kv };

class MigrationPolicy {
 public:
  static constexpr const char* kind = "migration";
  struct Context {};
  virtual ~MigrationPolicy() = default;
  virtual MigrationMethod method() const = 0;
  // A live migration stops the source after a round in which fewer tokens than this arrived.
  virtual int64_t stop_below_tokens() const { return 0; }
  // At most this many rounds (stages of a KV copy) before the source is stopped anyway.
  virtual int64_t max_rounds() const { return 0; }
  // A KV copy's stage is the last (stop-and-copy) when it has at most this many blocks to copy.
  virtual int64_t last_stage_max_blocks() const { return 0; }
  // An idle instance (no request in flight) is released to make room for a start whose model
  // has requests waiting: keep-alive is a cache, not a reservation. Every method that frees
  // GPUs counts an idle victim as free; `none` asks its parameter.
  virtual bool idle_instances_yield() const { return true; }
};

const Registry<MigrationPolicy>& migration_policies();

// No instance with requests in flight is moved or stopped: GPUs free up only when instances
// are released, idle ones included where a start with requests waiting needs them.
class NoMigration final : public MigrationPolicy {
 public:
  struct Params {
    bool idle_instances_yield = true;

    template <class V>
    void visit(V& v) {
      v.field("idle_instances_yield", idle_instances_yield,
              "release an idle instance (no request in flight) kept alive by its keep-alive or its autoscaler to "
              "make room for another start whose model has requests waiting at the router; false: it keeps its "
              "GPUs until its keep-alive ends (the behaviour before issue 21)");
    }
  };
  NoMigration(const Params& params, Context&) : params_(params) {}
  MigrationMethod method() const override { return MigrationMethod::none; }
  bool idle_instances_yield() const override { return params_.idle_instances_yield; }

 private:
  Params params_;
};

// The victim's requests are stopped and start again from scratch at the router.
class PreemptMigration final : public MigrationPolicy {
 public:
  struct Params {
    template <class V>
    void visit(V&) {}
  };
  PreemptMigration(const Params&, Context&) {}
  MigrationMethod method() const override { return MigrationMethod::preempt; }
};

// ServerlessLLM's live migration (§5): the victim's model loads on a destination, which
// recomputes the KV cache from the tokens by prefill while the source keeps decoding, in
// rounds, until a round brings fewer than `stop_below_tokens` new tokens; then the source
// stops, the last tokens are sent and routing switches.
class LiveTokenMigration final : public MigrationPolicy {
 public:
  struct Params {
    int64_t stop_below_tokens = 20;
    int64_t max_rounds = 10;

    template <class V>
    void visit(V& v) {
      v.field("stop_below_tokens", stop_below_tokens,
              "stop the source after a round that brought fewer new tokens than this, summed over its requests "
              "(ServerlessLLM repository default 20)",
              at_least(1));
      v.field("max_rounds", max_rounds, "stop the source after this many rounds whatever arrived", at_least(1));
    }
  };
  LiveTokenMigration(const Params& params, Context&) : params_(params) {}
  MigrationMethod method() const override { return MigrationMethod::live_token; }
  int64_t stop_below_tokens() const override { return params_.stop_below_tokens; }
  int64_t max_rounds() const override { return params_.max_rounds; }

 private:
  Params params_;
};

// Llumnix's live migration (OSDI'24 §4.3): the victim's model loads on a destination; the
// source's KV cache is copied over the network block by block, as flows, while the source keeps
// decoding: stage 1 copies every block it holds, each next stage the blocks that appeared (or
// grew) during the previous one. A stage with at most `last_stage_max_blocks` blocks to copy, or
// the stage after `max_stages`, is the stop-and-copy: the source stops, the last blocks are
// copied (the requests' pause) and they resume on the destination with their KV cache resident.
class LiveKvMigration final : public MigrationPolicy {
 public:
  struct Params {
    int64_t last_stage_max_blocks = 16;
    int64_t max_stages = 3;

    template <class V>
    void visit(V& v) {
      v.field("last_stage_max_blocks", last_stage_max_blocks,
              "copy the rest with the source stopped once a stage has at most this many blocks to copy, summed "
              "over its requests (Llumnix default 16)",
              at_least(0));
      v.field("max_stages", max_stages,
              "stop the source after this many stages whatever is left (Llumnix default 3; Llumnix then "
              "abandons the migration, here it ends with a stop-and-copy because the GPUs are needed)",
              at_least(1));
    }
  };
  LiveKvMigration(const Params& params, Context&) : params_(params) {}
  MigrationMethod method() const override { return MigrationMethod::live_kv; }
  int64_t last_stage_max_blocks() const override { return params_.last_stage_max_blocks; }
  int64_t max_rounds() const override { return params_.max_stages; }

 private:
  Params params_;
};

}  // namespace slsim
