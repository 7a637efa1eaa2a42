#include "sim/engine/engine.h"

#include <cmath>
#include <stdexcept>

namespace slsim {

int64_t kv_capacity_tokens(const ModelSpec& model, const GpuProfile& gpu, int64_t tensor_parallel,
                           const EngineParams& params) {
  const double usable = static_cast<double>(gpu.memory_bytes) * params.gpu_memory_utilization *
                        static_cast<double>(tensor_parallel);
  const double free_bytes = usable - static_cast<double>(model.checkpoint_bytes()) -
                            static_cast<double>(params.activation_reserve_bytes);
  if (free_bytes <= 0) return 0;
  return static_cast<int64_t>(std::floor(free_bytes / static_cast<double>(model.kv_bytes_per_token())));
}

Engine::Engine(const LatencyModel& latency, const EngineParams& params, int64_t kv_capacity_tokens)
    : latency_(latency), params_(params), kv_capacity_tokens_(kv_capacity_tokens) {}

bool Engine::fits(const EngineRequest& request) const {
  return request.input_tokens + request.output_tokens <= kv_capacity_tokens_;
}

void Engine::enqueue(const EngineRequest& request) {
  if (!fits(request)) throw std::logic_error("a request that can never fit was sent to an engine");
  waiting_.push_back(request);
}

void Engine::admit() {
  int64_t batched_tokens = 0;
  const auto max_seqs = static_cast<size_t>(params_.max_num_seqs);
  while (!waiting_.empty() && running_.size() + prefilling_.size() < max_seqs) {
    const EngineRequest& next = waiting_.front();
    const int64_t sequence_tokens = next.input_tokens + next.output_tokens;
    if (kv_reserved_tokens_ + sequence_tokens > kv_capacity_tokens_) break;
    if (!prefilling_.empty() && batched_tokens + next.input_tokens > params_.max_num_batched_tokens) break;
    kv_reserved_tokens_ += sequence_tokens;
    batched_tokens += next.input_tokens;
    prefilling_.push_back(Sequence{next, 0});
    waiting_.pop_front();
  }
}

std::optional<Time> Engine::begin_step() {
  if (stepping_) throw std::logic_error("an engine step began while another was running");
  admit();
  StepShape shape;
  if (!prefilling_.empty()) {
    step_is_prefill_ = true;
    for (const Sequence& s : prefilling_) {
      const auto n = static_cast<double>(s.request.input_tokens);
      shape.prefill_tokens += s.request.input_tokens;
      shape.prefill_attention_pairs += n * n / 2;
    }
  } else if (!running_.empty()) {
    step_is_prefill_ = false;
    shape.decode_sequences = static_cast<int64_t>(running_.size());
    for (const Sequence& s : running_) shape.decode_context_tokens += s.request.input_tokens + s.generated;
  } else {
    return std::nullopt;
  }
  stepping_ = true;
  return latency_.step_time(shape);
}

void Engine::release(const Sequence& s) {
  kv_reserved_tokens_ -= s.request.input_tokens + s.request.output_tokens;
  result_.finished.push_back(s.request.id);
}

const StepResult& Engine::finish_step() {
  if (!stepping_) throw std::logic_error("an engine step finished that never began");
  stepping_ = false;
  result_.first_tokens.clear();
  result_.finished.clear();
  if (step_is_prefill_) {
    // The prefill's forward pass yields each request's first output token.
    for (Sequence& s : prefilling_) {
      s.generated = 1;
      result_.first_tokens.push_back(s.request.id);
      if (s.generated >= s.request.output_tokens) release(s);
      else running_.push_back(s);
    }
    prefilling_.clear();
    return result_;
  }
  size_t kept = 0;
  for (Sequence& s : running_) {
    ++s.generated;
    if (s.generated >= s.request.output_tokens) release(s);
    else running_[kept++] = s;
  }
  running_.resize(kept);
  return result_;
}

}  // namespace slsim
