#pragma once
// Two kinds of failure, told apart by the CLI's exit code: input the user can fix (a config,
// a trace, a command line: exit 2) and failures of the run itself (exit 1).

#include <stdexcept>
#include <string>

namespace slsim {

class InputError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// A value in a JSON document: names the document, the JSON path and what was expected.
class ConfigError : public InputError {
 public:
  ConfigError(const std::string& path, const std::string& message)
      : InputError(path.empty() ? message : path + ": " + message), path_(path) {}
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// A run that broke one of the simulator's invariants (--check-invariants): a bug, exit 1.
class InvariantViolation : public std::logic_error {
 public:
  using std::logic_error::logic_error;
};

// A line of a trace or table file: names the file, the line and the field.
class TraceError : public InputError {
 public:
  TraceError(const std::string& file, uint64_t line, const std::string& message)
      : InputError(file + ":" + std::to_string(line) + ": " + message) {}
};

}  // namespace slsim
