#pragma once
// One instance's serving engine: iteration-level continuous batching as vLLM (v0) schedules
// it. A step either prefills the requests it admits (prefill first) or decodes one token for
// every running sequence; with chunked prefill a step decodes first and fills the rest of its
// token budget with prompt chunks. Admission is FCFS, bounded by max_num_seqs,
// max_num_batched_tokens and free KV blocks above a watermark. Blocks are taken as tokens
// arrive; when a running sequence needs one and none is free, the latest-admitted running
// request is preempted: by recompute (its blocks are freed and it is prefilled again, prompt
// plus generated tokens) or by swap (its blocks move to host memory over the host link and
// come back when blocks free up). Requests with several sequences (parallel samples, beams)
// are always swapped, as in vLLM.
//
// The engine knows nothing of simulated time: the caller asks begin_step() for the next
// step's duration, schedules its end, and calls finish_step() then. With fast_forward, one
// begin_step() may cover a run of decode steps up to the next request completion, or until
// the blocks they take are no longer free; interrupt() cuts the run short at the end of the step in progress (the caller
// does this when a request arrives), so that the outcome equals stepping one by one.
//
// Decoding is counted, not stepped through per request: while every running request is a plain
// one (one sequence, paged blocks, nothing shared in its last block), a decode step advances an
// engine-wide step counter, and each such "lazy" request's tokens are its count when it joined
// plus the steps since. The aggregates a step needs (sequences, Σ context tokens, the step at
// which the first request finishes, and the blocks each step opens, from how many requests sit
// at each offset within a block) are kept incrementally, so a step costs O(1) plus the requests
// that join, finish or change. The tokens the block manager has not been given yet are counted
// (lazy_tokens_, lazy_blocks_), and every read of its free blocks is net of them; they go in
// when a request finishes, before anything unusual (preemption, swapping, beams, samples,
// shadows, chunked prefill, remove()), which steps every request as before, and in blocks().

#include <algorithm>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <queue>
#include <string>
#include <utility>
#include <vector>

#include "sim/core/fields.h"
#include "sim/core/ids.h"
#include "sim/core/time.h"
#include "sim/engine/block_manager.h"
#include "sim/engine/latency_model.h"

namespace slsim {

struct EngineParams {
  int64_t max_num_seqs = 256;
  int64_t max_num_batched_tokens = 8192;
  double gpu_memory_utilization = 0.9;
  int64_t activation_reserve_bytes = int64_t{2} << 30;
  int64_t block_size = 16;
  std::string kv_allocator = "paged";
  std::string contiguous_reservation = "max_context";
  double watermark = 0.01;
  std::string preemption_mode = "recompute";
  bool enable_chunked_prefill = false;
  bool fast_forward = true;
  std::string latency_model = "roofline";
  std::string calibration_dir;
  RooflineParams roofline;

  template <class V>
  void visit(V& v) {
    v.field("max_num_seqs", max_num_seqs, "most sequences in one batch (vLLM default 256)", at_least(1));
    v.field("max_num_batched_tokens", max_num_batched_tokens,
            "most tokens in one step; without chunked prefill a longer prompt runs alone", at_least(1));
    v.field("gpu_memory_utilization", gpu_memory_utilization,
            "share of GPU memory the engine may use (vLLM default 0.9)", between(0.05, 1));
    v.field("activation_reserve_bytes", activation_reserve_bytes,
            "memory per instance kept for activations, not KV cache, bytes", at_least(0));
    v.field("block_size", block_size, "tokens per KV block (vLLM default 16)", at_least(1));
    v.choice("kv_allocator", kv_allocator,
             "paged: blocks taken as tokens arrive, shared copy-on-write (vLLM); contiguous: each sequence "
             "reserves the model's max context at admission and shares nothing (Orca, FasterTransformer)",
             {"paged", "contiguous"});
    v.choice("contiguous_reservation", contiguous_reservation,
             "what the contiguous allocator reserves per sequence: max_context (Orca (Max)) or exact, the request's "
             "own input + output tokens, known in advance (Orca (Oracle))",
             {"max_context", "exact"});
    v.field("watermark", watermark, "share of KV blocks kept free when admitting prompts (vLLM default 0.01)",
            between(0, 0.5));
    v.choice("preemption_mode", preemption_mode,
             "what preempting a running request does: recompute (vLLM default) frees its blocks and prefills it "
             "again; swap moves its blocks to host memory",
             {"recompute", "swap"});
    v.field("enable_chunked_prefill", enable_chunked_prefill,
            "decode first, then fill the step's token budget with prompt chunks (vLLM's chunked prefill)");
    v.field("fast_forward", fast_forward,
            "advance consecutive decode steps in one event when nothing can change the batch; results are identical");
    v.choice("latency_model", latency_model,
             "roofline: from the hardware profile; calibrated: measured tables in calibration_dir/<gpu>.json",
             {"roofline", "calibrated"});
    v.field("calibration_dir", calibration_dir,
            "folder of calibration profiles; empty: the catalogue's calibration/ (filled in when resolved)");
    v.object("roofline", roofline, "the roofline latency model's efficiencies (also the calibrated model's fallback)");
  }
};

// The latency model an instance of `model` on `tensor_parallel` GPUs of type `gpu` uses.
std::unique_ptr<LatencyModel> make_latency_model(const ModelSpec& model, const GpuProfile& gpu, int64_t tensor_parallel,
                                                 const EngineParams& params);

// KV-cache capacity of an instance in whole blocks, or 0 if the weights do not fit.
int64_t kv_capacity_blocks(const ModelSpec& model, const GpuProfile& gpu, int64_t tensor_parallel,
                           const EngineParams& params);
// The same in tokens (blocks × block size).
int64_t kv_capacity_tokens(const ModelSpec& model, const GpuProfile& gpu, int64_t tensor_parallel,
                           const EngineParams& params);

struct EngineRequest {
  RequestId id = 0;
  int64_t input_tokens = 0;
  int64_t output_tokens = 0;
  int64_t samples = 1;
  int64_t beam_width = 1;
  std::vector<uint64_t> prefix_blocks;

  // Sequences decoded in parallel once the prompt is in.
  int64_t width() const { return std::max(samples, beam_width); }
};

// KV tokens a request may need at once with nothing shared but its prompt's growth counted
// per sequence: what an instance must hold for it to ever run.
int64_t kv_footprint_tokens(const EngineParams& params, int64_t max_context, const EngineRequest& request);

// How a preempted request's blocks reach host memory and come back: a transfer over the
// instance's host link. The default takes bytes / (host link × GPUs); the cluster's flow
// network replaces it to share the link with checkpoint loads.
class SwapChannel {
 public:
  virtual ~SwapChannel() = default;
  virtual Time transfer_time(double bytes) const = 0;
};

class HostLinkSwapChannel final : public SwapChannel {
 public:
  HostLinkSwapChannel(const GpuProfile& gpu, int64_t tensor_parallel)
      : bytes_per_s_(gpu.effective_host_link_gbytes_per_s() * 1e9 * static_cast<double>(tensor_parallel)) {}
  Time transfer_time(double bytes) const override { return Time::from_seconds(bytes / bytes_per_s_); }

 private:
  double bytes_per_s_;
};

// What an instance holds: its KV blocks, the model's longest sequence (which the contiguous
// allocator reserves) and the bytes of one token's keys and values (what a swap moves).
struct EngineCapacity {
  int64_t kv_blocks = 0;
  int64_t max_context = 0;
  int64_t kv_bytes_per_token = 0;
};

// What a finished step produced, valid until the next finish_step().
struct StepResult {
  std::vector<RequestId> first_tokens;
  std::vector<RequestId> finished;
  std::vector<RequestId> shadows_parked;  // shadow sequences whose prefill completed
};

// Running totals of one engine, for the metrics.
struct EngineStats {
  int64_t steps = 0;
  int64_t generated_tokens = 0;  // output tokens, every sequence counted
  int64_t prefilled_tokens = 0;  // prompt tokens computed, recomputation included
  int64_t preemptions = 0;
  int64_t swapped_bytes = 0;  // out and in
  double busy_s = 0;
  // Time integrals over steps: tokens stored, slots allocated (blocks × block size), and the
  // slots the same sequences would hold without sharing.
  double stored_token_s = 0;
  double allocated_token_s = 0;
  double unshared_token_s = 0;
};

class Engine {
 public:
  Engine(const LatencyModel& latency, const EngineParams& params, const EngineCapacity& capacity,
         const SwapChannel& swap);

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
  int64_t shadows() const { return shadows_; }
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

  // Plans the next step (or run of decode steps) and returns its duration; nullopt with
  // nothing to do.
  std::optional<Time> begin_step();
  // Cuts a run of decode steps short after the step in progress at `elapsed` since
  // begin_step(); returns the time from `elapsed` until that step ends.
  Time interrupt(Time elapsed);
  const StepResult& finish_step();
  // When the simulation stops `elapsed` into a run: finishes the run's steps that ended by
  // then, as stepping one by one would have, and drops the rest.
  void settle(Time elapsed);

  bool stepping() const { return stepping_; }
  bool idle() const { return !stepping_ && waiting_.empty() && running_.empty() && swapped_.empty(); }
  int64_t outstanding() const {
    return static_cast<int64_t>(waiting_.size() + running_.size() + swapped_.size()) - shadows_;
  }
  // The block manager with every counted token put in (so not const).
  const BlockManager& blocks() {
    materialize_blocks();
    return *blocks_;
  }
  // Throws std::logic_error unless the KV blocks are consistent and every admitted request's
  // sequences hold the tokens its group counts.
  void audit() const;
  const EngineStats& stats() const { return stats_; }

 private:
  struct Group {
    EngineRequest request;
    SeqId first_seq = 0;     // its sequences are first_seq .. first_seq + sequences - 1
    int64_t sequences = 1;   // width(): forked from the first at admission
    int64_t prompt = 0;      // tokens to prefill: the input, plus generated tokens after a recompute
    int64_t computed = 0;    // prompt tokens whose keys and values are in the cache
    int64_t resident = 0;    // prompt tokens a live migration recomputed before admission
    int64_t generated = 0;   // tokens generated by each sequence
    int64_t tokens = 0;      // keys and values each sequence holds while admitted (all hold as many)
    int64_t chunk = 0;       // prompt tokens this step prefills
    bool decodes = false;    // this step decodes one token per sequence
    bool shadow = false;     // a live migration's recomputation, not a request
    bool holds_blocks = false;  // waiting with its blocks for `computed` tokens (an extended shadow)
    bool lazy = false;          // decoding by the step counter: tokens and generated are as of step `base`
    int64_t base = 0;
  };

  // What a lazy group's counts are now: the steps since it joined, and the first token of a
  // step in progress.
  int64_t steps_since_base(const Group& g) const { return g.lazy ? clock_ - g.base : 0; }
  int64_t tokens_now(const Group& g) const { return g.tokens + steps_since_base(g) + (g.lazy && lazy_step_ ? 1 : 0); }
  int64_t generated_now(const Group& g) const { return g.generated + steps_since_base(g); }
  bool decodes_now(const Group& g) const { return g.decodes || (g.lazy && lazy_step_); }
  // Position within its block of a lazy group's token written at step `clock`: it opens a block
  // at the steps where (phase + clock) % block_size == 0.
  int64_t phase(const Group& g) const { return floor_mod(g.tokens - g.base, params_.block_size); }
  static int64_t floor_mod(int64_t a, int64_t b) { return ((a % b) + b) % b; }
  // The phase whose lazy groups open a block at the step that begins at `clock`; the next
  // step's is the previous phase (stepping through them without a division per step).
  size_t lazy_phase_at(int64_t clock) const { return static_cast<size_t>(floor_mod(-clock, params_.block_size)); }
  size_t previous_phase(size_t phase) const {
    return phase == 0 ? static_cast<size_t>(params_.block_size) - 1 : phase - 1;
  }
  // Blocks the lazy groups open at the step that begins at `clock`.
  int64_t lazy_blocks_opened(int64_t clock) const { return phase_counts_[lazy_phase_at(clock)]; }
  // ... and at the steps that begin at from_clock .. to_clock - 1.
  int64_t lazy_blocks_opened(int64_t from_clock, int64_t to_clock) const;
  int64_t free_blocks() const { return blocks_->free_blocks() - lazy_blocks_; }
  // Whether a running group may decode by the counter: nothing it appends copies a block.
  bool may_be_lazy(const Group& g) const;
  void join_lazy(uint32_t slot);
  // Puts a lazy group's counted tokens into the block manager.
  void materialize(Group& g);
  void materialize_blocks();
  // A lazy group back to counting its own tokens, its counted ones put in.
  void drop_lazy(Group& g);
  // Every lazy group back to counting its own tokens (not while stepping).
  void leave_lazy();
  // The common decode step: every running group decodes and the blocks they open are free.
  bool schedule_lazy_decode(int64_t& token_budget);
  int64_t lazy_run_length();
  // later_blocks: opened by the run's steps after its first.
  void finish_lazy_groups(int64_t later_blocks);

  bool prefill_done(const Group& g) const { return g.computed >= g.prompt; }
  int64_t max_tokens(const Group& g) const;
  int64_t running_sequences() const;
  bool may_take(int64_t blocks) const;
  // Admits waiting requests; returns whether it admitted any.
  bool schedule_prefills(int64_t& token_budget);
  bool schedule_running(int64_t& token_budget);
  void schedule_swapped();
  bool at_beam_boundary(const Group& g) const;
  int64_t blocks_to_grow(const Group& g) const;
  void grow(Group& g);
  // A decoding group's token is in: counts it and adds it to the step's shape.
  void grown(Group& g);
  void preempt(Group g);
  std::vector<SeqId> seqs_of(const Group& g) const;
  // Ids for a group's sequences: freed ranges of that width are reused, so that ids stay
  // dense (the block manager indexes its tables by them).
  SeqId take_seq_ids(int64_t sequences);
  void return_seq_ids(const Group& g);
  int64_t run_length();
  // Steps of the run in progress that ended `elapsed` after it began.
  int64_t steps_done(Time elapsed) const;
  void release(Group& g);
  uint32_t put_in_slot(Group g);
  Group take_slot(uint32_t slot);
  // Where the shadow of request `id` is, waiting or running (the other iterator is end());
  // throws while stepping or if there is none.
  std::pair<std::deque<Group>::iterator, std::vector<uint32_t>::iterator> find_shadow(RequestId id);
  // A parked shadow with tokens to add goes back to the front of the waiting queue with its blocks.
  void unpark(std::vector<uint32_t>::iterator it);

  const LatencyModel& latency_;
  EngineParams params_;
  EngineCapacity capacity_;
  int64_t watermark_blocks_;
  std::unique_ptr<BlockManager> blocks_;
  const SwapChannel& swap_;
  SeqId next_seq_ = 0;
  std::vector<std::vector<SeqId>> free_seq_ids_;  // by width: the first ids of freed ranges
  int64_t shadows_ = 0;

  std::deque<Group> waiting_;
  // Running groups stay in their slots while they run, so that a step's bookkeeping moves
  // slot numbers, not groups.
  std::vector<Group> slots_;
  std::vector<uint32_t> free_slots_;
  std::vector<uint32_t> running_;  // slots, in admission order; preemption takes from the back
  std::deque<Group> swapped_;

  bool stepping_ = false;
  int64_t run_steps_ = 1;
  std::vector<Time> run_step_times_;
  std::vector<int64_t> run_new_blocks_;  // by step of the run: blocks opened since its first (not for a lazy run)
  int64_t swap_blocks_this_step_ = 0;
  // The step's shape before any of a run's later tokens: what the statistics integrate.
  int64_t step_decode_sequences_ = 0;
  int64_t step_stored_tokens_ = 0;
  int64_t step_allocated_blocks_ = 0;
  int64_t step_unshared_blocks_ = 0;
  StepShape shape_;  // the step being planned: decoding sequences, added by grow()
  // The lazy groups are running_[0, lazy_groups_): single sequences, so also their sequences.
  int64_t clock_ = 0;           // decode steps the lazy groups have finished
  bool lazy_step_ = false;      // the step in progress decodes the lazy groups
  int64_t run_start_clock_ = 0;
  int64_t lazy_groups_ = 0;
  int64_t lazy_context_offset_ = 0;  // Σ (tokens - base) over lazy groups
  int64_t lazy_tokens_ = 0;          // counted tokens not yet in the block manager
  int64_t lazy_blocks_ = 0;          // the blocks they take
  std::vector<int64_t> phase_counts_;  // lazy groups by phase()
  // (step counter at which it has generated all its tokens, slot) of each lazy group, soonest first.
  std::priority_queue<std::pair<int64_t, uint32_t>, std::vector<std::pair<int64_t, uint32_t>>, std::greater<>>
      lazy_finishes_;
  std::vector<size_t> finished_positions_;  // in running_, of the lazy groups a step finishes
  StepResult result_;
  EngineStats stats_;
};

}  // namespace slsim
