#pragma once
// One instance's serving engine: iteration-level continuous batching as in vLLM. A step
// either prefills the requests it admits (prefill first, as vLLM schedules) or decodes one
// token for every running request. Admission is FCFS and bounded by max_num_seqs,
// max_num_batched_tokens and the KV cache, which this engine reserves per request for its
// whole sequence (input + output tokens), so it never needs to preempt.
//
// The engine knows nothing of simulated time: the caller asks begin_step() for the next
// step's duration, schedules its end, and calls finish_step() then.

#include <cstdint>
#include <deque>
#include <optional>
#include <vector>

#include "sim/core/fields.h"
#include "sim/core/ids.h"
#include "sim/core/time.h"
#include "sim/engine/latency_model.h"

namespace slsim {

struct EngineParams {
  int64_t max_num_seqs = 256;
  int64_t max_num_batched_tokens = 8192;
  double gpu_memory_utilization = 0.9;
  int64_t activation_reserve_bytes = int64_t{2} << 30;
  RooflineParams roofline;

  template <class V>
  void visit(V& v) {
    v.field("max_num_seqs", max_num_seqs, "most sequences in one batch (vLLM default 256)", at_least(1));
    v.field("max_num_batched_tokens", max_num_batched_tokens,
            "most prompt tokens prefilled in one step; a longer prompt runs alone", at_least(1));
    v.field("gpu_memory_utilization", gpu_memory_utilization,
            "share of GPU memory the engine may use (vLLM default 0.9)", between(0.05, 1));
    v.field("activation_reserve_bytes", activation_reserve_bytes,
            "memory per instance kept for activations, not KV cache, bytes", at_least(0));
    v.object("roofline", roofline, "the roofline latency model's efficiencies");
  }
};

// KV-cache capacity in tokens of an instance, or 0 if the weights do not fit.
int64_t kv_capacity_tokens(const ModelSpec& model, const GpuProfile& gpu, int64_t tensor_parallel,
                           const EngineParams& params);

struct EngineRequest {
  RequestId id = 0;
  int64_t input_tokens = 0;
  int64_t output_tokens = 0;
};

// What a finished step produced, valid until the next finish_step().
struct StepResult {
  std::vector<RequestId> first_tokens;
  std::vector<RequestId> finished;
};

class Engine {
 public:
  Engine(const LatencyModel& latency, const EngineParams& params, int64_t kv_capacity_tokens);

  // Whether the request can ever be admitted (its whole sequence fits the KV cache).
  bool fits(const EngineRequest& request) const;
  void enqueue(const EngineRequest& request);

  // Plans the next step and returns its duration; nullopt with nothing to do.
  std::optional<Time> begin_step();
  const StepResult& finish_step();

  bool stepping() const { return stepping_; }
  bool idle() const { return !stepping_ && waiting_.empty() && running_.empty(); }
  int64_t outstanding() const { return static_cast<int64_t>(waiting_.size() + running_.size() + prefilling_.size()); }
  int64_t kv_reserved_tokens() const { return kv_reserved_tokens_; }

 private:
  struct Sequence {
    EngineRequest request;
    int64_t generated = 0;
  };
  void admit();
  void release(const Sequence& s);

  const LatencyModel& latency_;
  EngineParams params_;
  int64_t kv_capacity_tokens_;
  int64_t kv_reserved_tokens_ = 0;
  std::deque<EngineRequest> waiting_;
  std::vector<Sequence> prefilling_;
  std::vector<Sequence> running_;
  bool stepping_ = false;
  bool step_is_prefill_ = false;
  StepResult result_;
};

}  // namespace slsim
