// Checkpoint loaders onto the GPU, and the raw baselines they are judged by.
//
// Thread safety: each function runs one load at a time on the calling thread
// (plus the loader's own I/O threads); none may run concurrently with another
// on the same device buffer.
#pragma once

#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "loader/checkpoint.h"

namespace slsim::kernels::loader {

struct FastLoaderOptions {
  int io_threads = 4;                   // O_DIRECT readers
  std::size_t chunk_bytes = 32u << 20;  // bytes per read and per copy; multiple of 4 KiB
  std::size_t pool_bytes = 4ull << 30;  // pinned staging pool; multiple of chunk_bytes
  int copy_streams = 2;                 // streams the copies are spread over
  bool copy_to_gpu = true;              // false: disk → pinned DRAM only (stage bandwidth)
};

// Times of one load, in seconds from its start.
struct LoadStats {
  double total_s = 0.0;
  double last_read_done_s = 0.0;   // disk → DRAM stage ends (fast loader only)
  double io_wait_slot_s = 0.0;     // summed over I/O threads: waiting for a free pinned chunk
  double copy_wait_chunk_s = 0.0;  // copy thread waiting for a chunk read from disk
  std::uint64_t bytes = 0;         // bytes moved (device image bytes for the fast loader)
};

// The ServerlessLLM-style loader: I/O threads read the partition files with
// O_DIRECT into a pool of pinned, 4 KiB-aligned chunks; the calling thread
// copies each finished chunk to the GPU with cudaMemcpyAsync on several
// streams, and a stream callback returns the chunk to the pool, so disk→DRAM
// and DRAM→GPU overlap. The pool is allocated once (as a server does at start)
// and reused by every load.
class FastLoader {
 public:
  explicit FastLoader(const FastLoaderOptions& options);
  ~FastLoader();
  FastLoader(const FastLoader&) = delete;
  FastLoader& operator=(const FastLoader&) = delete;

  LoadStats load(const std::string& dir, const Checkpoint& ckpt, void* device_image);
  const FastLoaderOptions& options() const { return options_; }

 private:
  FastLoaderOptions options_;
  unsigned char* pool_ = nullptr;
  cudaStream_t* streams_ = nullptr;
};

// Warm tier of the fast loader: the checkpoint already sits in pinned DRAM
// (ServerlessLLM's DRAM cache); copy it in chunks over several streams.
LoadStats copy_from_pinned(const void* pinned_image, std::uint64_t bytes, void* device_image, std::size_t chunk_bytes,
                           int streams);

// Naive paths, as a simple framework loader does them, tensor by tensor with
// pageable synchronous copies.
LoadStats load_safetensors_buffered(const std::string& dir, const Checkpoint& ckpt, void* device_image);
LoadStats load_safetensors_mmap(const std::string& dir, const Checkpoint& ckpt, void* device_image);
LoadStats load_per_tensor(const std::string& dir, const Checkpoint& ckpt, void* device_image);

// Baselines: the disk at queue depth `readers`: that many threads read the files' blocks with
// O_DIRECT into pinned buffers, each taking the next unread block of the concatenated files (one
// reader over one file is what `dd iflag=direct bs=16M` measures); host-to-device copy bandwidth
// from pinned memory.
LoadStats read_direct_parallel(const std::vector<std::string>& paths, std::size_t block_bytes, int readers);
double pinned_h2d_gbytes_per_s(std::size_t bytes, int repeats);

// Drops the page cache (root only); returns false where not permitted.
bool drop_page_cache();

}  // namespace slsim::kernels::loader
