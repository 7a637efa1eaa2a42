#include "sim/metrics/output_file.h"

#include <cerrno>
#include <cstring>
#include <fmt/format.h>
#include <stdexcept>
#include <system_error>
#include <unistd.h>

namespace slsim {

OutputFile::OutputFile(std::filesystem::path final_path) : final_path_(std::move(final_path)) {
  temp_path_ = final_path_.parent_path() / fmt::format(".{}.tmp.{}", final_path_.filename().string(), ::getpid());
  file_ = std::fopen(temp_path_.c_str(), "wb");
  if (!file_) throw std::runtime_error("cannot create " + temp_path_.string() + ": " + std::strerror(errno));
}

OutputFile::~OutputFile() {
  if (file_) {
    std::fclose(file_);
    std::error_code ignored;
    std::filesystem::remove(temp_path_, ignored);
  }
}

void OutputFile::write(std::string_view text) {
  if (std::fwrite(text.data(), 1, text.size(), file_) != text.size())
    throw std::runtime_error("cannot write " + temp_path_.string());
}

void OutputFile::commit() {
  const bool failed = std::ferror(file_) != 0;
  const bool closed = std::fclose(file_) == 0;
  file_ = nullptr;
  if (failed || !closed) {
    std::error_code ignored;
    std::filesystem::remove(temp_path_, ignored);
    throw std::runtime_error("cannot write " + final_path_.string());
  }
  std::filesystem::rename(temp_path_, final_path_);
}

void write_file_atomically(const std::filesystem::path& path, std::string_view text) {
  OutputFile file(path);
  file.write(text);
  file.commit();
}

}  // namespace slsim
