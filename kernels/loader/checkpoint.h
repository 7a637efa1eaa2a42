// Synthetic checkpoints with a catalogue model's tensor shapes, in three formats.
//
// Every loader places tensor i at device_offset[i] of one device allocation
// (256-byte aligned, as a serving engine's tensors must be), so all loaders
// produce the same device image and a test can compare them byte for byte.
//
// Formats written under a directory:
//   sllm/partition_<p>.bin + sllm/tensor_index.json   ServerlessLLM-style: each
//       partition file is the device image of a contiguous range of tensors
//       (raw bytes at their aligned offsets, padded to 4 KiB for O_DIRECT), and
//       the index maps name → partition, offset, size, shape, dtype.
//   model.safetensors   the published format: u64 header length, JSON header,
//       tensors back to back with no gaps (safetensors rejects holes).
//   per_tensor/<i>.bin  one file per tensor (a 64-byte header, then raw bytes),
//       standing in for torch.save's per-tensor records.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/architecture.h"

namespace slsim::kernels::loader {

using slsim::kernels::Architecture;
using slsim::kernels::builtin_architecture;
using slsim::kernels::parse_architecture;

struct TensorSpec {
  std::string name;
  std::vector<std::int64_t> shape;
  std::uint64_t bytes = 0;  // fp16
};

struct Checkpoint {
  std::vector<TensorSpec> tensors;
  std::vector<std::uint64_t> device_offset;
  std::uint64_t device_bytes = 0;
  // Partition p holds tensors [partition_first[p], partition_first[p + 1]) and
  // starts at device offset partition_base[p].
  std::vector<std::size_t> partition_first;
  std::vector<std::uint64_t> partition_base;
  std::uint64_t bytes() const;  // sum of tensor sizes, without alignment padding
};

inline constexpr std::uint64_t kTensorAlignment = 256;
inline constexpr std::uint64_t kDirectIoAlignment = 4096;

Checkpoint make_checkpoint(const Architecture& arch, int partitions);

// Deterministic pseudo-random contents of tensor `index` from byte `offset` on.
void fill_tensor(std::size_t index, std::uint64_t offset, unsigned char* dst, std::size_t n);

std::string sllm_partition_path(const std::string& dir, std::size_t partition);
std::string safetensors_path(const std::string& dir);
std::string per_tensor_path(const std::string& dir, std::size_t index);

// Write each format; throw std::runtime_error on I/O errors. Files are fsync'ed
// so that a cold read afterwards really comes from the disk.
void write_sllm(const std::string& dir, const Checkpoint& ckpt);
void write_safetensors(const std::string& dir, const Checkpoint& ckpt);
void write_per_tensor(const std::string& dir, const Checkpoint& ckpt);

// The (begin, end) data offsets read back from a safetensors header, by tensor
// name order of the file, and the offset of the data section.
struct SafetensorsEntry {
  std::string name;
  std::uint64_t begin = 0;
  std::uint64_t end = 0;
};
struct SafetensorsHeader {
  std::uint64_t data_start = 0;
  std::vector<SafetensorsEntry> entries;
};
SafetensorsHeader read_safetensors_header(int fd);

}  // namespace slsim::kernels::loader
