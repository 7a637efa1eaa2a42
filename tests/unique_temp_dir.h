#pragma once
// A fresh folder with a unique name (mkdtemp) under the system's temporary folder: tests that
// run at once, or a leftover of an earlier run, never share one.

#include <cstdlib>
#include <filesystem>
#include <stdexcept>
#include <string>

namespace slsim::testing_support {

inline std::filesystem::path unique_temp_dir(const std::string& prefix) {
  std::string pattern = (std::filesystem::temp_directory_path() / ("slsim_" + prefix + "_XXXXXX")).string();
  if (!::mkdtemp(pattern.data())) throw std::runtime_error("mkdtemp failed for " + pattern);
  return pattern;
}

}  // namespace slsim::testing_support
