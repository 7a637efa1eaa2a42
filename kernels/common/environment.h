// Records where and how a measurement was taken: every calibration file must say
// which GPU, driver and CUDA version produced it, when, and by which command.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>
#include <cstdlib>
#include <ctime>
#include <string>

#include "common/cuda_check.h"
#include "common/json_output.h"

namespace slsim::kernels {

inline std::string command_line(int argc, char** argv) {
  std::string cmd;
  for (int i = 0; i < argc; ++i) {
    if (i > 0) cmd += ' ';
    cmd += argv[i];
  }
  return cmd;
}

inline std::string utc_now() {
  const std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

// The driver's release string (e.g. 580.159.04) is not available through the
// runtime API; gpu_measure.sh exports it from nvidia-smi as SLSIM_DRIVER.
inline Json environment(int argc, char** argv) {
  int device = 0;
  CUDA_CHECK(cudaGetDevice(&device));
  cudaDeviceProp prop{};
  CUDA_CHECK(cudaGetDeviceProperties(&prop, device));
  int runtime_version = 0;
  int driver_api_version = 0;
  CUDA_CHECK(cudaRuntimeGetVersion(&runtime_version));
  CUDA_CHECK(cudaDriverGetVersion(&driver_api_version));
  const char* driver = std::getenv("SLSIM_DRIVER");
  Json env;
  env["gpu"] = prop.name;
  env["compute_capability"] = std::to_string(prop.major) + "." + std::to_string(prop.minor);
  env["sm_count"] = prop.multiProcessorCount;
  env["memory_bytes"] = static_cast<std::uint64_t>(prop.totalGlobalMem);
  env["l2_bytes"] = prop.l2CacheSize;
  env["driver"] = driver != nullptr ? driver : "unknown";
  env["cuda_runtime"] = std::to_string(runtime_version / 1000) + "." + std::to_string(runtime_version % 1000 / 10);
  env["cuda_driver_api"] =
      std::to_string(driver_api_version / 1000) + "." + std::to_string(driver_api_version % 1000 / 10);
  env["date_utc"] = utc_now();
  env["command"] = command_line(argc, argv);
  return env;
}

}  // namespace slsim::kernels
