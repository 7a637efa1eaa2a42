#include "sim/workload/sessions.h"

#include "sim/workload/trace_source.h"

namespace slsim {
namespace {

// Distinct salts keep system-prompt, session and partial-block ids apart.
constexpr uint64_t kSystemPromptSalt = 0x5953'5445'4d00'0000;  // "SYSTEM"
constexpr uint64_t kSessionSalt = 0x5345'5353'494f'4e00;       // "SESSION"
constexpr uint64_t kPartialBlockSalt = 0x5041'5254'0000'0000;  // "PART"

uint64_t mixed(uint64_t a, uint64_t b) { return splitmix64(a ^ splitmix64(b)); }

}  // namespace

std::vector<uint64_t> session_prefix_blocks(int64_t prompt_tokens, int64_t system_prompt_tokens, int64_t block_tokens,
                                            ModelId model, uint64_t session_index, uint64_t request_index,
                                            uint64_t source_salt) {
  const int64_t blocks = (prompt_tokens + block_tokens - 1) / block_tokens;
  const uint64_t system_key = mixed(kSystemPromptSalt ^ source_salt, model.value());
  const uint64_t session_key = mixed(kSessionSalt ^ source_salt, session_index);
  std::vector<uint64_t> ids(static_cast<size_t>(blocks));
  for (int64_t j = 0; j < blocks; ++j) {
    const int64_t end_token = (j + 1) * block_tokens;
    const auto position = static_cast<uint64_t>(j);
    if (end_token <= system_prompt_tokens) {
      ids[static_cast<size_t>(j)] = mixed(system_key, position);
    } else if (end_token <= prompt_tokens) {
      ids[static_cast<size_t>(j)] = mixed(session_key, position);
    } else {
      ids[static_cast<size_t>(j)] = mixed(kPartialBlockSalt ^ source_salt, request_index);
    }
  }
  return ids;
}

SessionSource::SessionSource(const SourceSpec& spec, const ModelCatalogue& catalogue, ModelAssigner assigner,
                             LengthSampler lengths, RandomStream arrivals, size_t source_index)
    : sessions_(spec.sessions),
      gaps_(gap_family(spec.kind), spec.rate_per_s * spec.rate_scale, spec.cv, spec.weibull_shape),
      warp_(spec),
      session_count_(spec.requests),
      max_context_(catalogue.max_context),
      engine_block_tokens_(catalogue.engine_block_tokens),
      source_salt_(splitmix64(source_index)),
      assigner_(std::move(assigner)),
      lengths_(std::move(lengths)),
      arrivals_(arrivals) {
  clock_s_ = gaps_.draw(arrivals_);
}

std::optional<Request> SessionSource::turn(OpenSession& session) {
  const auto [user_tokens, output_tokens] = lengths_.draw(max_context_[session.model]);
  const int64_t prompt_tokens = session.context_tokens + user_tokens;
  if (prompt_tokens + output_tokens > max_context_[session.model]) return std::nullopt;
  Request r;
  r.model = session.model;
  r.arrival = session.next_arrival;
  r.input_tokens = prompt_tokens;
  r.output_tokens = output_tokens;
  r.prefix_blocks = session_prefix_blocks(prompt_tokens, sessions_.system_prompt_tokens, sessions_.block_tokens,
                                          session.model, session.index, emitted_, source_salt_);
  if (engine_block_tokens_ > 0)
    r.prefix_blocks = engine_prefix_blocks(r.prefix_blocks, sessions_.block_tokens, engine_block_tokens_);
  ++emitted_;
  ++session.turns_done;
  session.context_tokens = prompt_tokens + output_tokens;
  session.next_arrival += Time::from_seconds(sessions_.think_time_s);
  return r;
}

std::optional<Request> SessionSource::next() {
  while (true) {
    const bool more_sessions = session_count_ == 0 || started_ < static_cast<uint64_t>(session_count_);
    // An open session's turn goes before a new session arriving at the same instant.
    if (!open_.empty() && (!more_sessions || open_.top().next_arrival <= next_start())) {
      OpenSession session = open_.top();
      open_.pop();
      std::optional<Request> r = turn(session);
      if (!r) continue;
      if (session.turns_done < sessions_.turns) open_.push(session);
      return r;
    }
    if (!more_sessions) return std::nullopt;
    OpenSession session{.next_arrival = next_start(),
                        .index = started_++,
                        .model = assigner_.for_request(),
                        .turns_done = 0,
                        .context_tokens = sessions_.system_prompt_tokens};
    clock_s_ += gaps_.draw(arrivals_);
    std::optional<Request> r = turn(session);
    if (!r) continue;
    if (session.turns_done < sessions_.turns) open_.push(session);
    return r;
  }
}

}  // namespace slsim
