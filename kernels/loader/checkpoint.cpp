#include "loader/checkpoint.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <stdexcept>

namespace slsim::kernels::loader {
namespace {

std::runtime_error io_error(const std::string& what, const std::string& path) {
  return std::runtime_error(what + " " + path + ": " + std::strerror(errno));
}

void write_all(int fd, const unsigned char* data, std::size_t n, const std::string& path) {
  while (n > 0) {
    const ssize_t w = ::write(fd, data, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      throw io_error("cannot write", path);
    }
    data += w;
    n -= static_cast<std::size_t>(w);
  }
}

// Streams tensor contents through a bounded buffer, so writing a 13 GB
// checkpoint needs megabytes of memory, not gigabytes.
class FileWriter {
 public:
  explicit FileWriter(const std::string& path) : path_(path) {
    fd_ = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd_ < 0) throw io_error("cannot create", path);
    buf_.resize(kBufferBytes);
  }
  ~FileWriter() {
    if (fd_ >= 0) ::close(fd_);
  }
  FileWriter(const FileWriter&) = delete;
  FileWriter& operator=(const FileWriter&) = delete;

  void bytes(const void* data, std::size_t n) {
    const auto* p = static_cast<const unsigned char*>(data);
    while (n > 0) {
      const std::size_t k = std::min(n, buf_.size() - used_);
      std::memcpy(buf_.data() + used_, p, k);
      used_ += k;
      p += k;
      n -= k;
      if (used_ == buf_.size()) flush();
    }
  }
  void tensor(std::size_t index, std::uint64_t n) {
    std::uint64_t done = 0;
    while (done < n) {
      const std::size_t k = static_cast<std::size_t>(std::min<std::uint64_t>(n - done, buf_.size() - used_));
      fill_tensor(index, done, buf_.data() + used_, k);
      used_ += k;
      done += k;
      if (used_ == buf_.size()) flush();
    }
  }
  void zeros(std::uint64_t n) {
    static const std::array<unsigned char, 4096> kZero{};
    while (n > 0) {
      const std::size_t k = static_cast<std::size_t>(std::min<std::uint64_t>(n, kZero.size()));
      bytes(kZero.data(), k);
      n -= k;
    }
  }
  void close() {
    flush();
    if (::fsync(fd_) != 0) throw io_error("cannot fsync", path_);
    if (::close(fd_) != 0) throw io_error("cannot close", path_);
    fd_ = -1;
  }

 private:
  static constexpr std::size_t kBufferBytes = 16u << 20;
  void flush() {
    write_all(fd_, buf_.data(), used_, path_);
    used_ = 0;
  }
  std::string path_;
  int fd_ = -1;
  std::vector<unsigned char> buf_;
  std::size_t used_ = 0;
};

void make_dir(const std::string& dir) {
  if (::mkdir(dir.c_str(), 0755) != 0 && errno != EEXIST) throw io_error("cannot create", dir);
}

std::string shape_json(const std::vector<std::int64_t>& shape) {
  std::string s = "[";
  for (std::size_t i = 0; i < shape.size(); ++i) {
    if (i > 0) s += ",";
    s += std::to_string(shape[i]);
  }
  return s + "]";
}

std::uint64_t align_up(std::uint64_t x, std::uint64_t a) { return (x + a - 1) / a * a; }

// 64 MiB of splitmix64 output, shared by all tensors at different offsets:
// random-looking bytes at memcpy speed.
const std::vector<unsigned char>& random_pool() {
  static const std::vector<unsigned char> pool = [] {
    std::vector<unsigned char> p(64u << 20);
    std::uint64_t state = 0x5EEDULL;
    for (std::size_t i = 0; i < p.size(); i += 8) {
      std::uint64_t z = (state += 0x9E3779B97F4A7C15ULL);
      z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
      z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
      z ^= z >> 31;
      std::memcpy(p.data() + i, &z, 8);
    }
    return p;
  }();
  return pool;
}

}  // namespace

std::uint64_t Checkpoint::bytes() const {
  std::uint64_t n = 0;
  for (const auto& t : tensors) n += t.bytes;
  return n;
}

Checkpoint make_checkpoint(const Architecture& a, int partitions) {
  Checkpoint c;
  auto add = [&](std::string name, std::vector<std::int64_t> shape) {
    std::uint64_t n = 2;
    for (const auto d : shape) n *= static_cast<std::uint64_t>(d);
    c.tensors.push_back({std::move(name), std::move(shape), n});
  };
  const std::int64_t h = a.hidden_size;
  const std::int64_t q = static_cast<std::int64_t>(a.attention_heads) * a.head_dim;
  const std::int64_t kv = static_cast<std::int64_t>(a.kv_heads) * a.head_dim;
  const std::int64_t f = a.ffn_size;
  if (a.ffn_kind == "gated") {
    add("model.embed_tokens.weight", {a.vocab_size, h});
    for (int l = 0; l < a.layers; ++l) {
      const std::string p = "model.layers." + std::to_string(l) + ".";
      add(p + "self_attn.q_proj.weight", {q, h});
      add(p + "self_attn.k_proj.weight", {kv, h});
      add(p + "self_attn.v_proj.weight", {kv, h});
      add(p + "self_attn.o_proj.weight", {h, q});
      add(p + "mlp.gate_proj.weight", {f, h});
      add(p + "mlp.up_proj.weight", {f, h});
      add(p + "mlp.down_proj.weight", {h, f});
      add(p + "input_layernorm.weight", {h});
      add(p + "post_attention_layernorm.weight", {h});
    }
    add("model.norm.weight", {h});
    add("lm_head.weight", {a.vocab_size, h});
  } else {
    add("model.decoder.embed_tokens.weight", {a.vocab_size, h});
    add("model.decoder.embed_positions.weight", {a.max_positions + 2, h});
    for (int l = 0; l < a.layers; ++l) {
      const std::string p = "model.decoder.layers." + std::to_string(l) + ".";
      for (const char* proj : {"k_proj", "v_proj", "q_proj"}) {
        add(p + "self_attn." + proj + ".weight", {proj[0] == 'q' ? q : kv, h});
        add(p + "self_attn." + proj + ".bias", {proj[0] == 'q' ? q : kv});
      }
      add(p + "self_attn.out_proj.weight", {h, q});
      add(p + "self_attn.out_proj.bias", {h});
      add(p + "self_attn_layer_norm.weight", {h});
      add(p + "self_attn_layer_norm.bias", {h});
      add(p + "fc1.weight", {f, h});
      add(p + "fc1.bias", {f});
      add(p + "fc2.weight", {h, f});
      add(p + "fc2.bias", {h});
      add(p + "final_layer_norm.weight", {h});
      add(p + "final_layer_norm.bias", {h});
    }
    add("model.decoder.final_layer_norm.weight", {h});
    add("model.decoder.final_layer_norm.bias", {h});
  }

  // Partitions of roughly equal size; each starts 4 KiB-aligned on the device
  // image, so that each partition file is its own slice of that image.
  const std::uint64_t total = c.bytes();
  const int parts = std::max(1, partitions);
  std::uint64_t offset = 0;
  std::uint64_t cumulative = 0;
  for (std::size_t i = 0; i < c.tensors.size(); ++i) {
    const std::uint64_t next_boundary = total * c.partition_first.size() / parts;
    if (c.partition_first.size() < static_cast<std::size_t>(parts) && cumulative >= next_boundary) {
      offset = align_up(offset, kDirectIoAlignment);
      c.partition_first.push_back(i);
      c.partition_base.push_back(offset);
    }
    offset = align_up(offset, kTensorAlignment);
    c.device_offset.push_back(offset);
    offset += c.tensors[i].bytes;
    cumulative += c.tensors[i].bytes;
  }
  c.partition_first.push_back(c.tensors.size());
  c.device_bytes = align_up(offset, kDirectIoAlignment);
  c.partition_base.push_back(c.device_bytes);
  return c;
}

void fill_tensor(std::size_t index, std::uint64_t offset, unsigned char* dst, std::size_t n) {
  const auto& pool = random_pool();
  std::uint64_t pos = (index * 1000003ULL * 4096 + offset) % pool.size();
  while (n > 0) {
    const std::size_t k = std::min<std::size_t>(n, pool.size() - pos);
    std::memcpy(dst, pool.data() + pos, k);
    dst += k;
    n -= k;
    pos = 0;
  }
}

std::string sllm_partition_path(const std::string& dir, std::size_t partition) {
  return dir + "/sllm/partition_" + std::to_string(partition) + ".bin";
}
std::string safetensors_path(const std::string& dir) { return dir + "/model.safetensors"; }
std::string per_tensor_path(const std::string& dir, std::size_t index) {
  return dir + "/per_tensor/" + std::to_string(index) + ".bin";
}

void write_sllm(const std::string& dir, const Checkpoint& c) {
  make_dir(dir);
  make_dir(dir + "/sllm");
  const std::size_t parts = c.partition_first.size() - 1;
  std::string index =
      "{\n  \"format\": \"slsim-sllm-1\",\n  \"partitions\": " + std::to_string(parts) + ",\n  \"tensors\": {";
  for (std::size_t p = 0; p < parts; ++p) {
    FileWriter w(sllm_partition_path(dir, p));
    std::uint64_t pos = c.partition_base[p];
    for (std::size_t i = c.partition_first[p]; i < c.partition_first[p + 1]; ++i) {
      w.zeros(c.device_offset[i] - pos);
      w.tensor(i, c.tensors[i].bytes);
      pos = c.device_offset[i] + c.tensors[i].bytes;
      index += std::string(i == 0 ? "" : ",") + "\n    \"" + c.tensors[i].name +
               "\": {\"partition\": " + std::to_string(p) +
               ", \"offset\": " + std::to_string(c.device_offset[i] - c.partition_base[p]) +
               ", \"size\": " + std::to_string(c.tensors[i].bytes) + ", \"shape\": " + shape_json(c.tensors[i].shape) +
               ", \"dtype\": \"float16\"}";
    }
    w.zeros(c.partition_base[p + 1] - pos);
    w.close();
  }
  index += "\n  }\n}\n";
  FileWriter iw(dir + "/sllm/tensor_index.json");
  iw.bytes(index.data(), index.size());
  iw.close();
}

void write_safetensors(const std::string& dir, const Checkpoint& c) {
  make_dir(dir);
  std::string header = "{\"__metadata__\":{\"format\":\"pt\"}";
  std::uint64_t pos = 0;
  for (const auto& t : c.tensors) {
    header += ",\"" + t.name + "\":{\"dtype\":\"F16\",\"shape\":" + shape_json(t.shape) + ",\"data_offsets\":[" +
              std::to_string(pos) + "," + std::to_string(pos + t.bytes) + "]}";
    pos += t.bytes;
  }
  header += "}";
  header.append((8 - header.size() % 8) % 8, ' ');  // the format pads the header to 8 bytes
  const std::uint64_t len = header.size();
  unsigned char len_le[8];
  for (int i = 0; i < 8; ++i) len_le[i] = static_cast<unsigned char>(len >> (8 * i));
  FileWriter w(safetensors_path(dir));
  w.bytes(len_le, 8);
  w.bytes(header.data(), header.size());
  for (std::size_t i = 0; i < c.tensors.size(); ++i) w.tensor(i, c.tensors[i].bytes);
  w.close();
}

void write_per_tensor(const std::string& dir, const Checkpoint& c) {
  make_dir(dir);
  make_dir(dir + "/per_tensor");
  for (std::size_t i = 0; i < c.tensors.size(); ++i) {
    std::array<unsigned char, 64> header{};
    std::memcpy(header.data(), "SLSIMPT1", 8);
    std::memcpy(header.data() + 8, &c.tensors[i].bytes, 8);
    FileWriter w(per_tensor_path(dir, i));
    w.bytes(header.data(), header.size());
    w.tensor(i, c.tensors[i].bytes);
    w.close();
  }
}

SafetensorsHeader read_safetensors_header(int fd) {
  unsigned char len_le[8];
  if (::pread(fd, len_le, 8, 0) != 8) throw std::runtime_error("short safetensors file");
  std::uint64_t len = 0;
  for (int i = 7; i >= 0; --i) len = len << 8 | len_le[i];
  std::string json(len, '\0');
  if (::pread(fd, json.data(), len, 8) != static_cast<ssize_t>(len))
    throw std::runtime_error("short safetensors header");
  // Only what a loader needs from each entry: the name and its data offsets.
  // The header is the one write_safetensors produced, not arbitrary JSON.
  SafetensorsHeader h;
  h.data_start = 8 + len;
  const std::string key = "\"data_offsets\":[";
  std::size_t pos = 0;
  while ((pos = json.find(key, pos)) != std::string::npos) {
    const std::size_t entry = json.rfind(":{\"dtype\"", pos);
    const std::size_t name_start = json.rfind('"', entry - 1);
    const std::size_t name_open = json.rfind('"', name_start - 1);
    SafetensorsEntry e;
    e.name = json.substr(name_open + 1, name_start - name_open - 1);
    pos += key.size();
    e.begin = std::stoull(json.substr(pos));
    e.end = std::stoull(json.substr(json.find(',', pos) + 1));
    h.entries.push_back(std::move(e));
  }
  return h;
}

}  // namespace slsim::kernels::loader
