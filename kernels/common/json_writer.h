// A small streaming JSON writer, so that the measuring programs build on the GPU
// machine with nothing beyond CUDA and the C++ standard library.
//
// Invariant: every begin_* is matched by its end_*; keys are given inside
// objects and omitted inside arrays. The writer does not check this: callers
// are a handful of report functions.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <string>
#include <string_view>
#include <vector>

namespace slsim::kernels {

class JsonWriter {
 public:
  void begin_object(std::string_view key = {}) { open(key, '{'); }
  void end_object() { close('}'); }
  void begin_array(std::string_view key = {}) { open(key, '['); }
  void end_array() { close(']'); }

  void field(std::string_view key, std::string_view value) {
    prefix(key);
    quote(value);
  }
  void field(std::string_view key, const char* value) { field(key, std::string_view(value)); }
  void field(std::string_view key, const std::string& value) { field(key, std::string_view(value)); }
  void field(std::string_view key, bool value) {
    prefix(key);
    out_ += value ? "true" : "false";
  }
  void field(std::string_view key, double value) {
    prefix(key);
    if (!std::isfinite(value)) {
      out_ += "null";  // JSON has no NaN or infinity
      return;
    }
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.6g", value);
    out_ += buf;
  }
  void field(std::string_view key, float value) { field(key, static_cast<double>(value)); }
  void field(std::string_view key, std::int64_t value) {
    prefix(key);
    out_ += std::to_string(value);
  }
  void field(std::string_view key, int value) { field(key, static_cast<std::int64_t>(value)); }
  void field(std::string_view key, std::uint64_t value) {
    prefix(key);
    out_ += std::to_string(value);
  }
  void field(std::string_view key, long long value) { field(key, static_cast<std::int64_t>(value)); }
  void field(std::string_view key, unsigned long long value) {
    field(key, static_cast<std::uint64_t>(value));
  }

  // Array elements.
  template <typename T>
  void value(T v) {
    field({}, v);
  }

  const std::string& str() const { return out_; }

  // Writes to path through a temporary file and a rename, so that a reader
  // never sees half a report. Returns false on any I/O error.
  bool write_file(const std::string& path) const {
    const std::string tmp = path + ".tmp";
    std::FILE* f = std::fopen(tmp.c_str(), "w");
    if (f == nullptr) return false;
    const bool ok = std::fwrite(out_.data(), 1, out_.size(), f) == out_.size() &&
                    std::fputc('\n', f) != EOF;
    if (std::fclose(f) != 0 || !ok) return false;
    return std::rename(tmp.c_str(), path.c_str()) == 0;
  }

 private:
  void open(std::string_view key, char bracket) {
    prefix(key);
    out_ += bracket;
    first_.push_back(true);
  }
  void close(char bracket) {
    first_.pop_back();
    out_ += '\n';
    out_.append(2 * first_.size(), ' ');
    out_ += bracket;
  }
  void prefix(std::string_view key) {
    if (!first_.empty()) {
      if (!first_.back()) out_ += ',';
      first_.back() = false;
      out_ += '\n';
      out_.append(2 * first_.size(), ' ');
    }
    if (!key.empty()) {
      quote(key);
      out_ += ": ";
    }
  }
  void quote(std::string_view s) {
    out_ += '"';
    for (const char c : s) {
      switch (c) {
        case '"': out_ += "\\\""; break;
        case '\\': out_ += "\\\\"; break;
        case '\n': out_ += "\\n"; break;
        case '\t': out_ += "\\t"; break;
        default:
          if (static_cast<unsigned char>(c) < 0x20) {
            char buf[8];
            std::snprintf(buf, sizeof buf, "\\u%04x", c);
            out_ += buf;
          } else {
            out_ += c;
          }
      }
    }
    out_ += '"';
  }

  std::string out_;
  std::vector<bool> first_;
};

}  // namespace slsim::kernels
