// loader_bench: writes a checkpoint with a catalogue model's shapes in three
// formats and times loading it onto the GPU with the fast loader and the naive
// paths, cold (page cache dropped) and warm, next to the raw baselines (O_DIRECT
// sequential disk read, pinned host-to-device copy). Writes JSON.
//
// Bandwidths are checkpoint bytes (sum of tensor sizes) over the load's wall
// time, from the first read to the last byte on the GPU; a load into an
// already-allocated device buffer, as a serving engine does.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "common/args.h"
#include "common/cuda_check.h"
#include "common/environment.h"
#include "common/json_output.h"
#include "loader/checkpoint.h"
#include "loader/loaders.h"

namespace {

using namespace slsim::kernels;
using namespace slsim::kernels::loader;

// Compares a few whole tensors (first, middle, last) of the device image with
// their expected contents: catches a loader that skipped or misplaced data
// without copying gigabytes back.
bool verify_sample(const Checkpoint& c, const void* device_image) {
  const std::size_t n = c.tensors.size();
  for (const std::size_t i : {std::size_t{0}, n / 2, n - 1}) {
    std::vector<unsigned char> got(c.tensors[i].bytes), want(c.tensors[i].bytes);
    CUDA_CHECK(cudaMemcpy(got.data(), static_cast<const unsigned char*>(device_image) + c.device_offset[i], got.size(),
                          cudaMemcpyDeviceToHost));
    fill_tensor(i, 0, want.data(), want.size());
    if (got != want) return false;
  }
  return true;
}

struct Recorder {
  const Checkpoint& ckpt;
  void* image;

  // Clears the image, drops the page cache for a cold run, loads, verifies, appends a row to `rows`.
  // paired_disk_gbytes_per_s: an O_DIRECT read of the same files just before this load (0 = none).
  LoadStats run(Json& rows, const std::string& loader, const std::string& format, bool cold,
                const std::function<LoadStats()>& load, bool verify = true, double paired_disk_gbytes_per_s = 0.0) {
    CUDA_CHECK(cudaMemset(image, 0, ckpt.device_bytes));
    CUDA_CHECK(cudaDeviceSynchronize());
    const bool dropped = cold && drop_page_cache();
    const LoadStats s = load();
    const bool ok = !verify || verify_sample(ckpt, image);
    const double gbytes_per_s = static_cast<double>(ckpt.bytes()) / s.total_s / 1e9;
    std::printf("%-28s %-12s %-5s %8.3f s %8.2f GB/s %s\n", loader.c_str(), format.c_str(), cold ? "cold" : "warm",
                s.total_s, gbytes_per_s, ok ? "" : "VERIFY FAILED");
    Json row = {
        {"loader", loader},
        {"format", format},
        {"state", cold ? "cold" : "warm"},
        {"page_cache_dropped", dropped},
        {"seconds", s.total_s},
        {"GBps", gbytes_per_s},
    };
    if (s.last_read_done_s > 0.0) {
      row["disk_stage_done_s"] = s.last_read_done_s;
      row["disk_stage_GBps"] = static_cast<double>(ckpt.bytes()) / s.last_read_done_s / 1e9;
      row["io_threads_wait_for_pinned_chunk_s"] = s.io_wait_slot_s;
      row["copy_thread_wait_for_disk_s"] = s.copy_wait_chunk_s;
    }
    if (paired_disk_gbytes_per_s > 0.0) row["paired_disk_direct_read_GBps"] = paired_disk_gbytes_per_s;
    row["verified"] = verify ? (ok ? "ok" : "FAILED") : "not checked";
    rows.push_back(std::move(row));
    if (!ok) std::exit(1);
    return s;
  }
};

}  // namespace

int main(int argc, char** argv) {
  Args args(argc, argv);
  const std::string model = args.str("model", "opt-1.3b");
  const std::string arch_spec = args.str("arch", "");
  const std::string dir = args.str("dir", "/tmp/slsim_ckpt");
  const std::string out_path = args.str("out", "loader.json");
  const int partitions = static_cast<int>(args.integer("partitions", 1));
  FastLoaderOptions opt;
  opt.io_threads = static_cast<int>(args.integer("io-threads", 4));
  opt.chunk_bytes = static_cast<std::size_t>(args.integer("chunk-mib", 32)) << 20;
  opt.pool_bytes = static_cast<std::size_t>(args.integer("pool-mib", 4096)) << 20;
  opt.copy_streams = static_cast<int>(args.integer("streams", 2));
  const int repeats = static_cast<int>(args.integer("repeats", 2));
  const int disk_repeats = static_cast<int>(args.integer("disk-repeats", 3));
  const auto sweep_threads = args.integers("sweep-threads", "");
  const auto sweep_chunks = args.integers("sweep-chunk-mib", "");
  const bool skip_write = args.flag("skip-write");
  const bool keep = args.flag("keep");
  const bool skip_naive = args.flag("skip-naive");
  args.reject_unknown();
  if (!gpu_available()) {
    std::fprintf(stderr, "loader_bench: no CUDA device\n");
    return kSkipExitCode;
  }
  Architecture arch;
  if (!arch_spec.empty()) {
    arch = parse_architecture(arch_spec);
  } else if (const Architecture* a = builtin_architecture(model)) {
    arch = *a;
  } else {
    std::fprintf(stderr, "loader_bench: unknown model '%s'; give --arch\n", model.c_str());
    return 2;
  }
  const Checkpoint ckpt = make_checkpoint(arch, partitions);
  CUDA_CHECK(cudaFree(nullptr));  // create the context before any timed region

  Json report;
  report["program"] = "loader_bench";
  report["environment"] = environment(argc, argv);
  report["config"] = {
      {"model", arch.name},
      {"tensors", ckpt.tensors.size()},
      {"checkpoint_bytes", ckpt.bytes()},
      {"device_image_bytes", ckpt.device_bytes},
      {"partitions", partitions},
      {"dtype", "float16"},
      {"io_threads", opt.io_threads},
      {"chunk_bytes", opt.chunk_bytes},
      {"pool_bytes", opt.pool_bytes},
      {"copy_streams", opt.copy_streams},
      {"bandwidth_definition", "checkpoint_bytes / wall seconds of the load, 1e9 bytes per GB"},
  };

  if (!skip_write) {
    Json write_seconds;
    using Clock = std::chrono::steady_clock;
    const auto timed = [&](const char* name, auto fn) {
      const auto t0 = Clock::now();
      fn();
      const double s = std::chrono::duration<double>(Clock::now() - t0).count();
      std::printf("wrote %-12s in %.1f s\n", name, s);
      write_seconds[name] = s;
    };
    timed("sllm", [&] { write_sllm(dir, ckpt); });
    timed("safetensors", [&] { write_safetensors(dir, ckpt); });
    if (!skip_naive) timed("per_tensor", [&] { write_per_tensor(dir, ckpt); });
    report["write_seconds"] = std::move(write_seconds);
  }

  void* image = nullptr;
  CUDA_CHECK(cudaMalloc(&image, ckpt.device_bytes));

  Json baselines;
  const double h2d = pinned_h2d_gbytes_per_s(std::size_t{1} << 30, 10);
  std::printf("pinned host->device copy, 1 GiB: %.2f GB/s\n", h2d);
  baselines["pinned_h2d_GBps_1GiB"] = h2d;
  // The virtual disks of the GPU machines vary from one read to the next (a
  // host-side cache serves some reads faster than the device), so each figure is
  // the median of several reads, each after dropping the page cache.
  std::vector<std::string> partition_paths;
  for (std::size_t p = 0; p + 1 < ckpt.partition_first.size(); ++p)
    partition_paths.push_back(sllm_partition_path(dir, p));
  bool dropped = true;
  std::vector<double> one_reader_runs;
  std::vector<double> parallel_runs;
  for (int r = 0; r < disk_repeats; ++r) {
    dropped = drop_page_cache() && dropped;
    const LoadStats one = read_direct_parallel({partition_paths.front()}, 16u << 20, 1);
    one_reader_runs.push_back(static_cast<double>(one.bytes) / one.total_s / 1e9);
    dropped = drop_page_cache() && dropped;
    const LoadStats parallel = read_direct_parallel(partition_paths, 16u << 20, opt.io_threads);
    parallel_runs.push_back(static_cast<double>(parallel.bytes) / parallel.total_s / 1e9);
    std::printf("O_DIRECT read, 16 MiB blocks: one reader %.2f GB/s, %d readers %.2f GB/s\n", one_reader_runs.back(),
                opt.io_threads, parallel_runs.back());
  }
  const auto median = [](std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v.size() % 2 == 1 ? v[v.size() / 2] : 0.5 * (v[v.size() / 2 - 1] + v[v.size() / 2]);
  };
  baselines["disk_direct_read_one_reader_16MiB_GBps"] = median(one_reader_runs);
  baselines["disk_direct_read_parallel_16MiB_GBps"] = median(parallel_runs);
  baselines["disk_direct_read_parallel_readers"] = opt.io_threads;
  baselines["disk_direct_read_one_reader_runs_GBps"] = one_reader_runs;
  baselines["disk_direct_read_parallel_runs_GBps"] = parallel_runs;
  baselines["disk_direct_read_statistic"] = "median of the runs, page cache dropped before each";
  baselines["disk_direct_read_page_cache_dropped"] = dropped;
  report["baselines"] = std::move(baselines);

  Recorder rec{ckpt, image};
  Json loads = Json::array();
  {
    FastLoader fast(opt);
    // Each cold load is paired with an O_DIRECT read right before it: the virtual disk's
    // speed drifts between reads, and the simulator is checked against the disk as it
    // was at the time of each load.
    for (int r = 0; r < repeats; ++r) {
      drop_page_cache();
      const LoadStats disk = read_direct_parallel(partition_paths, 16u << 20, opt.io_threads);
      rec.run(
          loads, "sllm_fast", "sllm", true, [&] { return fast.load(dir, ckpt, image); }, true,
          static_cast<double>(disk.bytes) / disk.total_s / 1e9);
    }
    FastLoaderOptions io_only = opt;
    io_only.copy_to_gpu = false;
    FastLoader reader(io_only);
    rec.run(
        loads, "sllm_fast_disk_to_dram_only", "sllm", true, [&] { return reader.load(dir, ckpt, image); }, false);
  }
  {
    // Warm tier: the checkpoint already in the pinned DRAM cache.
    unsigned char* pinned = nullptr;
    CUDA_CHECK(cudaHostAlloc(reinterpret_cast<void**>(&pinned), ckpt.device_bytes, cudaHostAllocDefault));
    for (std::size_t p = 0; p + 1 < ckpt.partition_first.size(); ++p) {
      std::FILE* f = std::fopen(sllm_partition_path(dir, p).c_str(), "rb");
      const std::size_t n = ckpt.partition_base[p + 1] - ckpt.partition_base[p];
      if (f == nullptr || std::fread(pinned + ckpt.partition_base[p], 1, n, f) != n) {
        std::fprintf(stderr, "loader_bench: cannot read partition %zu\n", p);
        return 1;
      }
      std::fclose(f);
    }
    for (int r = 0; r < std::max(repeats, 3); ++r) {
      rec.run(loads, "sllm_fast_from_pinned_dram", "sllm", false,
              [&] { return copy_from_pinned(pinned, ckpt.device_bytes, image, opt.chunk_bytes, opt.copy_streams); });
    }
    CUDA_CHECK(cudaFreeHost(pinned));
  }
  if (!skip_naive) {
    for (const bool cold : {true, false}) {
      rec.run(loads, "naive_buffered_pageable", "safetensors", cold,
              [&] { return load_safetensors_buffered(dir, ckpt, image); });
      rec.run(loads, "naive_mmap_pageable", "safetensors", cold,
              [&] { return load_safetensors_mmap(dir, ckpt, image); });
      rec.run(loads, "naive_per_tensor_files", "per_tensor", cold, [&] { return load_per_tensor(dir, ckpt, image); });
    }
  }
  report["loads"] = std::move(loads);

  if (!sweep_threads.empty() || !sweep_chunks.empty()) {
    Json sweep = Json::array();
    for (const long long t : sweep_threads.empty() ? std::vector<long long>{opt.io_threads} : sweep_threads) {
      for (const long long c : sweep_chunks.empty()
                                   ? std::vector<long long>{static_cast<long long>(opt.chunk_bytes >> 20)}
                                   : sweep_chunks) {
        FastLoaderOptions o = opt;
        o.io_threads = static_cast<int>(t);
        o.chunk_bytes = static_cast<std::size_t>(c) << 20;
        FastLoader fl(o);
        Json runs = Json::array();
        rec.run(runs, "sllm_fast_t" + std::to_string(t) + "_c" + std::to_string(c), "sllm", true,
                [&] { return fl.load(dir, ckpt, image); });
        sweep.push_back({{"io_threads", o.io_threads}, {"chunk_mib", c}, {"runs", std::move(runs)}});
      }
    }
    report["sweep"] = std::move(sweep);
  }
  CUDA_CHECK(cudaFree(image));
  if (!keep) std::filesystem::remove_all(dir);
  if (!write_json_file(out_path, report)) {
    std::fprintf(stderr, "loader_bench: cannot write %s\n", out_path.c_str());
    return 1;
  }
  return 0;
}
