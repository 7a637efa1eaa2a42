#include "sim/engine/engine.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <limits>
#include <stdexcept>

#include "sim/core/errors.h"

namespace slsim {

std::unique_ptr<LatencyModel> make_latency_model(const ModelSpec& model, const GpuProfile& gpu, int64_t tensor_parallel,
                                                 const EngineParams& params) {
  if (params.latency_model == LatencyModelKind::calibrated) {
    const std::string file = (std::filesystem::path(params.calibration_dir) / (gpu.name + ".json")).string();
    const CalibrationProfile profile = load_calibration(file);
    // Checked here, where the file's name is known, so that an unknown name's error names it.
    profile.engine_profile(params.profile, "engine.profile", file);
    return std::make_unique<CalibratedLatency>(model, gpu, tensor_parallel, params.block_size, params.roofline, profile,
                                               params.profile, params.expert_parallel.value_or(false));
  }
  return std::make_unique<RooflineLatency>(model, gpu, tensor_parallel, params.roofline,
                                           params.expert_parallel.value_or(false));
}

int64_t kv_capacity_blocks(const ModelSpec& model, const GpuProfile& gpu, int64_t tensor_parallel,
                           const EngineParams& params) {
  const auto tp = static_cast<double>(tensor_parallel);
  const double usable = static_cast<double>(gpu.memory_bytes) * params.gpu_memory_utilization * tp;
  double free_bytes =
      usable - static_cast<double>(model.checkpoint_bytes()) - static_cast<double>(params.activation_reserve_bytes);
  if (params.kv_cache_memory_bytes) {
    free_bytes = static_cast<double>(*params.kv_cache_memory_bytes) * tp;
    if (static_cast<double>(model.checkpoint_bytes()) + free_bytes > static_cast<double>(gpu.memory_bytes) * tp)
      throw InputError(fmt::format(
          "engine.kv_cache_memory_bytes: model {}'s weights ({} bytes) and a KV cache of {} bytes per GPU exceed "
          "the {} bytes of its {} {} GPU(s); expected a smaller KV cache or a larger GPU",
          model.name, model.checkpoint_bytes(), *params.kv_cache_memory_bytes, gpu.memory_bytes * tensor_parallel,
          tensor_parallel, gpu.name));
  }
  if (free_bytes <= 0) return 0;
  const double block_bytes = static_cast<double>(model.kv_bytes_per_token()) * static_cast<double>(params.block_size);
  const double blocks = std::floor(free_bytes / block_bytes);
  // No GPU holds 2^31 blocks: more means a mistyped size (or an inf), refused before a cast overflows.
  if (!(blocks <= static_cast<double>(std::numeric_limits<int32_t>::max())))
    throw InputError(
        fmt::format("model {}: a KV cache of {} blocks on {} (KV bytes per block: {}); expected at most "
                    "2^31 - 1 — check the GPU's memory_bytes, engine.block_size and the architecture",
                    model.name, blocks, gpu.name, block_bytes));
  return static_cast<int64_t>(blocks);
}

int64_t kv_capacity_tokens(const ModelSpec& model, const GpuProfile& gpu, int64_t tensor_parallel,
                           const EngineParams& params) {
  return kv_capacity_blocks(model, gpu, tensor_parallel, params) * params.block_size;
}

int64_t kv_footprint_tokens(const EngineParams& params, int64_t max_context, const EngineRequest& request) {
  const int64_t longest = request.input_tokens + request.output_tokens;
  const bool reserve_context = params.kv_allocator == KvAllocatorKind::contiguous &&
                               params.contiguous_reservation == ContiguousReservation::max_context;
  const int64_t per_sequence = reserve_context ? std::max(longest, max_context) : longest;
  const int64_t blocks = (per_sequence + params.block_size - 1) / params.block_size;
  return request.width() * blocks * params.block_size;
}

Engine::Engine(const LatencyModel& latency, const EngineParams& params, const EngineCapacity& capacity,
               KvOffload* offload)
    : latency_(latency),
      batch_(params, capacity),
      policy_(make_batching_policy(
          params.mode == EngineMode::vllm_v1 ? BatchingPolicyKind::vllm_v1 : BatchingPolicyKind::vllm_v0, params,
          capacity)),
      stats_(params.block_size) {
  batch_.offload = offload;
  batch_.blocks->offload_evictions_to(offload);
  batch_.moves.block_bytes = batch_.block_bytes();
}

bool Engine::fits(const EngineRequest& request) const {
  return request.width() <= batch_.params.max_num_seqs &&
         kv_footprint_tokens(batch_.params, batch_.capacity.max_context, request) <=
             batch_.capacity.kv_blocks * batch_.params.block_size;
}

void Engine::set_kv_blocks(int64_t blocks) const {
  if (blocks < kv_blocks_needed()) throw std::logic_error("an engine's KV cache was cut below the blocks it needs");
  batch_.blocks->set_total_blocks(blocks);
}

int64_t Engine::kv_blocks_needed() const {
  int64_t needed = batch_.blocks->used_blocks() + batch_.counted.unstored_blocks();
  if (!stepping_) return needed;
  // The run's later steps take their blocks as they end (finish_step).
  if (batch_.counted.stepping()) {
    const int64_t clock = batch_.counted.clock();
    return needed + batch_.counted.blocks_opened(clock + 1, clock + run_steps_);
  }
  for (int64_t k = 1; k < run_steps_; ++k) needed += run_new_blocks_[static_cast<size_t>(k)];
  return needed;
}

void Engine::enqueue(EngineRequest request) {
  if (!fits(request)) throw std::logic_error("a request that can never fit was sent to an engine");
  SequenceGroup g;
  g.prompt = request.input_tokens;
  g.sequences = request.width();
  g.prefix_lookup_pending = true;
  g.request = std::move(request);
  batch_.waiting.push_back(std::move(g));
}

void Engine::enqueue_resumed(EngineRequest request, int64_t generated, int64_t resident) {
  if (!fits(request)) throw std::logic_error("a request that can never fit was sent to an engine");
  if (request.width() > 1) throw std::logic_error("only single-sequence requests resume by recomputation");
  SequenceGroup g;
  g.prompt = request.input_tokens + generated;
  g.generated = generated;
  g.resident = std::clamp<int64_t>(resident, 0, g.prompt);
  g.request = std::move(request);
  batch_.waiting.push_back(std::move(g));
}

void Engine::enqueue_shadow(EngineRequest request) {
  if (!fits(request)) throw std::logic_error("a shadow that can never fit was sent to an engine");
  if (request.width() > 1) throw std::logic_error("only single-sequence requests are recomputed by a migration");
  SequenceGroup g;
  g.prompt = request.input_tokens;
  g.shadow = true;
  g.request = std::move(request);
  batch_.waiting.push_back(std::move(g));
  ++batch_.shadows;
}

std::pair<Engine::WaitingQueue::iterator, std::vector<uint32_t>::iterator> Engine::find_shadow(RequestId id) {
  if (stepping_) throw std::logic_error("a shadow was changed in a stepping engine");
  batch_.leave_counted();
  const auto matches = [id](const SequenceGroup& g) { return g.shadow && g.request.id == id; };
  const auto waiting = std::find_if(batch_.waiting.begin(), batch_.waiting.end(), matches);
  const auto running = waiting != batch_.waiting.end()
                           ? batch_.running.end()
                           : std::find_if(batch_.running.begin(), batch_.running.end(),
                                          [&](uint32_t slot) { return matches(batch_.slots[slot]); });
  if (waiting == batch_.waiting.end() && running == batch_.running.end())
    throw std::logic_error("no shadow of this request in the engine");
  return {waiting, running};
}

// A running group with tokens to add goes back to the front of the waiting queue, keeping the
// blocks of what it holds: admission appends the blocks for the new tokens (behind the watermark
// check) and prefills them, in chunks where chunked prefill is on.
void Engine::unpark(std::vector<uint32_t>::iterator it) {
  SequenceGroup g = batch_.take_slot(*it);
  batch_.running.erase(it);
  g.holds_blocks = true;
  batch_.waiting.push_front(std::move(g));
}

void Engine::extend_shadow(RequestId id, int64_t tokens) {
  const auto [waiting, running] = find_shadow(id);
  SequenceGroup& g = waiting != batch_.waiting.end() ? *waiting : batch_.slots[*running];
  g.request.input_tokens += tokens;
  g.request.output_tokens -= tokens;
  g.prompt += tokens;
  if (running != batch_.running.end()) unpark(running);
}

void Engine::promote_shadow(const EngineRequest& request, int64_t generated) {
  const auto [waiting, running] = find_shadow(request.id);
  SequenceGroup& g = waiting != batch_.waiting.end() ? *waiting : batch_.slots[*running];
  --batch_.shadows;
  g.shadow = false;
  g.request = request;
  g.generated = generated;
  g.prompt = request.input_tokens + generated;
  if (running != batch_.running.end() && g.tokens < g.prompt) unpark(running);
}

void Engine::remove_shadow(RequestId id) {
  const auto [waiting, running] = find_shadow(id);
  if (waiting != batch_.waiting.end()) {
    if (waiting->holds_blocks) {
      batch_.blocks->free(waiting->first_seq);
      batch_.return_seq_ids(*waiting);
    }
    batch_.waiting.erase(waiting);
  } else {
    const SequenceGroup g = batch_.take_slot(*running);
    batch_.running.erase(running);
    batch_.blocks->free(g.first_seq);
    batch_.return_seq_ids(g);
  }
  --batch_.shadows;
}

int64_t Engine::unparked_shadows() const {
  int64_t n = 0;
  for (const SequenceGroup& g : batch_.waiting) n += g.shadow;
  for (const uint32_t slot : batch_.running) n += batch_.slots[slot].shadow && !batch_.prefill_done(batch_.slots[slot]);
  return n;
}

std::optional<int64_t> Engine::remove(RequestId id) {
  if (stepping_) throw std::logic_error("a request was removed from a stepping engine");
  batch_.leave_counted();
  const auto matches = [id](const SequenceGroup& g) { return !g.shadow && g.request.id == id; };
  if (const auto it = std::find_if(batch_.waiting.begin(), batch_.waiting.end(), matches); it != batch_.waiting.end()) {
    const int64_t generated = it->generated;
    if (it->holds_blocks) batch_.free_sequences(*it);
    batch_.waiting.erase(it);
    return generated;
  }
  if (const auto it = std::find_if(batch_.running.begin(), batch_.running.end(),
                                   [&](uint32_t slot) { return matches(batch_.slots[slot]); });
      it != batch_.running.end()) {
    const SequenceGroup g = batch_.take_slot(*it);
    batch_.running.erase(it);
    batch_.free_sequences(g);
    return g.generated;
  }
  if (const auto it = std::find_if(batch_.swapped.begin(), batch_.swapped.end(), matches); it != batch_.swapped.end()) {
    const int64_t generated = it->generated;
    batch_.free_sequences(*it);
    batch_.swapped.erase(it);
    return generated;
  }
  return std::nullopt;
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
  for (const uint32_t slot : batch_.running) {
    const SequenceGroup& g = batch_.slots[slot];
    if (g.shadow) continue;
    tokens.emplace_back(
        g.request.id, batch_.prefill_done(g) ? batch_.tokens_now(g) + (batch_.decodes_now(g) ? done : 0) : g.computed);
  }
  return tokens;
}

std::vector<std::pair<RequestId, int64_t>> Engine::request_tokens(Time elapsed) const {
  const int64_t done = steps_done(elapsed);
  std::vector<std::pair<RequestId, int64_t>> tokens;
  const auto add = [this, &tokens, done](const SequenceGroup& g) {
    if (!g.shadow)
      tokens.emplace_back(g.request.id,
                          g.request.input_tokens + batch_.generated_now(g) + (batch_.decodes_now(g) ? done : 0));
  };
  for (const SequenceGroup& g : batch_.waiting) add(g);
  for (const uint32_t slot : batch_.running) add(batch_.slots[slot]);
  for (const SequenceGroup& g : batch_.swapped) add(g);
  return tokens;
}

std::optional<Time> Engine::begin_step() {
  if (stepping_) throw std::logic_error("an engine step began while another was running");
  batch_.moves.swap_out_bytes = batch_.moves.swap_in_bytes = 0;
  batch_.moves.fetches.clear();
  batch_.preemptions = 0;
  batch_.prefix_lookups = PrefixLookups{};
  batch_.shape = StepShape{};  // grown() adds the decoding sequences
  run_steps_ = 1;
  // Every running group's chunk and decodes are clear here: finish_step() and preemption clear them.
  const StepPlan plan = policy_->plan_step(batch_);
  stats_.count_preemptions(batch_.preemptions);
  stats_.count_prefix_lookups(batch_.prefix_lookups);

  StepShape shape = batch_.shape;
  if (plan.prefilling) {
    // Members of the counted decoding have nothing to prefill; admissions join the back.
    for (size_t i = static_cast<size_t>(batch_.counted.members()); i < batch_.running.size(); ++i) {
      const SequenceGroup& g = batch_.slots[batch_.running[i]];
      if (g.chunk == 0) continue;
      const auto before = static_cast<double>(g.computed);
      const auto after = static_cast<double>(g.computed + g.chunk);
      shape.prefill_tokens += g.chunk;
      shape.prefill_attention_pairs += (after * after - before * before) / 2;
      ++shape.prefill_sequences;
    }
  }
  if (shape.prefill_tokens == 0 && shape.decode_sequences == 0) {
    if (!batch_.moves.empty()) throw std::logic_error("an engine moved KV bytes without running a step");
    return std::nullopt;
  }
  stepping_ = true;
  const BlockManager& blocks = *batch_.blocks;
  const int64_t unstored_blocks = batch_.counted.unstored_blocks();  // a member's blocks are its own
  stats_.begin_run(shape.decode_sequences, blocks.stored_tokens() + batch_.counted.unstored_tokens(),
                   blocks.used_blocks() + unstored_blocks, blocks.unshared_blocks() + unstored_blocks);
  if (batch_.params.fast_forward && shape.prefill_tokens == 0 && !plan.preempted && batch_.moves.empty())
    run_steps_ = batch_.counted.stepping() ? batch_.counted.run_length(batch_.free_blocks()) : run_length();

  // The buffer only grows: resizing it per run zeroed every planned step's time first.
  if (run_step_times_.size() < static_cast<size_t>(run_steps_)) run_step_times_.resize(static_cast<size_t>(run_steps_));
  const Time total = latency_.run_step_times(shape, run_steps_, run_step_times_.data());
  stats_.count_swapped(batch_.moves.swap_out_bytes + batch_.moves.swap_in_bytes);
  return total;
}

// Decode steps from this one up to the next request completion, as long as the blocks the
// later steps take are free: until then only an arrival can change the batch (admission and
// swap-in only get harder as blocks are taken), and the caller interrupts the run for that.
// Beams end a run at their block boundary, where they are re-forked. Fills
// run_new_blocks_[k]: the blocks step k takes.
int64_t Engine::run_length() {
  const int64_t block_size = batch_.params.block_size;
  int64_t steps = std::numeric_limits<int64_t>::max();
  for (const uint32_t slot : batch_.running) {
    const SequenceGroup& g = batch_.slots[slot];
    if (!g.decodes) continue;
    steps = std::min(steps, g.request.output_tokens - g.generated);
    if (g.request.beam_width > 1) {
      const int64_t tokens = g.tokens;
      steps = std::min(steps, 1 + (block_size - tokens % block_size) % block_size);
    }
  }
  steps = std::max<int64_t>(steps, 1);
  run_new_blocks_.assign(static_cast<size_t>(steps), 0);
  for (const uint32_t slot : batch_.running) {
    const SequenceGroup& g = batch_.slots[slot];
    if (!g.decodes || g.request.beam_width > 1) continue;
    // Step k (0-based) writes token tokens + k; it opens a block when that exceeds what is
    // held. Every sequence of the group holds as many tokens in as many blocks.
    const int64_t held_slots = batch_.blocks->blocks_held(g.first_seq) * block_size;
    for (int64_t k = held_slots - g.tokens + 1; k < steps; k += block_size)
      run_new_blocks_[static_cast<size_t>(k)] += g.sequences;
  }
  int64_t taken = 0;
  for (int64_t k = 1; k < steps; ++k) {
    taken += run_new_blocks_[static_cast<size_t>(k)];
    if (taken > batch_.free_blocks()) return k;
  }
  return steps;
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

void Engine::release(SequenceGroup& g) {
  batch_.free_sequences(g);
  result_.finished.push_back(g.request.id);
}

void Engine::finish_counted_run(int64_t later_blocks) {
  const int64_t members = batch_.counted.members();
  stats_.count_generated(run_steps_ * members);
  finished_slots_.clear();
  batch_.counted.finish_run(run_steps_, later_blocks, finished_slots_);
  if (finished_slots_.empty()) return;
  // Reported in admission order, as stepping one by one reports them.
  std::vector<uint32_t>& running = batch_.running;
  const auto members_end = running.begin() + members;
  finished_positions_.clear();
  for (const uint32_t slot : finished_slots_)
    finished_positions_.push_back(static_cast<size_t>(std::find(running.begin(), members_end, slot) - running.begin()));
  std::sort(finished_positions_.begin(), finished_positions_.end());
  for (const size_t i : finished_positions_) {
    SequenceGroup& g = batch_.slots[running[i]];
    batch_.leave_counted(g);
    release(g);
    batch_.take_slot(running[i]);
  }
  for (auto it = finished_positions_.rbegin(); it != finished_positions_.rend(); ++it)
    running.erase(running.begin() + static_cast<std::ptrdiff_t>(*it));
}

void Engine::kv_moved(Time waited) {
  if (!stepping_ || run_steps_ != 1)
    throw std::logic_error("KV moved for a step that is not a single step in progress");
  kv_wait_ = waited;
}

const StepResult& Engine::finish_step() {
  if (!stepping_) throw std::logic_error("an engine step finished that never began");
  stepping_ = false;
  result_.first_tokens.clear();
  result_.finished.clear();
  result_.shadows_parked.clear();

  // Only the statistics see the wait: the step's compute (what interrupt() and steps_done()
  // measure `elapsed` against) began when the bytes were in.
  run_step_times_[0] += kv_wait_;
  kv_wait_ = Time::zero();
  if (batch_.counted.stepping()) {
    CountedDecoding::RunBlocks run_blocks = batch_.counted.run_blocks();
    finish_counted_run(stats_.add_run(run_step_times_.data(), run_steps_, [&] { return run_blocks.next(); }));
  } else {
    size_t k = 0;
    stats_.add_run(run_step_times_.data(), run_steps_, [&] { return run_new_blocks_[++k]; });
  }
  // A run's later tokens go in a sequence at a time: the same blocks taken and filled as
  // one-by-one steps would take (their ids differ, which nothing observes).
  const int64_t later_tokens = run_steps_ - 1;
  std::vector<uint32_t>& running = batch_.running;
  auto kept = static_cast<size_t>(batch_.counted.members());
  for (size_t i = kept; i < running.size(); ++i) {
    SequenceGroup& g = batch_.slots[running[i]];
    if (g.decodes) {
      if (later_tokens > 0)
        for (int64_t s = 0; s < g.sequences; ++s)
          batch_.blocks->append(g.first_seq + static_cast<SeqId>(s), later_tokens);
      g.tokens += later_tokens;
      g.generated += run_steps_;
      stats_.count_generated(run_steps_ * g.sequences);
    } else if (g.chunk > 0) {
      g.computed += g.chunk;
      stats_.count_prefilled(g.chunk);
      if (g.computed >= g.prompt && g.shadow) {
        result_.shadows_parked.push_back(g.request.id);
      } else if (g.computed >= g.prompt) {
        // The prompt's last logits give each sequence its next token.
        if (g.generated == 0) result_.first_tokens.push_back(g.request.id);
        ++g.generated;
        stats_.count_generated(g.sequences);
      }
    }
    g.chunk = 0;
    g.decodes = false;
    if (g.generated >= g.request.output_tokens) {
      release(g);
      batch_.take_slot(running[i]);
      continue;
    }
    running[kept++] = running[i];
  }
  running.resize(kept);
  return result_;
}

void Engine::audit() const {
  const BlockManager& blocks = *batch_.blocks;
  blocks.audit();
  // The counted decoding's members, recounted: they lead running, and their tokens not yet in
  // the block manager, the blocks those take, their phases and the sums agree with its counts.
  const int64_t block_size = batch_.params.block_size;
  const auto members = static_cast<size_t>(batch_.counted.members());
  int64_t unstored_tokens = 0;
  int64_t unstored_blocks = 0;
  int64_t offset = 0;
  std::vector<int64_t> phases(static_cast<size_t>(block_size), 0);
  for (size_t i = 0; i < batch_.running.size(); ++i) {
    const SequenceGroup& g = batch_.slots[batch_.running[i]];
    if (g.counted != (i < members))
      throw std::logic_error(fmt::format("engine: request {} is out of place among the counted ones", g.request.id));
    if (!g.counted) continue;
    const int64_t now = batch_.tokens_now(g);
    const int64_t stored = blocks.tokens(g.first_seq);
    if (stored > now || batch_.generated_now(g) >= g.request.output_tokens)
      throw std::logic_error(
          fmt::format("engine: request {} counts {} tokens, its sequence holds {}", g.request.id, now, stored));
    unstored_tokens += now - stored;
    unstored_blocks += (now + block_size - 1) / block_size - blocks.blocks_held(g.first_seq);
    offset += g.tokens - g.base;
    ++phases[static_cast<size_t>(batch_.counted.phase(g.tokens, g.base))];
  }
  batch_.counted.audit(unstored_tokens, unstored_blocks, offset, phases);
  if (batch_.free_blocks() < 0) throw std::logic_error("engine: the counted tokens take more blocks than are free");
  const auto check = [&blocks](const SequenceGroup& g) {
    for (int64_t i = 0; i < g.sequences; ++i)
      if (blocks.tokens(g.first_seq + static_cast<SeqId>(i)) != g.tokens)
        throw std::logic_error(fmt::format("engine: request {} counts {} tokens, its sequence {} holds {}",
                                           g.request.id, g.tokens, i,
                                           blocks.tokens(g.first_seq + static_cast<SeqId>(i))));
  };
  for (size_t i = members; i < batch_.running.size(); ++i) check(batch_.slots[batch_.running[i]]);
  for (const SequenceGroup& g : batch_.swapped) check(g);
}

}  // namespace slsim
