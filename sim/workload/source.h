#pragma once
// Requests are pulled one at a time, in arrival order, so a trace of any length replays in
// constant memory: only the next arrival of each source is held.

#include <memory>
#include <optional>
#include <vector>

#include "sim/core/request.h"

namespace slsim {

class RequestSource {
 public:
  virtual ~RequestSource() = default;
  // The next request in arrival order (its id is assigned by the caller), or nullopt at the end.
  virtual std::optional<Request> next() = 0;
  // Bad trace lines skipped so far under a skip_bad allowance.
  virtual int64_t skipped_lines() const { return 0; }
};

// Merges sources by arrival time (ties by source order) and numbers requests 0, 1, 2, ...
class MergedSource final : public RequestSource {
 public:
  explicit MergedSource(std::vector<std::unique_ptr<RequestSource>> sources);
  std::optional<Request> next() override;
  int64_t skipped_lines() const override;

 private:
  std::vector<std::unique_ptr<RequestSource>> sources_;
  std::vector<std::optional<Request>> heads_;
  uint64_t next_id_ = 0;  // the next request's id
};

}  // namespace slsim
