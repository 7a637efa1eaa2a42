#pragma once
// Multi-turn conversations with prefix blocks whose reuse follows from the lengths alone.
// Sessions start as the arrival process of a generator; turn k (k = 1, 2, ...) of a session
// arrives (k − 1) think times after its start, and its prompt is the model's system prompt,
// then every earlier turn's new user tokens and output, then its own new user tokens. The
// prompt is named by one prefix id per `block_tokens` tokens: a block inside the system prompt
// by (model, position), so every session of that model shares it; a later full block by
// (session, position), so the session's later turns share it; the last, partial block by the
// request alone, since a longer prompt fills it with other tokens. Only prompt blocks are
// named: a block first filled by an output is new when the next turn's prompt brings it.

#include <cstdint>
#include <optional>
#include <queue>
#include <vector>

#include "sim/core/random.h"
#include "sim/workload/generators.h"
#include "sim/workload/model_assigner.h"
#include "sim/workload/source.h"
#include "sim/workload/source_spec.h"

namespace slsim {

// The prefix ids of a session's prompt of `prompt_tokens` tokens, `system_prompt_tokens` of them
// the model's system prompt. `source_salt` keeps the ids of different sources apart; the
// partial last block's id is taken from `request_index` (the source's request count).
std::vector<uint64_t> session_prefix_blocks(int64_t prompt_tokens, int64_t system_prompt_tokens, int64_t block_tokens,
                                            ModelId model, uint64_t session_index, uint64_t request_index,
                                            uint64_t source_salt);

class SessionSource final : public RequestSource {
 public:
  // `engine_block_tokens` > 0 maps the session's ids onto engine blocks as a trace's are
  // (engine_prefix_blocks); 0 keeps them. `source_index` salts the ids.
  SessionSource(const SourceSpec& spec, const ModelCatalogue& catalogue, ModelAssigner assigner, LengthSampler lengths,
                RandomStream arrivals, size_t source_index);
  std::optional<Request> next() override;

 private:
  struct OpenSession {
    Time next_arrival;
    uint64_t index = 0;
    ModelId model;
    int64_t turns_done = 0;
    int64_t context_tokens = 0;  // system prompt, earlier prompts' new tokens and outputs
  };
  struct LaterArrival {
    bool operator()(const OpenSession& a, const OpenSession& b) const {
      return a.next_arrival != b.next_arrival ? a.next_arrival > b.next_arrival : a.index > b.index;
    }
  };

  // The next turn of `session`, or nullopt when it would not fit the model's context.
  std::optional<Request> turn(OpenSession& session);
  Time next_start() const { return Time::from_seconds(warp_(clock_s_)); }

  SessionSpec sessions_;
  GapDistribution gaps_;
  TimeWarp warp_;
  int64_t session_count_;
  IdVector<ModelId, int64_t> max_context_;
  int64_t engine_block_tokens_;
  uint64_t source_salt_;
  ModelAssigner assigner_;
  LengthSampler lengths_;
  RandomStream arrivals_;
  std::priority_queue<OpenSession, std::vector<OpenSession>, LaterArrival> open_;
  uint64_t started_ = 0;
  uint64_t emitted_ = 0;
  double clock_s_ = 0;
};

}  // namespace slsim
