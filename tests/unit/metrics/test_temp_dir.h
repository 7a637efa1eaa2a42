#pragma once
// A fresh folder per test, under the system's temporary folder with a unique name, removed when
// the test ends.

#include <cstdlib>
#include <filesystem>
#include <stdexcept>
#include <string>

namespace slsim::testing {

class TempDir {
 public:
  TempDir() {
    std::string name = (std::filesystem::temp_directory_path() / "slsim_unit_XXXXXX").string();
    if (!::mkdtemp(name.data())) throw std::runtime_error("cannot create a folder like " + name);
    path_ = name;
  }
  ~TempDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

}  // namespace slsim::testing
