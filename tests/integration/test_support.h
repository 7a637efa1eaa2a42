#pragma once
// Helpers shared by the integration tests: temporary folders, file contents, traces, running the CLI.

#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "tests/unique_temp_dir.h"

namespace slsim::testing_support {

inline std::filesystem::path fresh_dir(const std::string& name) { return unique_temp_dir("it_" + name); }

inline std::string read_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

inline std::filesystem::path testdata(const std::string& name) {
  return std::filesystem::path(SLSIM_SOURCE_DIR) / "tests/testdata" / name;
}

// A canonical trace (arrival_s, input_tokens, output_tokens) of one request every `period_s`
// seconds from 0, 100 tokens in and 3 out, written to DIR/periodic.csv; returns its path.
inline std::string periodic_trace(const std::filesystem::path& dir, int requests, int period_s) {
  const auto path = dir / "periodic.csv";
  std::ofstream out(path);
  out << "arrival_s,input_tokens,output_tokens\n";
  for (int i = 0; i < requests; ++i) out << i * period_s << ",100,3\n";
  return path.string();
}

struct CommandResult {
  int exit_code = -1;
  std::string output;  // stdout and stderr together
};

// `env`: assignments the shell puts before the command, e.g. "NAME=value ".
inline CommandResult run_slsim_with_env(const std::string& env, const std::string& args) {
  const std::string command = env + std::string(SLSIM_BINARY) + " " + args + " 2>&1";
  CommandResult result;
  FILE* pipe = popen(command.c_str(), "r");
  std::array<char, 4096> buffer;
  while (size_t n = fread(buffer.data(), 1, buffer.size(), pipe)) result.output.append(buffer.data(), n);
  const int status = pclose(pipe);
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return result;
}

inline CommandResult run_slsim(const std::string& args) { return run_slsim_with_env("", args); }

}  // namespace slsim::testing_support
