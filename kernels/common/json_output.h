// Measurement reports as JSON, through nlohmann/json: numbers keep full double precision (the
// shortest text that reads back as the same double) and non-finite ones become null.
#pragma once

#include <cstdio>
#include <nlohmann/json.hpp>
#include <string>

namespace slsim::kernels {

// Keys stay in the order a program writes them, so a report reads as it was measured.
using Json = nlohmann::ordered_json;

// Writes `report` to path through a temporary file and a rename, so that a reader never sees
// half a report. Returns false on any I/O error.
inline bool write_json_file(const std::string& path, const Json& report) {
  const std::string text = report.dump(2) + "\n";
  const std::string tmp = path + ".tmp";
  std::FILE* f = std::fopen(tmp.c_str(), "w");
  if (f == nullptr) return false;
  const bool ok = std::fwrite(text.data(), 1, text.size(), f) == text.size();
  if (std::fclose(f) != 0 || !ok) return false;
  return std::rename(tmp.c_str(), path.c_str()) == 0;
}

}  // namespace slsim::kernels
