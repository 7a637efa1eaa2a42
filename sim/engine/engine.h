#pragma once
// One instance's serving engine: iteration-level continuous batching. Its batching policy
// (batching_policy.h; today vLLM v0's) decides what each step does: a step either prefills the
// requests it admits or decodes one token for every running sequence, or with chunked prefill
// both. Blocks are taken as tokens arrive; when a running sequence needs one and none is free,
// a running request is preempted: by recompute (its blocks are freed and it is prefilled
// again, prompt plus generated tokens) or by swap (its blocks move to host memory and come
// back when blocks free up). With an offload (kv_offload.h), prompt blocks the GPU's prefix
// cache evicts go down to the tiers below, and a prompt's blocks found there come back
// instead of being computed.
//
// The engine knows nothing of simulated time or links: the caller asks begin_step() for the
// next step's compute time and kv_moves() for the KV bytes the step moves first (swaps and
// fetches); it moves those as flows over the instance's links, which they share with
// checkpoint loads (sim/control/kv_transfers.h), then schedules the step's end after its
// compute time, and calls finish_step() then. With fast_forward, one
// begin_step() may cover a run of decode steps up to the next request completion, or until
// the blocks they take are no longer free; interrupt() cuts the run short at the end of the
// step in progress (the caller does this when a request arrives), so that the outcome equals
// stepping one by one.
//
// Plain decoding is counted, not stepped through per request (counted_decoding.h): while every
// running request is a plain one, a decode step costs O(1) plus the requests that join, finish
// or change. Anything unusual (preemption, swapping, beams, samples, shadows, chunked prefill,
// remove()) first puts every counted token in and steps every request as before; so does
// blocks(). The statistics integrate every step of a run (step_statistics.h).

#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <span>
#include <utility>
#include <vector>

#include "sim/core/ids.h"
#include "sim/core/time.h"
#include "sim/engine/batching_policy.h"
#include "sim/engine/block_manager.h"
#include "sim/engine/engine_batch.h"
#include "sim/engine/engine_params.h"
#include "sim/engine/kv_offload.h"
#include "sim/engine/latency_model.h"
#include "sim/engine/step_statistics.h"

namespace slsim {

// The latency model an instance of `model` on `tensor_parallel` GPUs of type `gpu` uses.
std::unique_ptr<LatencyModel> make_latency_model(const ModelSpec& model, const GpuProfile& gpu, int64_t tensor_parallel,
                                                 const EngineParams& params);

// KV-cache capacity of an instance in whole blocks, or 0 if the weights do not fit; with
// engine.kv_cache_memory_bytes that size per GPU, refused (InputError) where weights and KV exceed the GPUs.
int64_t kv_capacity_blocks(const ModelSpec& model, const GpuProfile& gpu, int64_t tensor_parallel,
                           const EngineParams& params);
// The same in tokens (blocks × block size).
int64_t kv_capacity_tokens(const ModelSpec& model, const GpuProfile& gpu, int64_t tensor_parallel,
                           const EngineParams& params);

// What a finished step produced, valid until the next finish_step().
struct StepResult {
  std::vector<RequestId> first_tokens;
  std::vector<RequestId> finished;
  std::vector<RequestId> shadows_parked;  // shadow sequences whose prefill completed
};

class Engine {
 public:
  // `offload`: the tiers below the GPU's prefix cache, which outlive the engine; nullptr: none.
  Engine(const LatencyModel& latency, const EngineParams& params, const EngineCapacity& capacity,
         KvOffload* offload = nullptr);

  // Whether the request can ever run here alone.
  bool fits(const EngineRequest& request) const;
  void enqueue(EngineRequest request);
  // A request moved here from another instance with `generated` tokens already produced: its
  // prompt is the input plus those tokens, of which `resident` already have keys and values
  // here (recomputed by a live migration's rounds); the rest is prefilled when admitted.
  void enqueue_resumed(EngineRequest request, int64_t generated, int64_t resident);
  // Shadow sequences: a live migration's destination recomputing a request that still runs on
  // its source. A shadow is scheduled as a prefill of the tokens sent so far (it takes blocks
  // and step time beside the engine's other work), produces no token and, once its prefill is
  // done, parks holding its KV cache (reported in StepResult::shadows_parked). It is not a
  // request: outstanding() and request_tokens() leave it out. A preempted shadow is recomputed,
  // never swapped. `request` is the real request's, with input_tokens = the tokens sent.
  void enqueue_shadow(EngineRequest request);
  // Sends `tokens` more to a shadow: a parked one prefills them as a chunk with its KV as context.
  // Not while stepping.
  void extend_shadow(RequestId id, int64_t tokens);
  // The shadow becomes the request, `generated` tokens produced on the source: what it holds
  // stays resident; the rest of input + generated is prefilled when next scheduled. Not while
  // stepping.
  void promote_shadow(const EngineRequest& request, int64_t generated);
  // Drops a shadow and frees its blocks. Not while stepping.
  void remove_shadow(RequestId id);
  int64_t shadows() const { return batch_.shadows; }
  // Shadows still to prefill (waiting, or part-way through their prefill).
  int64_t unparked_shadows() const;

  // Takes a request out wherever it is (waiting, running or swapped) and frees its blocks;
  // returns the tokens it had generated, or nullopt if it is not here. Not while stepping.
  std::optional<int64_t> remove(RequestId id);
  // The ids of the requests here, and the input plus generated tokens of each, `elapsed` into
  // the step in progress: the steps of a fast-forwarded run that ended by then count.
  std::vector<std::pair<RequestId, int64_t>> request_tokens(Time elapsed = Time::zero()) const;
  // The same for the tokens whose keys and values are in the GPU's cache (what a KV copy can
  // move): none for a request waiting or swapped out.
  std::vector<std::pair<RequestId, int64_t>> cached_request_tokens(Time elapsed = Time::zero()) const;

  // Plans the next step (or run of decode steps) and returns its compute time; nullopt with
  // nothing to do. A step that moves KV bytes (kv_moves()) is one step, which computes once
  // they are in.
  std::optional<Time> begin_step();
  // The KV bytes the step begun last moves before it computes.
  const KvMoves& kv_moves() const { return batch_.moves; }
  // Those moves took `waited`: the step lasts that much longer, in its statistics too (the
  // instance is busy and its blocks are held while its KV moves).
  void kv_moved(Time waited);
  // Cuts a run of decode steps short after the step in progress at `elapsed` since
  // begin_step(); returns the time from `elapsed` until that step ends.
  Time interrupt(Time elapsed);
  const StepResult& finish_step();
  // When the simulation stops `elapsed` into a run: finishes the run's steps that ended by
  // then, as stepping one by one would have, and drops the rest.
  void settle(Time elapsed);

  bool stepping() const { return stepping_; }
  bool idle() const { return !stepping_ && batch_.waiting.empty() && batch_.running.empty() && batch_.swapped.empty(); }
  // Prompt tokens of a request with these prefix blocks that the prefix cache holds now.
  int64_t cached_prefix_tokens(int64_t input_tokens, std::span<const uint64_t> prefix) const {
    return batch_.blocks->cached_prefix_blocks(input_tokens, prefix) * batch_.params.block_size;
  }
  int64_t outstanding() const {
    return static_cast<int64_t>(batch_.waiting.size() + batch_.running.size() + batch_.swapped.size()) - batch_.shadows;
  }
  // Requests waiting to be admitted (their prefill not begun, or preempted), shadows included.
  int64_t queued() const { return static_cast<int64_t>(batch_.waiting.size()); }
  // The KV cache's capacity in blocks.
  int64_t total_blocks() const { return batch_.blocks->total_blocks(); }
  // Elastic KV (kv_pool.h): the blocks the cache may hold from now on, at least
  // kv_blocks_needed(); capacity.kv_blocks stays the most it can ever get. Const as far as the
  // compiler sees: the block manager is held by pointer.
  void set_kv_blocks(int64_t blocks) const;
  // The blocks held now plus those the step or run in progress takes before it ends.
  int64_t kv_blocks_needed() const;
  int64_t kv_block_bytes() const { return batch_.block_bytes(); }
  int64_t max_kv_blocks() const { return batch_.capacity.kv_blocks; }
  // The block manager with every counted token put in (so not const).
  const BlockManager& blocks() {
    batch_.store_counted();
    return *batch_.blocks;
  }
  // Throws std::logic_error unless the KV blocks are consistent and every admitted request's
  // sequences hold the tokens its group counts.
  void audit() const;
  const EngineStats& stats() const { return stats_.totals(); }

 private:
  using WaitingQueue = std::deque<SequenceGroup>;
  int64_t run_length();
  // Steps of the run in progress that ended `elapsed` after it began.
  int64_t steps_done(Time elapsed) const;
  // The end of a run of the counted decoding: the counter advances, and only the members that
  // are done are visited. later_blocks: opened by the run's steps after its first.
  void finish_counted_run(int64_t later_blocks);
  void release(SequenceGroup& g);
  // Where the shadow of request `id` is, waiting or running (the other iterator is end());
  // throws while stepping or if there is none.
  std::pair<WaitingQueue::iterator, std::vector<uint32_t>::iterator> find_shadow(RequestId id);
  // A parked shadow with tokens to add goes back to the front of the waiting queue with its blocks.
  void unpark(std::vector<uint32_t>::iterator it);

  const LatencyModel& latency_;
  EngineBatch batch_;
  std::unique_ptr<BatchingPolicy> policy_;

  bool stepping_ = false;
  int64_t run_steps_ = 1;
  Time kv_wait_ = Time::zero();  // the step in progress waited this long for its KV moves
  std::vector<Time> run_step_times_;
  std::vector<int64_t> run_new_blocks_;     // by step of the run: the blocks it opens (not for a counted run)
  std::vector<uint32_t> finished_slots_;    // of the members a counted run finishes
  std::vector<size_t> finished_positions_;  // in running, of the same
  StepResult result_;
  StepStatistics stats_;
};

}  // namespace slsim
