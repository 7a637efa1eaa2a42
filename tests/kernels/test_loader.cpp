// Every loader must place every tensor's bytes at its offset of the device
// image. A tiny checkpoint in two partitions, with chunks and a pinned pool
// small enough that chunks straddle tensors and pool slots are reused many
// times. Exits 77 (skipped) without a GPU.
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "common/cuda_check.h"
#include "loader/checkpoint.h"
#include "loader/loaders.h"

using namespace slsim::kernels;
using namespace slsim::kernels::loader;

namespace {

bool image_matches(const Checkpoint& c, const void* device_image) {
  std::vector<unsigned char> image(c.device_bytes);
  CUDA_CHECK(cudaMemcpy(image.data(), device_image, image.size(), cudaMemcpyDeviceToHost));
  std::vector<unsigned char> want;
  for (std::size_t i = 0; i < c.tensors.size(); ++i) {
    want.resize(c.tensors[i].bytes);
    fill_tensor(i, 0, want.data(), want.size());
    if (std::memcmp(image.data() + c.device_offset[i], want.data(), want.size()) != 0) {
      std::printf("tensor %zu (%s) differs\n", i, c.tensors[i].name.c_str());
      return false;
    }
  }
  return true;
}

}  // namespace

int main() {
  if (!gpu_available()) {
    std::printf("SKIP: no CUDA device\n");
    return kSkipExitCode;
  }
  const Architecture arch = parse_architecture("tiny,3,320,5,5,64,1000,mlp,777");
  const Architecture gated = parse_architecture("tiny-gated,2,256,4,2,64,704,gated,500");
  char tmpl[] = "slsim_test_loader_XXXXXX";
  const std::string base = (std::filesystem::current_path() / tmpl).string();
  std::vector<char> path(base.begin(), base.end());
  path.push_back('\0');
  if (mkdtemp(path.data()) == nullptr) {
    std::perror("mkdtemp");
    return 1;
  }
  const std::string dir = path.data();
  int failures = 0;
  for (const Architecture& a : {arch, gated}) {
    const Checkpoint ckpt = make_checkpoint(a, 2);
    write_sllm(dir, ckpt);
    write_safetensors(dir, ckpt);
    write_per_tensor(dir, ckpt);
    void* image = nullptr;
    CUDA_CHECK(cudaMalloc(&image, ckpt.device_bytes));
    FastLoaderOptions opt;
    opt.io_threads = 3;
    opt.chunk_bytes = 64u << 10;
    opt.pool_bytes = 256u << 10;
    opt.copy_streams = 2;
    FastLoader fast(opt);
    std::vector<unsigned char> pinned_src(ckpt.device_bytes);
    const std::vector<std::pair<const char*, std::function<void()>>> loaders = {
        {"fast", [&] { fast.load(dir, ckpt, image); }},
        {"safetensors_buffered", [&] { load_safetensors_buffered(dir, ckpt, image); }},
        {"safetensors_mmap", [&] { load_safetensors_mmap(dir, ckpt, image); }},
        {"per_tensor", [&] { load_per_tensor(dir, ckpt, image); }},
    };
    for (const auto& [name, load] : loaders) {
      CUDA_CHECK(cudaMemset(image, 0xAB, ckpt.device_bytes));
      load();
      CUDA_CHECK(cudaDeviceSynchronize());
      const bool ok = image_matches(ckpt, image);
      std::printf("%-5s %s %s\n", ok ? "ok" : "FAIL", a.name.c_str(), name);
      failures += ok ? 0 : 1;
    }
    // The warm path: copy the partition images from pinned memory.
    unsigned char* pinned = nullptr;
    CUDA_CHECK(cudaHostAlloc(reinterpret_cast<void**>(&pinned), ckpt.device_bytes, cudaHostAllocDefault));
    for (std::size_t p = 0; p + 1 < ckpt.partition_first.size(); ++p) {
      std::FILE* f = std::fopen(sllm_partition_path(dir, p).c_str(), "rb");
      const std::size_t n = ckpt.partition_base[p + 1] - ckpt.partition_base[p];
      if (f == nullptr || std::fread(pinned + ckpt.partition_base[p], 1, n, f) != n) return 1;
      std::fclose(f);
    }
    CUDA_CHECK(cudaMemset(image, 0xAB, ckpt.device_bytes));
    copy_from_pinned(pinned, ckpt.device_bytes, image, 64u << 10, 3);
    const bool ok = image_matches(ckpt, image);
    std::printf("%-5s %s from_pinned\n", ok ? "ok" : "FAIL", a.name.c_str());
    failures += ok ? 0 : 1;
    CUDA_CHECK(cudaFreeHost(pinned));
    CUDA_CHECK(cudaFree(image));
    std::filesystem::remove_all(dir + "/sllm");
    std::filesystem::remove_all(dir + "/per_tensor");
  }
  std::filesystem::remove_all(dir);
  return failures == 0 ? 0 : 1;
}
