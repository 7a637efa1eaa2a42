#include "sim/cli/report_command.h"

#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <stdexcept>
#include <system_error>

namespace slsim {
namespace fs = std::filesystem;

namespace {

// As the catalogue is found: share/slsim/scripts beside an installed slsim (cmake --install
// puts scripts/ there), else the source tree the binary was built from.
fs::path report_script() {
  std::error_code error;
  const fs::path binary = fs::read_symlink("/proc/self/exe", error);
  if (!error) {
    fs::path installed = (binary.parent_path() / SLSIM_INSTALLED_SCRIPTS_FROM_BIN / "report.py").lexically_normal();
    if (fs::is_regular_file(installed, error)) return installed;
  }
  return fs::path(SLSIM_SOURCE_SCRIPTS_DIR) / "report.py";
}

// The interpreter the build found (the one that has Debian's python3-plotly), else python3 on
// PATH, for a binary copied to a machine without it.
std::string python() {
  std::error_code error;
  if (fs::is_regular_file(SLSIM_PYTHON_EXECUTABLE, error)) return SLSIM_PYTHON_EXECUTABLE;
  return "python3";
}

}  // namespace

int report_command(const std::vector<std::string>& args) {
  const std::string interpreter = python();
  const std::string script = report_script().string();
  std::vector<std::string> words{interpreter, script};
  words.insert(words.end(), args.begin(), args.end());
  std::vector<char*> argv;
  argv.reserve(words.size() + 1);
  for (std::string& w : words) argv.push_back(w.data());
  argv.push_back(nullptr);
  execvp(interpreter.c_str(), argv.data());
  throw std::runtime_error("cannot run " + interpreter + " " + script + ": " + std::strerror(errno));
}

}  // namespace slsim
