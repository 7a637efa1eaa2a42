#include "sim/workload/trace_reader.h"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstring>
#include <filesystem>

#include "sim/core/errors.h"
#include "sim/core/fields.h"

namespace slsim {
namespace {

constexpr size_t kReadChunk = size_t{1} << 20;

bool read_digits(std::string_view text, size_t& pos, size_t count, int64_t& out) {
  if (pos + count > text.size()) return false;
  out = 0;
  for (size_t i = pos; i < pos + count; ++i) {
    if (text[i] < '0' || text[i] > '9') return false;
    out = out * 10 + (text[i] - '0');
  }
  pos += count;
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

// A positive integer, also written as an integer-valued float ("63.0", "6.3e1"): tools that
// pass counts through floating point (pandas with a missing value in the column) write them so.
std::optional<int64_t> parse_positive(std::string_view text) {
  int64_t value = 0;
  const char* last = text.data() + text.size();
  const auto [end, ec] = std::from_chars(text.data(), last, value);
  if (ec == std::errc() && end == last) return value > 0 ? std::optional<int64_t>(value) : std::nullopt;
  double real = 0;
  const auto [real_end, real_ec] = std::from_chars(text.data(), last, real);
  // Below 2^53 every integer is exact, so the conversion back loses nothing.
  if (real_ec != std::errc() || real_end != last || !(real >= 1) || real > 9.0e15 || std::trunc(real) != real)
    return std::nullopt;
  return static_cast<int64_t>(real);
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

bool parse_block_ids(std::string_view text, std::vector<uint64_t>& out) {
  out.clear();
  text = trim(text);
  if (!text.empty() && text.front() == '[') {
    if (text.back() != ']') return false;
    text = text.substr(1, text.size() - 2);
  }
  const char* p = text.data();
  const char* end = p + text.size();
  while (p < end) {
    while (p < end && (*p == ' ' || *p == ',' || *p == ';' || *p == '\t')) ++p;
    if (p == end) break;
    uint64_t id = 0;
    const auto [next, ec] = std::from_chars(p, end, id);
    if (ec != std::errc()) return false;
    out.push_back(id);
    p = next;
  }
  return true;
}

// The end of a JSON value starting at `p` (a string's closing quote excluded), or nullptr.
const char* skip_json_value(const char* p, const char* end) {
  if (p == end) return nullptr;
  if (*p == '"') {
    for (++p; p < end; ++p) {
      if (*p == '\\')
        ++p;
      else if (*p == '"')
        return p;
    }
    return nullptr;
  }
  if (*p == '[' || *p == '{') {
    int depth = 0;
    for (; p < end; ++p) {
      if (*p == '"') {
        p = skip_json_value(p, end);
        if (!p) return nullptr;
      } else if (*p == '[' || *p == '{') {
        ++depth;
      } else if (*p == ']' || *p == '}') {
        if (--depth == 0) return p + 1;
      }
    }
    return nullptr;
  }
  while (p < end && *p != ',' && *p != '}' && *p != ' ' && *p != '\t') ++p;
  return p;
}

const char* skip_space(const char* p, const char* end) {
  while (p < end && (*p == ' ' || *p == '\t')) ++p;
  return p;
}

}  // namespace

std::optional<int64_t> parse_datetime_ns(std::string_view t, std::string_view format) {
  int64_t year = 1970, month = 1, day = 1, hour = 0, minute = 0, second = 0, fraction_ns = 0;
  size_t pos = 0;
  for (size_t f = 0; f < format.size(); ++f) {
    if (format[f] == '.' && format.substr(f + 1, 2) == "%f" && (pos == t.size() || t[pos] != '.')) {
      f += 2;  // a missing fraction is zero
      continue;
    }
    if (format[f] != '%' || f + 1 == format.size()) {
      const bool matches = pos < t.size() && (t[pos] == format[f] || (format[f] == ' ' && t[pos] == 'T'));
      if (!matches) return std::nullopt;
      ++pos;
      continue;
    }
    bool ok = true;
    switch (format[++f]) {
      case 'Y':
        ok = read_digits(t, pos, 4, year);
        break;
      case 'm':
        ok = read_digits(t, pos, 2, month);
        break;
      case 'd':
        ok = read_digits(t, pos, 2, day);
        break;
      case 'H':
        ok = read_digits(t, pos, 2, hour);
        break;
      case 'M':
        ok = read_digits(t, pos, 2, minute);
        break;
      case 'S':
        ok = read_digits(t, pos, 2, second);
        break;
      case '%':
        ok = pos < t.size() && t[pos++] == '%';
        break;
      case 'f': {
        const size_t first = pos;
        int64_t scale = 100000000;
        for (; pos < t.size() && t[pos] >= '0' && t[pos] <= '9'; ++pos) {
          fraction_ns += (t[pos] - '0') * scale;
          scale /= 10;
        }
        ok = pos > first;
        break;
      }
      default:
        return std::nullopt;
    }
    if (!ok) return std::nullopt;
  }
  if (pos != t.size()) return std::nullopt;
  if (month < 1 || month > 12 || day < 1 || day > 31 || hour > 23 || minute > 59 || second > 60) return std::nullopt;
  // Nanoseconds since 1970 in 64 bits reach from 1677 to 2262 (found by fuzzing: year 4046).
  if (year < 1678 || year > 2261) return std::nullopt;
  const int64_t seconds = days_from_civil(year, month, day) * 86400 + hour * 3600 + minute * 60 + second;
  return seconds * 1000000000 + fraction_ns;
}

std::optional<int64_t> parse_datetime_ns(std::string_view text) {
  return parse_datetime_ns(text, "%Y-%m-%d %H:%M:%S.%f");
}

std::optional<int64_t> parse_time_ns(std::string_view text, int64_t unit_ns) {
  text = trim(text);
  const bool plain = !text.empty() && text.find_first_not_of("0123456789.-") == std::string_view::npos;
  if (!plain) {
    double value = 0;
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (ec != std::errc() || end != text.data() + text.size() || !std::isfinite(value)) return std::nullopt;
    const double ns = value * static_cast<double>(unit_ns);
    if (!(std::fabs(ns) < 0x1p63)) return std::nullopt;  // beyond what a nanosecond count holds
    return std::llround(ns);
  }
  const bool negative = text.front() == '-';
  if (negative) text.remove_prefix(1);
  const size_t dot = text.find('.');
  const std::string_view whole = text.substr(0, dot);
  const std::string_view fraction = dot == std::string_view::npos ? std::string_view() : text.substr(dot + 1);
  if (whole.empty() && fraction.empty()) return std::nullopt;
  int64_t units = 0;
  if (!whole.empty()) {
    const auto [end, ec] = std::from_chars(whole.data(), whole.data() + whole.size(), units);
    if (ec != std::errc() || end != whole.data() + whole.size()) return std::nullopt;
  }
  int64_t digits = 0;
  double scale = 1;
  for (size_t i = 0; i < fraction.size() && i < 18; ++i) {
    if (fraction[i] < '0' || fraction[i] > '9') return std::nullopt;
    digits = digits * 10 + (fraction[i] - '0');
    scale *= 10;
  }
  if (fraction.find_first_not_of("0123456789") != std::string_view::npos) return std::nullopt;
  int64_t ns = 0;
  // A time beyond what a nanosecond count holds (about 292 years) is malformed, not wrapped.
  if (__builtin_mul_overflow(units, unit_ns, &ns) ||
      __builtin_add_overflow(ns, std::llround(static_cast<double>(digits) / scale * static_cast<double>(unit_ns)), &ns))
    return std::nullopt;
  return negative ? -ns : ns;
}

int64_t time_unit_ns(std::string_view unit) {
  if (unit == "s") return 1000000000;
  if (unit == "ms") return 1000000;
  if (unit == "us") return 1000;
  if (unit == "ns") return 1;
  throw InputError("unknown time unit \"" + std::string(unit) + "\"; expected s, ms, us or ns");
}

TraceMapping preset_mapping(const std::string& preset) {
  TraceMapping m;
  m.format = "csv";
  if (preset == "azure-llm-2023") {
    m.time_field = "TIMESTAMP";
    m.time_format = "%Y-%m-%d %H:%M:%S.%f";
    m.input_field = "ContextTokens";
    m.output_field = "GeneratedTokens";
  } else if (preset == "vidur") {
    m.time_field = "arrived_at";
    m.input_field = "num_prefill_tokens";
    m.output_field = "num_decode_tokens";
  } else if (preset == "splitwise") {
    m.time_field = "arrival_timestamp";
    m.input_field = "prompt_size";
    m.output_field = "token_size";
  } else {
    throw InputError("unknown trace preset \"" + preset + "\"; expected azure-llm-2023, vidur or splitwise");
  }
  return m;
}

TraceReader::TraceReader(std::string path, const TraceMapping& mapping, int64_t max_skipped)
    : path_(std::move(path)), mapping_(mapping), unit_ns_(time_unit_ns(mapping.time_unit)), max_skipped_(max_skipped) {
  if (mapping_.format.empty()) {
    const std::string ext = std::filesystem::path(path_).extension().string();
    jsonl_ = ext == ".jsonl" || ext == ".json" || ext == ".ndjson";
  } else {
    jsonl_ = mapping_.format == "jsonl";
  }
  const std::string* names[kSlots] = {
      &mapping_.time_field,    &mapping_.input_field, &mapping_.output_field, &mapping_.model_field,
      &mapping_.samples_field, &mapping_.beam_field,  &mapping_.prefix_field, &mapping_.prefix_block_tokens_field};
  for (int s = 0; s < kSlots; ++s) {
    names_[s] = *names[s];
    columns_[s] = -1;
  }
  file_ = std::fopen(path_.c_str(), "rb");
  if (!file_) throw InputError(path_ + ": cannot open the trace file");
  buffer_.resize(kReadChunk);
  if (!jsonl_) read_header();
}

TraceReader::~TraceReader() {
  if (file_) std::fclose(file_);
}

void TraceReader::fail(std::string_view field, const std::string& message) const {
  throw TraceError(path_, line_number_, "field " + std::string(field) + ": " + message);
}

bool TraceReader::read_line(std::string_view& line) {
  while (true) {
    const char* start = buffer_.data() + begin_;
    const char* newline = static_cast<const char*>(std::memchr(start, '\n', end_ - begin_));
    if (newline || (eof_ && begin_ < end_)) {
      const char* stop = newline ? newline : buffer_.data() + end_;
      line = std::string_view(start, static_cast<size_t>(stop - start));
      if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
      // Editors on Windows start UTF-8 files with a byte-order mark.
      if (line_number_ == 0 && line.starts_with("\xEF\xBB\xBF")) line.remove_prefix(3);
      begin_ = newline ? static_cast<size_t>(newline - buffer_.data()) + 1 : end_;
      ++line_number_;
      return true;
    }
    if (eof_) return false;
    if (begin_ > 0) {
      std::memmove(buffer_.data(), buffer_.data() + begin_, end_ - begin_);
      end_ -= begin_;
      begin_ = 0;
    }
    if (end_ + kReadChunk / 2 > buffer_.size()) buffer_.resize(buffer_.size() * 2);  // a very long line
    const size_t got = std::fread(buffer_.data() + end_, 1, buffer_.size() - end_, file_);
    if (got == 0) {
      if (std::ferror(file_)) throw InputError(path_ + ": read error after line " + std::to_string(line_number_));
      eof_ = true;
    }
    end_ += got;
  }
}

void TraceReader::read_header() {
  if (!mapping_.header) {
    for (int s = 0; s < kSlots; ++s) {
      if (names_[s].empty()) continue;
      int64_t column = -1;
      const auto [end, ec] = std::from_chars(names_[s].data(), names_[s].data() + names_[s].size(), column);
      if (ec != std::errc() || end != names_[s].data() + names_[s].size() || column < 0)
        throw InputError(path_ + ": the CSV has no header (mapping.header = false), so field \"" + names_[s] +
                         "\" must be a column index (0, 1, ...)");
      columns_[s] = column;
      last_column_ = std::max(last_column_, column);
    }
    return;
  }
  std::string_view header;
  if (!read_line(header)) throw TraceError(path_, 1, "empty file; expected a header naming the columns");
  std::vector<std::string_view> columns;
  size_t pos = 0;
  while (true) {
    const size_t comma = header.find(',', pos);
    std::string_view name = trim(header.substr(pos, comma == std::string_view::npos ? comma : comma - pos));
    if (name.size() >= 2 && name.front() == '"' && name.back() == '"') name = name.substr(1, name.size() - 2);
    columns.push_back(name);
    if (comma == std::string_view::npos) break;
    pos = comma + 1;
  }
  header_columns_ = static_cast<int64_t>(columns.size());
  for (int s = 0; s < kSlots; ++s) {
    if (names_[s].empty()) continue;
    const auto it = std::find(columns.begin(), columns.end(), names_[s]);
    if (it == columns.end()) {
      std::string known;
      for (const auto& c : columns) known += (known.empty() ? "" : ", ") + std::string(c);
      throw TraceError(path_, 1, "no column \"" + names_[s] + "\" in the header (columns: " + known + ")");
    }
    columns_[s] = it - columns.begin();
    last_column_ = std::max(last_column_, columns_[s]);
  }
}

std::string TraceReader::split_csv(std::string_view line) {
  if (line.find('"') != std::string_view::npos) {
    // Quoted fields: unquote into a side buffer, with '\x1f' between fields.
    unquoted_.clear();
    bool quoted = false;
    for (size_t i = 0; i < line.size(); ++i) {
      const char c = line[i];
      if (c == '"') {
        if (quoted && i + 1 < line.size() && line[i + 1] == '"') {
          unquoted_ += '"';
          ++i;
        } else {
          quoted = !quoted;
        }
      } else {
        unquoted_ += (c == ',' && !quoted) ? '\x1f' : c;
      }
    }
    line = unquoted_;
  }
  const char separator = line.data() == unquoted_.data() && !unquoted_.empty() ? '\x1f' : ',';
  int64_t column = 0;
  size_t pos = 0;
  while (column <= last_column_) {
    const size_t stop = line.find(separator, pos);
    const std::string_view value = line.substr(pos, stop == std::string_view::npos ? stop : stop - pos);
    for (int s = 0; s < kSlots; ++s)
      if (columns_[s] == column) values_[s] = value;
    ++column;
    if (stop == std::string_view::npos) break;
    pos = stop + 1;
    // More fields than the header names: a shifted or merged row, not data to read silently.
    if (column > last_column_ && header_columns_ > 0) {
      const auto fields =
          column + 1 + std::count(line.begin() + static_cast<std::ptrdiff_t>(pos), line.end(), separator);
      if (fields > header_columns_)
        return "the line has " + std::to_string(fields) + " fields, more than the header's " +
               std::to_string(header_columns_);
    }
  }
  for (int s = 0; s < kSlots; ++s) {
    present_[s] = columns_[s] >= 0 && columns_[s] < column;
    if (columns_[s] >= column)
      return "field " + names_[s] + ": missing (the line has " + std::to_string(column) + " fields)";
  }
  return {};
}

std::string TraceReader::split_jsonl(std::string_view line) {
  std::fill(std::begin(present_), std::end(present_), false);
  const char* p = skip_space(line.data(), line.data() + line.size());
  const char* end = line.data() + line.size();
  if (p == end || *p != '{') return "expected a JSON object";
  p = skip_space(p + 1, end);
  if (p < end && *p == '}') p = end;
  while (p < end) {
    if (*p != '"') return "expected a quoted key";
    const char* key_end = skip_json_value(p, end);
    if (!key_end) return "unterminated key";
    const std::string_view key(p + 1, static_cast<size_t>(key_end - p - 1));
    p = skip_space(key_end + 1, end);
    if (p == end || *p != ':') return "expected ':' after key \"" + std::string(key) + "\"";
    p = skip_space(p + 1, end);
    const char* value_end = skip_json_value(p, end);
    if (!value_end) return "field " + std::string(key) + ": malformed value";
    std::string_view value(p, static_cast<size_t>(value_end - p));
    if (*p == '"') {
      value = std::string_view(p + 1, static_cast<size_t>(value_end - p - 1));
      ++value_end;
    }
    for (int s = 0; s < kSlots; ++s) {
      if (!names_[s].empty() && key == names_[s]) {
        values_[s] = value;
        present_[s] = true;
      }
    }
    p = skip_space(value_end, end);
    if (p < end && *p == ',') {
      p = skip_space(p + 1, end);
    } else if (p < end && *p == '}') {
      break;
    } else {
      return "expected ',' or '}' after field " + std::string(key);
    }
  }
  if (p == end && !line.empty() && trim(line).back() != '}') return "unterminated JSON object";
  for (int s = 0; s < kSlots; ++s)
    if (!names_[s].empty() && !present_[s]) return "field " + names_[s] + ": missing";
  return {};
}

std::string TraceReader::parse_record() {
  const auto field_error = [&](int slot, const std::string& message) {
    return "field " + names_[slot] + ": " + message;
  };
  const auto mapped = [&](int slot) { return !names_[slot].empty(); };
  const std::string_view time_text = trim(values_[kTime]);
  const std::optional<int64_t> ns = mapping_.time_format.empty() ? parse_time_ns(time_text, unit_ns_)
                                                                 : parse_datetime_ns(time_text, mapping_.time_format);
  if (!ns) {
    return field_error(
        kTime, mapping_.time_format.empty()
                   ? "expected a number of " + mapping_.time_unit + ", got \"" + std::string(time_text) + "\""
                   : "expected a datetime like " + mapping_.time_format + ", got \"" + std::string(time_text) + "\"");
  }
  const auto not_positive = [&](int slot) {
    return field_error(slot, "expected a positive integer, got \"" + std::string(trim(values_[slot])) + "\"");
  };
  const auto input = parse_positive(trim(values_[kInput]));
  if (!input) return not_positive(kInput);
  const auto output = parse_positive(trim(values_[kOutput]));
  if (!output) return not_positive(kOutput);
  record_.samples = 1;
  record_.beam_width = 1;
  if (mapped(kSamples)) {
    const auto n = parse_positive(trim(values_[kSamples]));
    if (!n) return not_positive(kSamples);
    record_.samples = *n;
  }
  if (mapped(kBeam)) {
    const auto n = parse_positive(trim(values_[kBeam]));
    if (!n) return not_positive(kBeam);
    record_.beam_width = *n;
  }
  record_.prefix_blocks.clear();
  if (mapped(kPrefix) && !parse_block_ids(values_[kPrefix], record_.prefix_blocks))
    return field_error(kPrefix, "expected a list of non-negative integers");
  record_.prefix_block_tokens = mapping_.prefix_block_tokens;
  if (mapped(kPrefixBlockTokens) && !trim(values_[kPrefixBlockTokens]).empty()) {
    const auto n = parse_positive(trim(values_[kPrefixBlockTokens]));
    if (!n) return not_positive(kPrefixBlockTokens);
    // One size per trace: ids of different sizes would name blocks that cannot be compared.
    if (declared_block_tokens_ != 0 && *n != declared_block_tokens_)
      return field_error(kPrefixBlockTokens, fmt::format("{} differs from the {} of an earlier row; a trace's prefix "
                                                         "blocks have one size",
                                                         *n, declared_block_tokens_));
    declared_block_tokens_ = *n;
    record_.prefix_block_tokens = *n;
  }
  record_.model_id = names_[kModel].empty() ? std::string_view() : trim(values_[kModel]);
  if (*ns < last_ns_) {
    // Never skipped: replaying out of order would silently reorder the workload.
    throw TraceError(path_, line_number_,
                     "field " + names_[kTime] + ": earlier than the previous row; the trace must be sorted");
  }
  // Bounded as every seconds field is (kMaxSeconds), so arrival plus any delay stays within int64
  // nanoseconds; a negative arrival would be scheduled before the clock starts.
  const int64_t time_ns = mapping_.relative ? *ns - first_ns_.value_or(*ns) : *ns;
  if (time_ns < 0)
    return field_error(kTime, fmt::format("arrival at {} s is negative; expected a time at or after 0 (or map the "
                                          "trace as relative to its first request)",
                                          canonical_seconds(time_ns)));
  if (time_ns > static_cast<int64_t>(kMaxSeconds * 1e9))
    return field_error(
        kTime,
        fmt::format("arrival at {} s is beyond the simulated time bound of {:g} s{} (are the trace's times in "
                    "a smaller unit? see mapping.time_unit)",
                    canonical_seconds(time_ns), kMaxSeconds, mapping_.relative ? " after the first request" : ""));
  last_ns_ = *ns;
  if (!first_ns_) first_ns_ = *ns;
  record_.time_ns = time_ns;
  record_.input_tokens = *input;
  record_.output_tokens = *output;
  return {};
}

std::string canonical_seconds(int64_t ns) {
  const char* sign = ns < 0 ? "-" : "";
  const uint64_t magnitude = ns < 0 ? static_cast<uint64_t>(-(ns + 1)) + 1 : static_cast<uint64_t>(ns);
  return fmt::format("{}{}.{:09d}", sign, magnitude / 1000000000, magnitude % 1000000000);
}

std::string canonical_trace_header(bool with_prefix_block_tokens) {
  return fmt::format("arrival_s,model,input_tokens,output_tokens,samples,beam_width,prefix_blocks{}\n",
                     with_prefix_block_tokens ? ",prefix_block_tokens" : "");
}

std::string canonical_trace_row(const TraceRecord& record, bool with_prefix_block_tokens) {
  std::string model(record.model_id);
  // Quoted, with quotes doubled, when a comma or a quote would otherwise split or end the field.
  if (model.find_first_of(",\"") != std::string::npos) {
    std::string quoted = "\"";
    for (const char c : model) quoted += c == '"' ? std::string("\"\"") : std::string(1, c);
    model = quoted + "\"";
  }
  std::string block_tokens;
  if (with_prefix_block_tokens && record.prefix_block_tokens > 0)
    block_tokens = fmt::format(",{}", record.prefix_block_tokens);
  else if (with_prefix_block_tokens)
    block_tokens = ",";
  return fmt::format("{},{},{},{},{},{},{}{}\n", canonical_seconds(record.time_ns), model, record.input_tokens,
                     record.output_tokens, record.samples, record.beam_width, fmt::join(record.prefix_blocks, " "),
                     block_tokens);
}

const TraceRecord* TraceReader::next() {
  std::string_view line;
  while (read_line(line)) {
    if (trim(line).empty()) continue;
    std::string error = jsonl_ ? split_jsonl(line) : split_csv(line);
    if (error.empty()) error = parse_record();
    if (error.empty()) {
      ++records_;
      return &record_;
    }
    if (skipped_ < max_skipped_) {
      ++skipped_;
      continue;
    }
    throw TraceError(
        path_, line_number_,
        error + (max_skipped_ > 0 ? " (more than the " + std::to_string(max_skipped_) + " bad lines allowed)" : ""));
  }
  if (records_ == 0 && skipped_ > 0)
    throw TraceError(
        path_, line_number_,
        fmt::format("every line was bad ({} skipped): check the mapping (fields, format, time unit)", skipped_));
  return nullptr;
}

}  // namespace slsim
