#pragma once
// Result files are written under a temporary name in their final folder and renamed only when
// the whole run succeeded, so a failed or killed run never leaves a file that looks complete.

#include <cstdio>
#include <filesystem>
#include <string>
#include <string_view>

namespace slsim {

class OutputFile {
 public:
  explicit OutputFile(std::filesystem::path final_path);
  ~OutputFile();
  OutputFile(const OutputFile&) = delete;
  OutputFile& operator=(const OutputFile&) = delete;

  void write(std::string_view text);
  // Flushes, closes and renames to the final name; throws if any write failed.
  void commit();
  const std::filesystem::path& path() const { return final_path_; }

 private:
  std::filesystem::path final_path_;
  std::filesystem::path temp_path_;
  std::FILE* file_ = nullptr;
};

// Writes a whole small file atomically.
void write_file_atomically(const std::filesystem::path& path, std::string_view text);

}  // namespace slsim
