#include "sim/engine/engine.h"

#include "sim/core/slots.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <limits>
#include <stdexcept>

#include <fmt/format.h>

namespace slsim {

std::unique_ptr<LatencyModel> make_latency_model(const ModelSpec& model, const GpuProfile& gpu, int64_t tensor_parallel,
                                                 const EngineParams& params) {
  if (params.latency_model == "calibrated") {
    const CalibrationProfile profile =
        load_calibration((std::filesystem::path(params.calibration_dir) / (gpu.name + ".json")).string());
    return std::make_unique<CalibratedLatency>(model, gpu, tensor_parallel, params.block_size, params.roofline, profile);
  }
  return std::make_unique<RooflineLatency>(model, gpu, tensor_parallel, params.roofline);
}

int64_t kv_capacity_blocks(const ModelSpec& model, const GpuProfile& gpu, int64_t tensor_parallel,
                           const EngineParams& params) {
  const double usable = static_cast<double>(gpu.memory_bytes) * params.gpu_memory_utilization *
                        static_cast<double>(tensor_parallel);
  const double free_bytes = usable - static_cast<double>(model.checkpoint_bytes()) -
                            static_cast<double>(params.activation_reserve_bytes);
  if (free_bytes <= 0) return 0;
  const double block_bytes = static_cast<double>(model.kv_bytes_per_token() * params.block_size);
  return static_cast<int64_t>(std::floor(free_bytes / block_bytes));
}

int64_t kv_capacity_tokens(const ModelSpec& model, const GpuProfile& gpu, int64_t tensor_parallel,
                           const EngineParams& params) {
  return kv_capacity_blocks(model, gpu, tensor_parallel, params) * params.block_size;
}

int64_t kv_footprint_tokens(const EngineParams& params, int64_t max_context, const EngineRequest& request) {
  const int64_t longest = request.input_tokens + request.output_tokens;
  const bool reserve_context = params.kv_allocator == "contiguous" && params.contiguous_reservation == "max_context";
  const int64_t per_sequence = reserve_context ? std::max(longest, max_context) : longest;
  const int64_t blocks = (per_sequence + params.block_size - 1) / params.block_size;
  return request.width() * blocks * params.block_size;
}

Engine::Engine(const LatencyModel& latency, const EngineParams& params, const EngineCapacity& capacity,
               const SwapChannel& swap)
    : latency_(latency),
      params_(params),
      capacity_(capacity),
      watermark_blocks_(static_cast<int64_t>(params.watermark * static_cast<double>(capacity.kv_blocks))),
      blocks_(make_block_manager(parse_kv_allocator(params.kv_allocator), capacity.kv_blocks, params.block_size)),
      swap_(swap),
      phase_counts_(static_cast<size_t>(params.block_size), 0) {}

bool Engine::fits(const EngineRequest& request) const {
  return request.width() <= params_.max_num_seqs &&
         kv_footprint_tokens(params_, capacity_.max_context, request) <= blocks_->total_blocks() * params_.block_size;
}

void Engine::enqueue(EngineRequest request) {
  if (!fits(request)) throw std::logic_error("a request that can never fit was sent to an engine");
  Group g;
  g.prompt = request.input_tokens;
  g.sequences = request.width();
  g.request = std::move(request);
  waiting_.push_back(std::move(g));
}

void Engine::enqueue_resumed(EngineRequest request, int64_t generated, int64_t resident) {
  if (!fits(request)) throw std::logic_error("a request that can never fit was sent to an engine");
  if (request.width() > 1) throw std::logic_error("only single-sequence requests resume by recomputation");
  Group g;
  g.prompt = request.input_tokens + generated;
  g.generated = generated;
  g.resident = std::clamp<int64_t>(resident, 0, g.prompt);
  g.request = std::move(request);
  waiting_.push_back(std::move(g));
}

void Engine::enqueue_shadow(EngineRequest request) {
  if (!fits(request)) throw std::logic_error("a shadow that can never fit was sent to an engine");
  if (request.width() > 1) throw std::logic_error("only single-sequence requests are recomputed by a migration");
  Group g;
  g.prompt = request.input_tokens;
  g.shadow = true;
  g.request = std::move(request);
  waiting_.push_back(std::move(g));
  ++shadows_;
}

std::pair<std::deque<Engine::Group>::iterator, std::vector<uint32_t>::iterator> Engine::find_shadow(RequestId id) {
  if (stepping_) throw std::logic_error("a shadow was changed in a stepping engine");
  leave_lazy();
  const auto matches = [id](const Group& g) { return g.shadow && g.request.id == id; };
  const auto waiting = std::find_if(waiting_.begin(), waiting_.end(), matches);
  const auto running = waiting != waiting_.end()
                           ? running_.end()
                           : std::find_if(running_.begin(), running_.end(), [&](uint32_t slot) { return matches(slots_[slot]); });
  if (waiting == waiting_.end() && running == running_.end()) throw std::logic_error("no shadow of this request in the engine");
  return {waiting, running};
}

// A running group with tokens to add goes back to the front of the waiting queue, keeping the
// blocks of what it holds: admission appends the blocks for the new tokens (behind the watermark
// check) and prefills them, in chunks where chunked prefill is on.
void Engine::unpark(std::vector<uint32_t>::iterator it) {
  Group g = take_slot(*it);
  running_.erase(it);
  g.holds_blocks = true;
  waiting_.push_front(std::move(g));
}

void Engine::extend_shadow(RequestId id, int64_t tokens) {
  const auto [waiting, running] = find_shadow(id);
  Group& g = waiting != waiting_.end() ? *waiting : slots_[*running];
  g.request.input_tokens += tokens;
  g.request.output_tokens -= tokens;
  g.prompt += tokens;
  if (running != running_.end()) unpark(running);
}

void Engine::promote_shadow(const EngineRequest& request, int64_t generated) {
  const auto [waiting, running] = find_shadow(request.id);
  Group& g = waiting != waiting_.end() ? *waiting : slots_[*running];
  --shadows_;
  g.shadow = false;
  g.request = request;
  g.generated = generated;
  g.prompt = request.input_tokens + generated;
  if (running != running_.end() && g.tokens < g.prompt) unpark(running);
}

void Engine::remove_shadow(RequestId id) {
  const auto [waiting, running] = find_shadow(id);
  if (waiting != waiting_.end()) {
    if (waiting->holds_blocks) {
      blocks_->free(waiting->first_seq);
      return_seq_ids(*waiting);
    }
    waiting_.erase(waiting);
  } else {
    const Group g = take_slot(*running);
    running_.erase(running);
    blocks_->free(g.first_seq);
    return_seq_ids(g);
  }
  --shadows_;
}

int64_t Engine::unparked_shadows() const {
  int64_t n = 0;
  for (const Group& g : waiting_) n += g.shadow;
  for (const uint32_t slot : running_) n += slots_[slot].shadow && !prefill_done(slots_[slot]);
  return n;
}

std::optional<int64_t> Engine::remove(RequestId id) {
  if (stepping_) throw std::logic_error("a request was removed from a stepping engine");
  leave_lazy();
  const auto matches = [id](const Group& g) { return !g.shadow && g.request.id == id; };
  const auto free_seqs = [this](const Group& g) {
    for (int64_t i = 0; i < g.sequences; ++i) blocks_->free(g.first_seq + static_cast<SeqId>(i));
    return_seq_ids(g);
  };
  if (const auto it = std::find_if(waiting_.begin(), waiting_.end(), matches); it != waiting_.end()) {
    const int64_t generated = it->generated;
    if (it->holds_blocks) free_seqs(*it);
    waiting_.erase(it);
    return generated;
  }
  if (const auto it = std::find_if(running_.begin(), running_.end(), [&](uint32_t slot) { return matches(slots_[slot]); });
      it != running_.end()) {
    const Group g = take_slot(*it);
    running_.erase(it);
    free_seqs(g);
    return g.generated;
  }
  if (const auto it = std::find_if(swapped_.begin(), swapped_.end(), matches); it != swapped_.end()) {
    const int64_t generated = it->generated;
    free_seqs(*it);
    swapped_.erase(it);
    return generated;
  }
  return std::nullopt;
}

uint32_t Engine::put_in_slot(Group g) {
  const uint32_t slot = reuse_or_append(slots_, free_slots_);
  slots_[slot] = std::move(g);
  return slot;
}

Engine::Group Engine::take_slot(uint32_t slot) {
  free_slots_.push_back(slot);
  return std::move(slots_[slot]);
}

int64_t Engine::steps_done(Time elapsed) const {
  int64_t done = 0;
  Time end = Time::zero();
  while (stepping_ && done < run_steps_ && end + run_step_times_[static_cast<size_t>(done)] <= elapsed)
    end += run_step_times_[static_cast<size_t>(done++)];
  return done;
}

std::vector<std::pair<RequestId, int64_t>> Engine::cached_request_tokens(Time elapsed) const {
  const int64_t done = steps_done(elapsed);
  std::vector<std::pair<RequestId, int64_t>> tokens;
  for (const uint32_t slot : running_) {
    const Group& g = slots_[slot];
    if (g.shadow) continue;
    tokens.emplace_back(g.request.id, prefill_done(g) ? tokens_now(g) + (decodes_now(g) ? done : 0) : g.computed);
  }
  return tokens;
}

std::vector<std::pair<RequestId, int64_t>> Engine::request_tokens(Time elapsed) const {
  const int64_t done = steps_done(elapsed);
  std::vector<std::pair<RequestId, int64_t>> tokens;
  const auto add = [this, &tokens, done](const Group& g) {
    if (!g.shadow)
      tokens.emplace_back(g.request.id, g.request.input_tokens + generated_now(g) + (decodes_now(g) ? done : 0));
  };
  for (const Group& g : waiting_) add(g);
  for (const uint32_t slot : running_) add(slots_[slot]);
  for (const Group& g : swapped_) add(g);
  return tokens;
}

int64_t Engine::max_tokens(const Group& g) const {
  const int64_t longest = g.request.input_tokens + g.request.output_tokens;
  return params_.contiguous_reservation == "exact" ? longest : std::max(longest, capacity_.max_context);
}

int64_t Engine::running_sequences() const {
  int64_t n = lazy_groups_;
  for (size_t i = static_cast<size_t>(lazy_groups_); i < running_.size(); ++i) n += slots_[running_[i]].sequences;
  return n;
}

// The watermark keeps a few blocks free for running sequences to grow into, so that a new
// admission does not cause an immediate preemption. With nothing running it is waived, or a
// request that needs nearly every block would never start (or come back from host memory).
bool Engine::may_take(int64_t blocks) const {
  const int64_t reserve = running_.empty() ? 0 : watermark_blocks_;
  return free_blocks() - blocks >= reserve;
}

SeqId Engine::take_seq_ids(int64_t sequences) {
  const auto width = static_cast<size_t>(sequences);
  if (width < free_seq_ids_.size() && !free_seq_ids_[width].empty()) {
    const SeqId first = free_seq_ids_[width].back();
    free_seq_ids_[width].pop_back();
    return first;
  }
  const SeqId first = next_seq_;
  next_seq_ += static_cast<SeqId>(sequences);
  return first;
}

void Engine::return_seq_ids(const Group& g) {
  const auto width = static_cast<size_t>(g.sequences);
  if (width >= free_seq_ids_.size()) free_seq_ids_.resize(width + 1);
  free_seq_ids_[width].push_back(g.first_seq);
}

std::vector<SeqId> Engine::seqs_of(const Group& g) const {
  std::vector<SeqId> seqs(static_cast<size_t>(g.sequences));
  for (int64_t i = 0; i < g.sequences; ++i) seqs[static_cast<size_t>(i)] = g.first_seq + static_cast<SeqId>(i);
  return seqs;
}

bool Engine::schedule_prefills(int64_t& token_budget) {
  bool admitted = false;
  int64_t sequences = running_sequences();
  while (!waiting_.empty()) {
    Group& g = waiting_.front();
    if (sequences + g.sequences > params_.max_num_seqs) break;
    const std::span<const uint64_t> prefix = g.request.prefix_blocks;
    const int64_t cached_tokens =
        g.holds_blocks ? g.computed
                       : std::max(blocks_->cached_prefix_blocks(g.prompt, prefix) * params_.block_size, g.resident);
    // vLLM computes at least the last prompt token, whose logits give the next token.
    const int64_t to_compute = g.prompt - std::min(cached_tokens, g.prompt - 1);
    int64_t chunk = to_compute;
    if (params_.enable_chunked_prefill) {
      chunk = std::min(to_compute, token_budget);
      if (chunk <= 0) break;
    } else if (admitted && to_compute > token_budget) {
      break;
    }
    const int64_t max = max_tokens(g);
    if (g.holds_blocks) {
      const int64_t held = blocks_->blocks_held(g.first_seq);
      if (!may_take(std::max<int64_t>(0, blocks_->blocks_to_admit(g.prompt, max, {}) - held))) break;
      const int64_t appended = g.prompt - g.tokens;
      if (appended > 0) blocks_->append(g.first_seq, appended);
      g.holds_blocks = false;
    } else {
      const int64_t fork_blocks = blocks_->shares_blocks() ? 0 : blocks_->blocks_to_admit(g.prompt, max, {});
      if (!may_take(blocks_->blocks_to_admit(g.prompt, max, prefix) + (g.sequences - 1) * fork_blocks)) break;
      g.first_seq = take_seq_ids(g.sequences);
      blocks_->admit(g.first_seq, g.prompt, max, prefix);
      for (int64_t i = 1; i < g.sequences; ++i) blocks_->fork(g.first_seq, g.first_seq + static_cast<SeqId>(i));
    }
    g.tokens = g.prompt;
    g.computed = g.prompt - to_compute;
    g.chunk = chunk;
    token_budget -= chunk;
    admitted = true;
    sequences += g.sequences;
    running_.push_back(put_in_slot(std::move(g)));
    waiting_.pop_front();
  }
  return admitted;
}

// Beam search keeps its beams sharing everything but their last block: at each block
// boundary the beams continue from the best one (see docs/decisions.md).
bool Engine::at_beam_boundary(const Group& g) const {
  return g.request.beam_width > 1 && g.tokens % params_.block_size == 0;
}

int64_t Engine::blocks_to_grow(const Group& g) const {
  if (at_beam_boundary(g)) return blocks_->shares_blocks() ? g.sequences : 0;
  int64_t n = 0;
  for (int64_t i = 0; i < g.sequences; ++i) n += blocks_->blocks_to_append(g.first_seq + static_cast<SeqId>(i));
  return n;
}

void Engine::grow(Group& g) {
  if (at_beam_boundary(g)) {
    for (int64_t i = 1; i < g.sequences; ++i) {
      const SeqId beam = g.first_seq + static_cast<SeqId>(i);
      blocks_->free(beam);
      blocks_->fork(g.first_seq, beam);
    }
  }
  for (int64_t i = 0; i < g.sequences; ++i) blocks_->append(g.first_seq + static_cast<SeqId>(i));
  grown(g);
}

void Engine::grown(Group& g) {
  ++g.tokens;
  g.decodes = true;
  shape_.decode_sequences += g.sequences;
  shape_.decode_context_tokens += g.sequences * g.tokens;
}

void Engine::preempt(Group g) {
  ++stats_.preemptions;
  g.chunk = 0;
  g.decodes = false;
  // vLLM recomputes only single-sequence requests; samples and beams would lose their state.
  if ((params_.preemption_mode == "swap" && !g.shadow) || g.sequences > 1) {
    const int64_t moved = blocks_->swap_out(seqs_of(g));
    swap_blocks_this_step_ += moved;
    swapped_.push_back(std::move(g));
    return;
  }
  blocks_->free(g.first_seq);
  return_seq_ids(g);
  g.prompt = g.request.input_tokens + g.generated;
  g.computed = 0;
  g.resident = 0;
  waiting_.push_front(std::move(g));
}

// Decodes every running request that has its prompt in (preempting from the back when blocks
// run out, as vLLM does) and continues chunked prefills. Returns whether it preempted.
bool Engine::schedule_running(int64_t& token_budget) {
  bool preempted = false;
  for (size_t i = 0; i < running_.size(); ++i) {
    Group& g = slots_[running_[i]];
    if (g.computed < g.prompt) {
      if (params_.enable_chunked_prefill) {
        g.chunk = std::clamp<int64_t>(g.prompt - g.computed, 0, std::max<int64_t>(token_budget, 0));
        token_budget -= g.chunk;
      }
      continue;
    }
    if (g.shadow) continue;  // parked: it holds its KV cache and decodes nothing
    // Most tokens go into a block their sequence already holds: no preemption can be needed.
    if (g.sequences == 1 && blocks_->append_in_place(g.first_seq)) {
      grown(g);
      token_budget -= 1;
      continue;
    }
    bool self_preempted = false;
    while (blocks_to_grow(slots_[running_[i]]) > free_blocks()) {
      preempted = true;
      const uint32_t victim = running_.back();
      running_.pop_back();
      preempt(take_slot(victim));
      if (i == running_.size()) {
        self_preempted = true;
        break;
      }
    }
    if (self_preempted) break;
    grow(slots_[running_[i]]);
    token_budget -= slots_[running_[i]].sequences;
  }
  return preempted;
}

void Engine::schedule_swapped() {
  int64_t sequences = running_sequences();
  while (!swapped_.empty()) {
    Group& g = swapped_.front();
    if (sequences + g.sequences > params_.max_num_seqs) break;
    const std::vector<SeqId> seqs = seqs_of(g);
    if (!may_take(blocks_->blocks_to_swap_in(seqs) + g.sequences)) break;
    const int64_t moved = blocks_->blocks_to_swap_in(seqs);
    blocks_->swap_in(seqs);
    swap_blocks_this_step_ += moved;
    sequences += g.sequences;
    running_.push_back(put_in_slot(std::move(g)));
    swapped_.pop_front();
    Group& back = slots_[running_.back()];
    if (back.computed >= back.prompt) grow(back);
  }
}

std::optional<Time> Engine::begin_step() {
  if (stepping_) throw std::logic_error("an engine step began while another was running");
  swap_blocks_this_step_ = 0;
  run_steps_ = 1;
  shape_ = StepShape{};  // grow() adds the decoding sequences
  // Every running group's chunk and decodes are clear here: finish_step() and preempt() clear them.
  int64_t budget = params_.max_num_batched_tokens;
  bool preempted = false;
  bool prefilling = false;  // some group has prompt tokens to compute in this step
  if (params_.enable_chunked_prefill) {
    preempted = schedule_running(budget);
    if (!preempted) schedule_swapped();
    schedule_prefills(budget);
    prefilling = true;  // continued chunks too: the loop below finds them
  } else {
    // vLLM v0: a step prefills newly admitted prompts alone; it decodes only when none is admitted.
    // Without chunking, only an admission gives a group prompt tokens to compute.
    prefilling = swapped_.empty() && schedule_prefills(budget);
    if (!prefilling && !schedule_lazy_decode(budget)) {
      leave_lazy();
      preempted = schedule_running(budget);
      if (!preempted) schedule_swapped();
    }
  }

  StepShape shape = shape_;
  if (prefilling) {
    // Lazy groups have nothing to prefill; admissions join the back.
    for (size_t i = static_cast<size_t>(lazy_groups_); i < running_.size(); ++i) {
      const Group& g = slots_[running_[i]];
      if (g.chunk == 0) continue;
      const auto before = static_cast<double>(g.computed);
      const auto after = static_cast<double>(g.computed + g.chunk);
      shape.prefill_tokens += g.chunk;
      shape.prefill_attention_pairs += (after * after - before * before) / 2;
      ++shape.prefill_sequences;
    }
  }
  if (shape.prefill_tokens == 0 && shape.decode_sequences == 0) {
    if (swap_blocks_this_step_ > 0) throw std::logic_error("an engine swapped without running a step");
    return std::nullopt;
  }
  stepping_ = true;
  step_decode_sequences_ = shape.decode_sequences;
  step_stored_tokens_ = blocks_->stored_tokens() + lazy_tokens_;
  step_allocated_blocks_ = blocks_->used_blocks() + lazy_blocks_;
  step_unshared_blocks_ = blocks_->unshared_blocks() + lazy_blocks_;  // a lazy group's blocks are its own
  run_new_blocks_.assign(1, 0);
  if (params_.fast_forward && shape.prefill_tokens == 0 && !preempted && swap_blocks_this_step_ == 0)
    run_steps_ = lazy_step_ ? lazy_run_length() : run_length();

  // The buffer only grows: resizing it per run zeroed every planned step's time first.
  if (run_step_times_.size() < static_cast<size_t>(run_steps_)) run_step_times_.resize(static_cast<size_t>(run_steps_));
  const double swap_bytes = static_cast<double>(swap_blocks_this_step_ * params_.block_size * capacity_.kv_bytes_per_token);
  Time total = latency_.run_step_times(shape, run_steps_, run_step_times_.data());
  if (swap_bytes > 0) {
    const Time swap = swap_.transfer_time(swap_bytes);  // the first step waits for it
    run_step_times_.front() += swap;
    total += swap;
  }
  stats_.swapped_bytes += static_cast<int64_t>(swap_bytes);
  return total;
}

// Decode steps from this one up to the next request completion, as long as the blocks the
// later steps take are free: until then only an arrival can change the batch (admission and
// swap-in only get harder as blocks are taken), and the caller interrupts the run for that.
// Beams end a run at their block boundary, where they are re-forked. Fills
// run_new_blocks_[k]: blocks taken by steps 2..k+1 together.
int64_t Engine::run_length() {
  int64_t steps = std::numeric_limits<int64_t>::max();
  for (const uint32_t slot : running_) {
    const Group& g = slots_[slot];
    if (!g.decodes) continue;
    steps = std::min(steps, g.request.output_tokens - g.generated);
    if (g.request.beam_width > 1) {
      const int64_t tokens = g.tokens;
      steps = std::min(steps, 1 + (params_.block_size - tokens % params_.block_size) % params_.block_size);
    }
  }
  steps = std::max<int64_t>(steps, 1);
  run_new_blocks_.assign(static_cast<size_t>(steps), 0);
  for (const uint32_t slot : running_) {
    const Group& g = slots_[slot];
    if (!g.decodes || g.request.beam_width > 1) continue;
    // Step k (0-based) writes token tokens + k; it opens a block when that exceeds what is
    // held. Every sequence of the group holds as many tokens in as many blocks.
    const int64_t held_slots = blocks_->blocks_held(g.first_seq) * params_.block_size;
    for (int64_t k = held_slots - g.tokens + 1; k < steps; k += params_.block_size)
      run_new_blocks_[static_cast<size_t>(k)] += g.sequences;
  }
  int64_t taken = 0;
  for (int64_t k = 1; k < steps; ++k) {
    taken += run_new_blocks_[static_cast<size_t>(k)];
    if (taken > free_blocks()) return k;
    run_new_blocks_[static_cast<size_t>(k)] = taken;
  }
  return steps;
}

bool Engine::may_be_lazy(const Group& g) const {
  if (g.shadow || !prefill_done(g) || g.sequences != 1 || g.holds_blocks) return false;
  const int64_t block_size = params_.block_size;
  return blocks_->blocks_held(g.first_seq) == (g.tokens + block_size - 1) / block_size &&
         blocks_->blocks_to_append(g.first_seq) == (g.tokens % block_size == 0 ? 1 : 0);
}

void Engine::join_lazy(uint32_t slot) {
  Group& g = slots_[slot];
  g.lazy = true;
  g.base = clock_;
  ++lazy_groups_;
  lazy_context_offset_ += g.tokens - g.base;
  ++phase_counts_[static_cast<size_t>(phase(g))];
  lazy_finishes_.emplace(g.base + g.request.output_tokens - g.generated, slot);
}

void Engine::materialize(Group& g) {
  const int64_t missing = tokens_now(g) - blocks_->tokens(g.first_seq);
  if (missing == 0) return;
  const int64_t held = blocks_->blocks_held(g.first_seq);
  blocks_->append(g.first_seq, missing);
  lazy_tokens_ -= missing;
  lazy_blocks_ -= blocks_->blocks_held(g.first_seq) - held;
}

void Engine::materialize_blocks() {
  for (size_t i = 0; i < static_cast<size_t>(lazy_groups_); ++i) materialize(slots_[running_[i]]);
}

void Engine::drop_lazy(Group& g) {
  materialize(g);
  --phase_counts_[static_cast<size_t>(phase(g))];
  lazy_context_offset_ -= g.tokens - g.base;
  --lazy_groups_;
  g.generated = generated_now(g);
  g.tokens += clock_ - g.base;
  g.lazy = false;
}

void Engine::leave_lazy() {
  if (lazy_groups_ == 0) return;
  if (stepping_) throw std::logic_error("an engine left counted decoding while stepping");
  const auto lazy = static_cast<size_t>(lazy_groups_);
  for (size_t i = 0; i < lazy; ++i) drop_lazy(slots_[running_[i]]);
  lazy_finishes_ = {};
  if (lazy_tokens_ != 0 || lazy_blocks_ != 0) throw std::logic_error("an engine lost track of counted tokens");
}

// A decode step in which every running group is (or can become) lazy and the blocks the step
// opens are free: then schedule_running() would grow each group in place or into a free block,
// preempting nothing, and this does the same arithmetic without visiting the lazy groups.
bool Engine::schedule_lazy_decode(int64_t& token_budget) {
  if (running_.empty() || !swapped_.empty() || !blocks_->shares_blocks()) return false;
  int64_t opened = lazy_blocks_opened(clock_);
  for (size_t i = static_cast<size_t>(lazy_groups_); i < running_.size(); ++i) {
    const Group& g = slots_[running_[i]];
    if (!may_be_lazy(g)) return false;
    opened += blocks_->blocks_to_append(g.first_seq);
  }
  if (opened > free_blocks()) return false;
  for (size_t i = static_cast<size_t>(lazy_groups_); i < running_.size(); ++i) join_lazy(running_[i]);
  lazy_step_ = true;
  run_start_clock_ = clock_;
  lazy_tokens_ += lazy_groups_;
  lazy_blocks_ += opened;
  token_budget -= lazy_groups_;
  shape_.decode_sequences += lazy_groups_;
  shape_.decode_context_tokens += lazy_context_offset_ + lazy_groups_ * (clock_ + 1);
  return true;
}

int64_t Engine::lazy_blocks_opened(int64_t from_clock, int64_t to_clock) const {
  // Every block_size consecutive steps open one block per lazy group.
  const int64_t cycles = (to_clock - from_clock) / params_.block_size;
  int64_t opened = cycles * lazy_groups_;
  int64_t clock = from_clock + cycles * params_.block_size;
  for (size_t phase = lazy_phase_at(clock); clock < to_clock; ++clock, phase = previous_phase(phase))
    opened += phase_counts_[phase];
  return opened;
}

// run_length() for a step of lazy groups: the first to finish bounds the run, and step k
// opens the blocks of the groups whose phase it reaches. finish_step() counts the blocks of
// the steps that ran, so a run cut short costs only those.
int64_t Engine::lazy_run_length() {
  const int64_t steps = std::max<int64_t>(lazy_finishes_.top().first - run_start_clock_, 1);
  const int64_t free = free_blocks();
  if (lazy_blocks_opened(run_start_clock_ + 1, run_start_clock_ + steps) <= free) return steps;
  int64_t taken = 0;
  for (int64_t k = 1; k < steps; ++k) {
    taken += lazy_blocks_opened(run_start_clock_ + k);
    if (taken > free) return k;
  }
  return steps;
}

// The end of a step of lazy groups: the counter advances, and only the groups that are done
// are visited (in admission order, as finish_step() reports them).
void Engine::finish_lazy_groups(int64_t later_blocks) {
  lazy_step_ = false;
  clock_ += run_steps_;
  lazy_tokens_ += (run_steps_ - 1) * lazy_groups_;
  lazy_blocks_ += later_blocks;
  stats_.generated_tokens += run_steps_ * lazy_groups_;
  finished_positions_.clear();
  while (!lazy_finishes_.empty() && lazy_finishes_.top().first <= clock_) {
    const uint32_t slot = lazy_finishes_.top().second;
    lazy_finishes_.pop();
    const auto lazy_end = running_.begin() + lazy_groups_;
    finished_positions_.push_back(static_cast<size_t>(std::find(running_.begin(), lazy_end, slot) - running_.begin()));
  }
  if (finished_positions_.empty()) return;
  std::sort(finished_positions_.begin(), finished_positions_.end());
  for (const size_t i : finished_positions_) {
    Group& g = slots_[running_[i]];
    drop_lazy(g);
    release(g);
    take_slot(running_[i]);
  }
  for (auto it = finished_positions_.rbegin(); it != finished_positions_.rend(); ++it)
    running_.erase(running_.begin() + static_cast<std::ptrdiff_t>(*it));
}

Time Engine::interrupt(Time elapsed) {
  if (!stepping_) throw std::logic_error("an engine was interrupted while not stepping");
  Time end = Time::zero();
  for (int64_t k = 0; k < run_steps_; ++k) {
    end += run_step_times_[static_cast<size_t>(k)];
    if (end >= elapsed) {
      run_steps_ = k + 1;
      return end - elapsed;
    }
  }
  return end - elapsed;
}

void Engine::settle(Time elapsed) {
  const int64_t done = steps_done(elapsed);
  if (done == 0) return;
  // A run's completions and first tokens come only at its last step, which is not among these.
  run_steps_ = done;
  finish_step();
}

void Engine::release(Group& g) {
  for (int64_t i = 0; i < g.sequences; ++i) blocks_->free(g.first_seq + static_cast<SeqId>(i));
  return_seq_ids(g);
  result_.finished.push_back(g.request.id);
}

const StepResult& Engine::finish_step() {
  if (!stepping_) throw std::logic_error("an engine step finished that never began");
  stepping_ = false;
  result_.first_tokens.clear();
  result_.finished.clear();
  result_.shadows_parked.clear();

  // Summed in locals, step by step in the same order, so that the loop keeps them in registers;
  // each product is the one stepping one by one computes: token and block counts are integers
  // far below 2^53, so counting them as doubles is exact, and (allocated + opened) × block size
  // changes only at a step that opens blocks.
  const double block_size = static_cast<double>(params_.block_size);
  const auto allocated = static_cast<double>(step_allocated_blocks_);
  const auto unshared = static_cast<double>(step_unshared_blocks_);
  const auto decode_sequences = static_cast<double>(step_decode_sequences_);
  double busy_s = stats_.busy_s;
  double stored_token_s = stats_.stored_token_s;
  double allocated_token_s = stats_.allocated_token_s;
  double unshared_token_s = stats_.unshared_token_s;
  double stored_tokens = static_cast<double>(step_stored_tokens_);
  double allocated_slots = 0;
  double unshared_slots = 0;
  const auto open = [&](int64_t opened_blocks) {
    const auto opened = static_cast<double>(opened_blocks);
    allocated_slots = (allocated + opened) * block_size;
    unshared_slots = (unshared + opened) * block_size;
  };
  open(0);
  const auto add_step = [&](int64_t k) {
    const double seconds = run_step_times_[static_cast<size_t>(k)].seconds();
    busy_s += seconds;
    stored_token_s += stored_tokens * seconds;
    stored_tokens += decode_sequences;
    allocated_token_s += allocated_slots * seconds;
    unshared_token_s += unshared_slots * seconds;
  };
  int64_t lazy_opened = 0;  // blocks opened by the steps of a lazy run after its first
  if (lazy_step_) {
    size_t phase = lazy_phase_at(run_start_clock_);
    add_step(0);
    for (int64_t k = 1; k < run_steps_; ++k) {
      phase = previous_phase(phase);
      if (const int64_t opened = phase_counts_[phase]; opened != 0) open(lazy_opened += opened);
      add_step(k);
    }
  } else {
    int64_t opened = 0;
    for (int64_t k = 0; k < run_steps_; ++k) {
      if (run_new_blocks_[static_cast<size_t>(k)] != opened) open(opened = run_new_blocks_[static_cast<size_t>(k)]);
      add_step(k);
    }
  }
  stats_.steps += run_steps_;
  stats_.busy_s = busy_s;
  stats_.stored_token_s = stored_token_s;
  stats_.allocated_token_s = allocated_token_s;
  stats_.unshared_token_s = unshared_token_s;
  if (lazy_step_) finish_lazy_groups(lazy_opened);
  // A run's later tokens go in a sequence at a time: the same blocks taken and filled as
  // one-by-one steps would take (their ids differ, which nothing observes).
  const int64_t later_tokens = run_steps_ - 1;
  auto kept = static_cast<size_t>(lazy_groups_);
  for (size_t i = kept; i < running_.size(); ++i) {
    Group& g = slots_[running_[i]];
    if (g.decodes) {
      if (later_tokens > 0)
        for (int64_t s = 0; s < g.sequences; ++s) blocks_->append(g.first_seq + static_cast<SeqId>(s), later_tokens);
      g.tokens += later_tokens;
      g.generated += run_steps_;
      stats_.generated_tokens += run_steps_ * g.sequences;
    } else if (g.chunk > 0) {
      g.computed += g.chunk;
      stats_.prefilled_tokens += g.chunk;
      if (g.computed >= g.prompt && g.shadow) {
        result_.shadows_parked.push_back(g.request.id);
      } else if (g.computed >= g.prompt) {
        // The prompt's last logits give each sequence its next token.
        if (g.generated == 0) result_.first_tokens.push_back(g.request.id);
        ++g.generated;
        stats_.generated_tokens += g.sequences;
      }
    }
    g.chunk = 0;
    g.decodes = false;
    if (g.generated >= g.request.output_tokens) {
      release(g);
      take_slot(running_[i]);
      continue;
    }
    running_[kept++] = running_[i];
  }
  running_.resize(kept);
  return result_;
}

void Engine::audit() const {
  blocks_->audit();
  // The lazy groups' counts, recounted: they lead running_, and their tokens not yet in the
  // block manager, the blocks those take, their phases and the sums agree with the engine's.
  const int64_t block_size = params_.block_size;
  int64_t tokens = 0;
  int64_t blocks = 0;
  int64_t offset = 0;
  std::vector<int64_t> phases(static_cast<size_t>(block_size), 0);
  for (size_t i = 0; i < running_.size(); ++i) {
    const Group& g = slots_[running_[i]];
    if (g.lazy != (i < static_cast<size_t>(lazy_groups_)))
      throw std::logic_error(fmt::format("engine: request {} is out of place among the counted ones", g.request.id));
    if (!g.lazy) continue;
    const int64_t now = tokens_now(g);
    const int64_t stored = blocks_->tokens(g.first_seq);
    if (stored > now || generated_now(g) >= g.request.output_tokens)
      throw std::logic_error(fmt::format("engine: request {} counts {} tokens, its sequence holds {}", g.request.id, now, stored));
    tokens += now - stored;
    blocks += (now + block_size - 1) / block_size - blocks_->blocks_held(g.first_seq);
    offset += g.tokens - g.base;
    ++phases[static_cast<size_t>(phase(g))];
  }
  if (tokens != lazy_tokens_ || blocks != lazy_blocks_ || offset != lazy_context_offset_ || phases != phase_counts_ ||
      static_cast<int64_t>(lazy_finishes_.size()) != lazy_groups_ || free_blocks() < 0)
    throw std::logic_error(fmt::format("engine: {} counted tokens in {} blocks, recounted {} in {}", lazy_tokens_,
                                       lazy_blocks_, tokens, blocks));
  const auto check = [this](const Group& g) {
    for (int64_t i = 0; i < g.sequences; ++i)
      if (blocks_->tokens(g.first_seq + static_cast<SeqId>(i)) != g.tokens)
        throw std::logic_error(fmt::format("engine: request {} counts {} tokens, its sequence {} holds {}", g.request.id,
                                           g.tokens, i, blocks_->tokens(g.first_seq + static_cast<SeqId>(i))));
  };
  for (size_t i = static_cast<size_t>(lazy_groups_); i < running_.size(); ++i) check(slots_[running_[i]]);
  for (const Group& g : swapped_) check(g);
}

}  // namespace slsim
