#pragma once
// Streams a CSV or JSONL trace through a TraceMapping, one record at a time, in constant
// memory: a 1 MiB read buffer, fields located in place (no per-line allocation), numbers read
// with std::from_chars. A bad line is an error naming file, line and field, unless the
// `max_skipped` allowance lets it be skipped and counted; an arrival earlier than the previous
// one is always an error.

#include <cstdint>
#include <cstdio>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "sim/workload/source_spec.h"

namespace slsim {

// Nanoseconds since 1970-01-01 of a datetime in `format` (strftime-like: %Y %m %d %H %M %S,
// %f = a fraction of a second of any number of digits, %% = %; any other character literal),
// or nullopt if the text does not match. Digits past nanoseconds are dropped.
std::optional<int64_t> parse_datetime_ns(std::string_view text, std::string_view format);
// The Azure traces' format, `2023-11-16 18:17:03.9799600` (a 'T' separator is accepted too).
std::optional<int64_t> parse_datetime_ns(std::string_view text);
// A decimal number (optionally with a fraction or exponent) in units of `unit_ns` nanoseconds,
// exact to the nanosecond for plain decimals.
std::optional<int64_t> parse_time_ns(std::string_view text, int64_t unit_ns);
int64_t time_unit_ns(std::string_view unit);

// The mapping of a preset trace format (azure-llm-2023, vidur, splitwise); throws on others.
TraceMapping preset_mapping(const std::string& preset);

struct TraceRecord {
  int64_t time_ns = 0;  // relative to the first record when the mapping says so
  int64_t input_tokens = 0;
  int64_t output_tokens = 0;
  int64_t samples = 1;
  int64_t beam_width = 1;
  std::string_view model_id;  // valid until the next call
  std::vector<uint64_t> prefix_blocks;
  // Prompt tokens per prefix id: the record's prefix_block_tokens_field, else the mapping's
  // prefix_block_tokens (0: the ids are engine blocks).
  int64_t prefix_block_tokens = 0;
};

// The canonical CSV that `slsim trace convert` and `synth` write and the default mapping (with
// model_field "model", prefix_field "prefix_blocks") reads back to the same records. A trace
// whose prefix ids have a declared size adds a last column, prefix_block_tokens, that keeps it
// (read back with prefix_block_tokens_field); others keep the seven columns they always had.
std::string canonical_trace_header(bool with_prefix_block_tokens);
std::string canonical_trace_row(const TraceRecord& record, bool with_prefix_block_tokens);
// A time in seconds with every nanosecond: "-1.000000005".
std::string canonical_seconds(int64_t ns);

class TraceReader {
 public:
  TraceReader(std::string path, const TraceMapping& mapping, int64_t max_skipped = 0);
  ~TraceReader();
  TraceReader(const TraceReader&) = delete;
  TraceReader& operator=(const TraceReader&) = delete;

  // The next record, or nullptr at the end; the record is overwritten by the next call. A trace
  // whose every line was bad and skipped is an error at its end, not an empty workload.
  const TraceRecord* next();
  uint64_t line_number() const { return line_number_; }
  int64_t skipped() const { return skipped_; }
  const std::string& path() const { return path_; }
  // Throws the error of the current line about `field`.
  [[noreturn]] void fail(std::string_view field, const std::string& message) const;

 private:
  enum Slot { kTime, kInput, kOutput, kModel, kSamples, kBeam, kPrefix, kPrefixBlockTokens, kSlots };

  bool read_line(std::string_view& line);
  void read_header();
  // Fills values_ from the line; returns an error message, empty when the line is good.
  std::string split_csv(std::string_view line);
  std::string split_jsonl(std::string_view line);
  std::string parse_record();

  std::string path_;
  TraceMapping mapping_;
  int64_t unit_ns_ = 1;
  bool jsonl_ = false;
  int64_t max_skipped_ = 0;
  int64_t skipped_ = 0;
  int64_t records_ = 0;
  std::FILE* file_ = nullptr;
  std::vector<char> buffer_;
  size_t begin_ = 0;
  size_t end_ = 0;
  bool eof_ = false;
  uint64_t line_number_ = 0;
  std::string names_[kSlots];
  int64_t columns_[kSlots];  // CSV column of each slot; -1 when not mapped
  int64_t last_column_ = -1;
  int64_t header_columns_ = 0;  // columns the header names; 0 without a header
  std::string_view values_[kSlots];
  bool present_[kSlots] = {};  // JSONL: the line has the field
  std::string unquoted_;       // CSV lines with quotes are rewritten here
  std::optional<int64_t> first_ns_;
  int64_t last_ns_ = INT64_MIN;
  int64_t declared_block_tokens_ = 0;  // the first row's prefix_block_tokens_field value; 0: none yet
  TraceRecord record_;
};

}  // namespace slsim
