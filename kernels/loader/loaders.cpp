#include "loader/loaders.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <exception>
#include <mutex>
#include <stdexcept>
#include <thread>
#include <unordered_map>
#include <vector>

#include "common/cuda_check.h"

namespace slsim::kernels::loader {
namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

template <typename T>
class BlockingQueue {
 public:
  void push(T v) {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      items_.push_back(std::move(v));
    }
    cv_.notify_one();
  }
  T pop() {
    std::unique_lock<std::mutex> lock(mutex_);
    cv_.wait(lock, [&] { return !items_.empty(); });
    T v = std::move(items_.front());
    items_.pop_front();
    return v;
  }

 private:
  std::mutex mutex_;
  std::condition_variable cv_;
  std::deque<T> items_;
};

void pread_all(int fd, void* dst, std::size_t n, std::uint64_t offset, const std::string& path) {
  auto* p = static_cast<unsigned char*>(dst);
  while (n > 0) {
    const ssize_t r = ::pread(fd, p, n, static_cast<off_t>(offset));
    if (r < 0) {
      if (errno == EINTR) continue;
      throw std::runtime_error("cannot read " + path + ": " + std::strerror(errno));
    }
    if (r == 0) throw std::runtime_error("unexpected end of " + path);
    p += r;
    n -= static_cast<std::size_t>(r);
    offset += static_cast<std::uint64_t>(r);
  }
}

// Opens with O_DIRECT where the file system allows it (tmpfs does not); the
// caller reports which it got.
int open_direct(const std::string& path, bool* direct) {
  int fd = ::open(path.c_str(), O_RDONLY | O_DIRECT);
  *direct = fd >= 0;
  if (fd < 0) fd = ::open(path.c_str(), O_RDONLY);
  if (fd < 0) throw std::runtime_error("cannot open " + path + ": " + std::strerror(errno));
  return fd;
}

int open_plain(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY);
  if (fd < 0) throw std::runtime_error("cannot open " + path + ": " + std::strerror(errno));
  return fd;
}

struct Chunk {
  int fd = -1;
  std::uint64_t file_offset = 0;
  std::uint64_t device_offset = 0;
  std::size_t bytes = 0;
};

struct Ready {
  std::size_t chunk = 0;
  int slot = 0;
};

struct SlotRelease {
  BlockingQueue<int>* free_slots = nullptr;
  int slot = 0;
};

// Runs on a CUDA driver thread once a chunk's copy has finished: no CUDA calls here.
void CUDART_CB release_slot(void* arg) {
  const auto* r = static_cast<SlotRelease*>(arg);
  r->free_slots->push(r->slot);
}

std::unordered_map<std::string, std::size_t> name_index(const Checkpoint& ckpt) {
  std::unordered_map<std::string, std::size_t> m;
  for (std::size_t i = 0; i < ckpt.tensors.size(); ++i) m[ckpt.tensors[i].name] = i;
  return m;
}

}  // namespace

FastLoader::FastLoader(const FastLoaderOptions& options) : options_(options) {
  if (options_.chunk_bytes == 0 || options_.chunk_bytes % kDirectIoAlignment != 0)
    throw std::runtime_error("chunk size must be a positive multiple of 4 KiB");
  options_.pool_bytes = std::max(options_.pool_bytes / options_.chunk_bytes, std::size_t{1}) * options_.chunk_bytes;
  options_.io_threads = std::max(options_.io_threads, 1);
  options_.copy_streams = std::max(options_.copy_streams, 1);
  CUDA_CHECK(cudaHostAlloc(reinterpret_cast<void**>(&pool_), options_.pool_bytes, cudaHostAllocDefault));
  streams_ = new cudaStream_t[options_.copy_streams];
  for (int i = 0; i < options_.copy_streams; ++i)
    CUDA_CHECK(cudaStreamCreateWithFlags(&streams_[i], cudaStreamNonBlocking));
}

FastLoader::~FastLoader() {
  for (int i = 0; i < options_.copy_streams; ++i) cudaStreamDestroy(streams_[i]);
  delete[] streams_;
  cudaFreeHost(pool_);
}

LoadStats FastLoader::load(const std::string& dir, const Checkpoint& ckpt, void* device_image) {
  const std::size_t parts = ckpt.partition_first.size() - 1;
  std::vector<int> fds(parts);
  std::vector<Chunk> chunks;
  bool direct = true;
  for (std::size_t p = 0; p < parts; ++p) {
    bool d = false;
    fds[p] = open_direct(sllm_partition_path(dir, p), &d);
    direct = direct && d;
    const std::uint64_t size = ckpt.partition_base[p + 1] - ckpt.partition_base[p];
    for (std::uint64_t off = 0; off < size; off += options_.chunk_bytes) {
      chunks.push_back({fds[p], off, ckpt.partition_base[p] + off,
                        static_cast<std::size_t>(std::min<std::uint64_t>(options_.chunk_bytes, size - off))});
    }
  }
  const int slots = static_cast<int>(options_.pool_bytes / options_.chunk_bytes);
  BlockingQueue<int> free_slots;
  BlockingQueue<Ready> ready;
  std::vector<SlotRelease> releases(slots);
  for (int s = 0; s < slots; ++s) {
    releases[s] = {&free_slots, s};
    free_slots.push(s);
  }
  std::atomic<std::size_t> next{0};
  std::atomic<long long> last_read_ns{0};
  std::vector<double> wait_slot(options_.io_threads, 0.0);
  std::exception_ptr io_error;
  std::mutex error_mutex;

  LoadStats stats;
  const auto t0 = Clock::now();
  std::vector<std::thread> readers;
  for (int t = 0; t < options_.io_threads; ++t) {
    readers.emplace_back([&, t] {
      for (std::size_t i; (i = next.fetch_add(1)) < chunks.size();) {
        const auto w0 = Clock::now();
        const int slot = free_slots.pop();
        wait_slot[t] += seconds_since(w0);
        try {
          pread_all(chunks[i].fd, pool_ + static_cast<std::size_t>(slot) * options_.chunk_bytes, chunks[i].bytes,
                    chunks[i].file_offset, dir);
        } catch (...) {
          std::lock_guard<std::mutex> lock(error_mutex);
          io_error = std::current_exception();
        }
        const long long ns = std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - t0).count();
        long long prev = last_read_ns.load();
        while (prev < ns && !last_read_ns.compare_exchange_weak(prev, ns)) {
        }
        ready.push({i, slot});
      }
    });
  }
  auto* image = static_cast<unsigned char*>(device_image);
  for (std::size_t k = 0; k < chunks.size(); ++k) {
    const auto w0 = Clock::now();
    const Ready r = ready.pop();
    stats.copy_wait_chunk_s += seconds_since(w0);
    if (!options_.copy_to_gpu) {
      free_slots.push(r.slot);
      continue;
    }
    cudaStream_t s = streams_[k % options_.copy_streams];
    CUDA_CHECK(cudaMemcpyAsync(image + chunks[r.chunk].device_offset,
                               pool_ + static_cast<std::size_t>(r.slot) * options_.chunk_bytes, chunks[r.chunk].bytes,
                               cudaMemcpyHostToDevice, s));
    CUDA_CHECK(cudaLaunchHostFunc(s, release_slot, &releases[r.slot]));
  }
  for (int i = 0; i < options_.copy_streams; ++i) CUDA_CHECK(cudaStreamSynchronize(streams_[i]));
  stats.total_s = seconds_since(t0);
  for (auto& t : readers) t.join();
  for (const int fd : fds) ::close(fd);
  if (io_error) std::rethrow_exception(io_error);
  if (!direct) std::fprintf(stderr, "fast loader: O_DIRECT refused by the file system; buffered reads\n");
  stats.last_read_done_s = static_cast<double>(last_read_ns.load()) * 1e-9;
  for (const double w : wait_slot) stats.io_wait_slot_s += w;
  stats.bytes = ckpt.device_bytes;
  return stats;
}

LoadStats copy_from_pinned(const void* pinned_image, std::uint64_t bytes, void* device_image, std::size_t chunk_bytes,
                           int num_streams) {
  std::vector<cudaStream_t> streams(std::max(num_streams, 1));
  for (auto& s : streams) CUDA_CHECK(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking));
  const auto* src = static_cast<const unsigned char*>(pinned_image);
  auto* dst = static_cast<unsigned char*>(device_image);
  const auto t0 = Clock::now();
  std::size_t k = 0;
  for (std::uint64_t off = 0; off < bytes; off += chunk_bytes, ++k) {
    const std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(chunk_bytes, bytes - off));
    CUDA_CHECK(cudaMemcpyAsync(dst + off, src + off, n, cudaMemcpyHostToDevice, streams[k % streams.size()]));
  }
  for (auto& s : streams) CUDA_CHECK(cudaStreamSynchronize(s));
  LoadStats stats;
  stats.total_s = seconds_since(t0);
  stats.bytes = bytes;
  for (auto& s : streams) CUDA_CHECK(cudaStreamDestroy(s));
  return stats;
}

LoadStats load_safetensors_buffered(const std::string& dir, const Checkpoint& ckpt, void* device_image) {
  const auto index = name_index(ckpt);
  auto* image = static_cast<unsigned char*>(device_image);
  const auto t0 = Clock::now();
  const std::string path = safetensors_path(dir);
  const int fd = open_plain(path);
  const SafetensorsHeader h = read_safetensors_header(fd);
  std::vector<unsigned char> buf;
  LoadStats stats;
  for (const auto& e : h.entries) {
    const std::size_t n = e.end - e.begin;
    buf.resize(std::max(buf.size(), n));
    pread_all(fd, buf.data(), n, h.data_start + e.begin, path);
    CUDA_CHECK(cudaMemcpy(image + ckpt.device_offset[index.at(e.name)], buf.data(), n, cudaMemcpyHostToDevice));
    stats.bytes += n;
  }
  ::close(fd);
  stats.total_s = seconds_since(t0);
  return stats;
}

LoadStats load_safetensors_mmap(const std::string& dir, const Checkpoint& ckpt, void* device_image) {
  const auto index = name_index(ckpt);
  auto* image = static_cast<unsigned char*>(device_image);
  const auto t0 = Clock::now();
  const std::string path = safetensors_path(dir);
  const int fd = open_plain(path);
  struct stat st {};
  if (::fstat(fd, &st) != 0) throw std::runtime_error("cannot stat " + path);
  void* map = ::mmap(nullptr, static_cast<std::size_t>(st.st_size), PROT_READ, MAP_SHARED, fd, 0);
  if (map == MAP_FAILED) throw std::runtime_error("cannot mmap " + path);
  const SafetensorsHeader h = read_safetensors_header(fd);
  const auto* base = static_cast<const unsigned char*>(map) + h.data_start;
  LoadStats stats;
  for (const auto& e : h.entries) {
    const std::size_t n = e.end - e.begin;
    CUDA_CHECK(cudaMemcpy(image + ckpt.device_offset[index.at(e.name)], base + e.begin, n, cudaMemcpyHostToDevice));
    stats.bytes += n;
  }
  ::munmap(map, static_cast<std::size_t>(st.st_size));
  ::close(fd);
  stats.total_s = seconds_since(t0);
  return stats;
}

LoadStats load_per_tensor(const std::string& dir, const Checkpoint& ckpt, void* device_image) {
  auto* image = static_cast<unsigned char*>(device_image);
  const auto t0 = Clock::now();
  std::vector<unsigned char> buf;
  LoadStats stats;
  for (std::size_t i = 0; i < ckpt.tensors.size(); ++i) {
    const std::string path = per_tensor_path(dir, i);
    const int fd = open_plain(path);
    unsigned char header[64];
    pread_all(fd, header, sizeof header, 0, path);
    std::uint64_t n = 0;
    std::memcpy(&n, header + 8, 8);
    if (std::memcmp(header, "SLSIMPT1", 8) != 0 || n != ckpt.tensors[i].bytes)
      throw std::runtime_error("bad per-tensor file " + path);
    buf.resize(std::max<std::size_t>(buf.size(), n));
    pread_all(fd, buf.data(), n, sizeof header, path);
    ::close(fd);
    CUDA_CHECK(cudaMemcpy(image + ckpt.device_offset[i], buf.data(), n, cudaMemcpyHostToDevice));
    stats.bytes += n;
  }
  stats.total_s = seconds_since(t0);
  return stats;
}

LoadStats read_direct_parallel(const std::vector<std::string>& paths, std::size_t block_bytes, int readers) {
  struct Block {
    std::size_t file;
    std::uint64_t offset;
    std::size_t bytes;
  };
  std::vector<Block> blocks;
  std::uint64_t total = 0;
  for (std::size_t f = 0; f < paths.size(); ++f) {
    struct stat st {};
    if (::stat(paths[f].c_str(), &st) != 0) throw std::runtime_error("cannot stat " + paths[f]);
    const auto size = static_cast<std::uint64_t>(st.st_size);
    for (std::uint64_t off = 0; off < size; off += block_bytes) {
      blocks.push_back({f, off, static_cast<std::size_t>(std::min<std::uint64_t>(block_bytes, size - off))});
    }
    total += size;
  }
  std::atomic<std::size_t> next{0};
  std::atomic<bool> all_direct{true};
  std::vector<std::thread> threads;
  std::vector<std::exception_ptr> errors(static_cast<std::size_t>(readers));
  const auto t0 = Clock::now();
  for (int r = 0; r < readers; ++r) {
    threads.emplace_back([&, r] {
      try {
        std::vector<int> fds(paths.size(), -1);
        void* buf = nullptr;
        // Pinned like the fast loader's chunks: on the GPU machines' VMs, O_DIRECT into
        // pageable memory read at 1.3-1.5 GB/s where the loader's pinned reads reached 2.2.
        CUDA_CHECK(cudaHostAlloc(&buf, block_bytes, cudaHostAllocDefault));
        for (std::size_t i = next++; i < blocks.size(); i = next++) {
          const Block& b = blocks[i];
          if (fds[b.file] < 0) {
            bool direct = false;
            fds[b.file] = open_direct(paths[b.file], &direct);
            if (!direct) all_direct = false;
          }
          pread_all(fds[b.file], buf, b.bytes, b.offset, paths[b.file]);
        }
        for (const int fd : fds) {
          if (fd >= 0) ::close(fd);
        }
        CUDA_CHECK(cudaFreeHost(buf));
      } catch (...) {
        errors[static_cast<std::size_t>(r)] = std::current_exception();
      }
    });
  }
  for (auto& t : threads) t.join();
  for (const auto& e : errors) {
    if (e) std::rethrow_exception(e);
  }
  LoadStats stats;
  stats.total_s = seconds_since(t0);
  stats.bytes = total;
  if (!all_direct) std::fprintf(stderr, "direct read: O_DIRECT refused by the file system\n");
  return stats;
}

double pinned_h2d_gbytes_per_s(std::size_t bytes, int repeats) {
  void* host = nullptr;
  void* dev = nullptr;
  CUDA_CHECK(cudaHostAlloc(&host, bytes, cudaHostAllocDefault));
  CUDA_CHECK(cudaMalloc(&dev, bytes));
  std::memset(host, 0x5A, bytes);
  cudaEvent_t a{};
  cudaEvent_t b{};
  CUDA_CHECK(cudaEventCreate(&a));
  CUDA_CHECK(cudaEventCreate(&b));
  CUDA_CHECK(cudaMemcpy(dev, host, bytes, cudaMemcpyHostToDevice));  // warm-up
  std::vector<double> gbytes_per_s;
  for (int r = 0; r < repeats; ++r) {
    CUDA_CHECK(cudaEventRecord(a));
    CUDA_CHECK(cudaMemcpyAsync(dev, host, bytes, cudaMemcpyHostToDevice));
    CUDA_CHECK(cudaEventRecord(b));
    CUDA_CHECK(cudaEventSynchronize(b));
    float ms = 0.0f;
    CUDA_CHECK(cudaEventElapsedTime(&ms, a, b));
    gbytes_per_s.push_back(static_cast<double>(bytes) / (ms * 1e-3) / 1e9);
  }
  std::sort(gbytes_per_s.begin(), gbytes_per_s.end());
  CUDA_CHECK(cudaEventDestroy(a));
  CUDA_CHECK(cudaEventDestroy(b));
  CUDA_CHECK(cudaFree(dev));
  CUDA_CHECK(cudaFreeHost(host));
  return gbytes_per_s[gbytes_per_s.size() / 2];
}

bool drop_page_cache() {
  ::sync();
  const int fd = ::open("/proc/sys/vm/drop_caches", O_WRONLY);
  if (fd < 0) return false;
  const bool ok = ::write(fd, "3", 1) == 1;
  ::close(fd);
  return ok;
}

}  // namespace slsim::kernels::loader
