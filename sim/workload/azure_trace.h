#pragma once
// The Azure LLM inference trace 2023 (Splitwise, ISCA'24): CSV with the header
// `TIMESTAMP,ContextTokens,GeneratedTokens`, timestamps like `2023-11-16 18:17:03.9799600`.
// Arrivals are taken relative to the first request; rows must be sorted.

#include <cstdint>
#include <fstream>
#include <optional>
#include <string>
#include <string_view>

#include "sim/workload/source.h"

namespace slsim {

// Nanoseconds since 1970-01-01 of `YYYY-MM-DD HH:MM:SS[.fraction]`, or nullopt if malformed.
std::optional<int64_t> parse_datetime_ns(std::string_view text);

class AzureTraceReader final : public RequestSource {
 public:
  AzureTraceReader(const std::string& path, ModelId model);
  std::optional<Request> next() override;

 private:
  std::string path_;
  ModelId model_;
  std::ifstream in_;
  std::string line_;
  uint64_t line_number_ = 0;
  std::optional<int64_t> first_ns_;
  int64_t last_ns_ = 0;
};

}  // namespace slsim
