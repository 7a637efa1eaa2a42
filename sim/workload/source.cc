#include "sim/workload/source.h"

namespace slsim {

MergedSource::MergedSource(std::vector<std::unique_ptr<RequestSource>> sources) : sources_(std::move(sources)) {
  for (auto& s : sources_) heads_.push_back(s->next());
}

std::optional<Request> MergedSource::next() {
  // A linear scan: configs merge a handful of sources, where a heap would only add overhead.
  std::optional<size_t> earliest;
  for (size_t i = 0; i < heads_.size(); ++i) {
    if (heads_[i] && (!earliest || heads_[i]->arrival < heads_[*earliest]->arrival)) earliest = i;
  }
  if (!earliest) return std::nullopt;
  Request r = *heads_[*earliest];
  heads_[*earliest] = sources_[*earliest]->next();
  r.id = RequestId(next_id_++);
  return r;
}

int64_t MergedSource::skipped_lines() const {
  int64_t total = 0;
  for (const auto& s : sources_) total += s->skipped_lines();
  return total;
}

}  // namespace slsim
