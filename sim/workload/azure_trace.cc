#include "sim/workload/azure_trace.h"

#include <charconv>

#include "sim/core/errors.h"

namespace slsim {
namespace {

bool parse_digits(std::string_view text, size_t pos, size_t count, int64_t& out) {
  if (pos + count > text.size()) return false;
  out = 0;
  for (size_t i = pos; i < pos + count; ++i) {
    if (text[i] < '0' || text[i] > '9') return false;
    out = out * 10 + (text[i] - '0');
  }
  return true;
}

// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's days_from_civil).
int64_t days_from_civil(int64_t y, int64_t m, int64_t d) {
  y -= m <= 2;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const int64_t yoe = y - era * 400;
  const int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + doe - 719468;
}

std::optional<int64_t> parse_count(std::string_view text) {
  int64_t value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size() || value < 0) return std::nullopt;
  return value;
}

}  // namespace

std::optional<int64_t> parse_datetime_ns(std::string_view t) {
  int64_t year, month, day, hour, minute, second;
  if (t.size() < 19 || t[4] != '-' || t[7] != '-' || (t[10] != ' ' && t[10] != 'T') || t[13] != ':' ||
      t[16] != ':')
    return std::nullopt;
  if (!parse_digits(t, 0, 4, year) || !parse_digits(t, 5, 2, month) || !parse_digits(t, 8, 2, day) ||
      !parse_digits(t, 11, 2, hour) || !parse_digits(t, 14, 2, minute) || !parse_digits(t, 17, 2, second))
    return std::nullopt;
  if (month < 1 || month > 12 || day < 1 || day > 31 || hour > 23 || minute > 59 || second > 60)
    return std::nullopt;
  int64_t fraction_ns = 0;
  if (t.size() > 19) {
    if (t[19] != '.' || t.size() == 20) return std::nullopt;
    int64_t scale = 100000000;
    for (size_t i = 20; i < t.size(); ++i) {
      if (t[i] < '0' || t[i] > '9') return std::nullopt;
      fraction_ns += (t[i] - '0') * scale;  // digits past nanoseconds add nothing
      scale /= 10;
    }
  }
  const int64_t seconds = days_from_civil(year, month, day) * 86400 + hour * 3600 + minute * 60 + second;
  return seconds * 1000000000 + fraction_ns;
}

AzureTraceReader::AzureTraceReader(const std::string& path, ModelId model)
    : path_(path), model_(model), in_(path) {
  if (!in_) throw InputError(path + ": cannot open the trace file");
  if (!std::getline(in_, line_)) throw TraceError(path, 1, "empty file; expected the header TIMESTAMP,ContextTokens,GeneratedTokens");
  line_number_ = 1;
  if (!line_.empty() && line_.back() == '\r') line_.pop_back();
  if (line_ != "TIMESTAMP,ContextTokens,GeneratedTokens")
    throw TraceError(path, 1, "expected the header TIMESTAMP,ContextTokens,GeneratedTokens, got \"" + line_ + "\"");
}

std::optional<Request> AzureTraceReader::next() {
  while (std::getline(in_, line_)) {
    ++line_number_;
    if (!line_.empty() && line_.back() == '\r') line_.pop_back();
    if (line_.empty()) continue;
    const std::string_view row(line_);
    const size_t c1 = row.find(',');
    const size_t c2 = c1 == std::string_view::npos ? c1 : row.find(',', c1 + 1);
    if (c2 == std::string_view::npos || row.find(',', c2 + 1) != std::string_view::npos)
      throw TraceError(path_, line_number_, "expected 3 comma-separated fields TIMESTAMP,ContextTokens,GeneratedTokens");
    const auto ns = parse_datetime_ns(row.substr(0, c1));
    if (!ns) throw TraceError(path_, line_number_, "field TIMESTAMP: expected a datetime like 2023-11-16 18:17:03.9799600");
    const auto input = parse_count(row.substr(c1 + 1, c2 - c1 - 1));
    if (!input || *input == 0) throw TraceError(path_, line_number_, "field ContextTokens: expected a positive integer");
    const auto output = parse_count(row.substr(c2 + 1));
    if (!output || *output == 0) throw TraceError(path_, line_number_, "field GeneratedTokens: expected a positive integer");
    if (!first_ns_) first_ns_ = *ns;
    if (*ns < last_ns_) throw TraceError(path_, line_number_, "field TIMESTAMP: earlier than the previous row; the trace must be sorted");
    last_ns_ = *ns;
    Request r;
    r.model = model_;
    r.arrival = Time::from_ns(*ns - *first_ns_);
    r.input_tokens = *input;
    r.output_tokens = *output;
    return r;
  }
  if (in_.bad()) throw InputError(path_ + ": read error after line " + std::to_string(line_number_));
  return std::nullopt;
}

}  // namespace slsim
