#include "sim/metrics/output_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cerrno>
#include <climits>
#include <csignal>
#include <cstdint>
#include <cstring>
#include <stdexcept>
#include <string>
#include <system_error>

#include "sim/core/errors.h"

namespace slsim {
namespace fs = std::filesystem;
namespace {

// The registry a signal handler reads: fixed storage, since a handler may not allocate. A slot
// is free, being written, or live (a file or a folder whose entries are removed with it).
enum SlotState : int { kFree = 0, kWriting = 1, kLiveFile = 2, kLiveFolder = 3 };
constexpr size_t kSlots = 1024;
struct Slot {
  std::atomic<int> state{kFree};
  std::array<char, PATH_MAX> path{};
};
std::array<Slot, kSlots> g_slots;

// Children to pass a signal on to, each as (the registering process's pid << 32) | the child's
// pid; 0 is a free entry.
std::array<std::atomic<uint64_t>, kSlots> g_children{};

uint64_t child_entry(int child_pid) {
  return (static_cast<uint64_t>(static_cast<uint32_t>(::getpid())) << 32) | static_cast<uint32_t>(child_pid);
}

// Read once before main, while one thread runs: reading it means setting it for a moment.
const mode_t g_umask = [] {
  const mode_t mask = ::umask(0);
  ::umask(mask);
  return mask;
}();

void remove_folder_contents(const char* folder) {
  const int fd = ::open(folder, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return;
  alignas(8) char buffer[4096];
  for (;;) {
    const long n = ::syscall(SYS_getdents64, fd, buffer, sizeof buffer);
    if (n <= 0) break;
    for (long offset = 0; offset < n;) {
      // struct linux_dirent64: inode (8), offset (8), record length (2), type (1), name.
      unsigned short length = 0;
      std::memcpy(&length, buffer + offset + 16, sizeof length);
      const char* name = buffer + offset + 19;
      if (std::strcmp(name, ".") != 0 && std::strcmp(name, "..") != 0) ::unlinkat(fd, name, 0);
      offset += length;
    }
  }
  ::close(fd);
}

extern "C" void remove_temporaries_and_die(int signal_number) {
  const auto self = static_cast<uint32_t>(::getpid());
  for (const auto& child : g_children) {
    const uint64_t entry = child.load();
    if (entry != 0 && entry >> 32 == self) ::kill(static_cast<pid_t>(entry & 0xffffffffU), signal_number);
  }
  for (const auto& child : g_children) {
    const uint64_t entry = child.load();
    if (entry != 0 && entry >> 32 == self) ::waitpid(static_cast<pid_t>(entry & 0xffffffffU), nullptr, 0);
  }
  for (Slot& slot : g_slots) {
    const int state = slot.state.load();
    if (state == kLiveFile) ::unlink(slot.path.data());
    // Another thread may add a file between the listing and rmdir: list again, a few times.
    for (int attempt = 0; state == kLiveFolder && attempt < 3; ++attempt) {
      remove_folder_contents(slot.path.data());
      if (::rmdir(slot.path.data()) == 0 || errno != ENOTEMPTY) break;
    }
  }
  std::signal(signal_number, SIG_DFL);
  std::raise(signal_number);
}

// A unique sibling of `final_path` with `tag` in its name, created by mkstemp or mkdtemp.
fs::path unique_sibling(const fs::path& final_path, const char* tag, bool folder) {
  const fs::path parent = final_path.has_parent_path() ? final_path.parent_path() : fs::path(".");
  std::string leaf = ".";
  leaf += final_path.filename().string();
  leaf += tag;
  leaf += "XXXXXX";
  std::string name = (parent / leaf).string();
  if (folder) {
    if (!::mkdtemp(name.data()))
      throw std::runtime_error("cannot create a folder like " + name + ": " + std::strerror(errno));
  } else {
    const int fd = ::mkstemp(name.data());
    if (fd < 0) throw std::runtime_error("cannot create a file like " + name + ": " + std::strerror(errno));
    ::close(fd);
  }
  return name;
}

}  // namespace

void remove_temporaries_on_signals() {
  for (const int s : {SIGINT, SIGTERM, SIGHUP}) {
    struct sigaction action {};
    action.sa_handler = remove_temporaries_and_die;
    sigemptyset(&action.sa_mask);
    for (const int blocked : {SIGINT, SIGTERM, SIGHUP}) sigaddset(&action.sa_mask, blocked);
    ::sigaction(s, &action, nullptr);
  }
}

void forward_signals_to_child(int child_pid) {
  const uint64_t entry = child_entry(child_pid);
  for (auto& slot : g_children) {
    uint64_t expected = 0;
    if (slot.compare_exchange_strong(expected, entry)) return;
  }
  throw std::runtime_error("more than " + std::to_string(kSlots) + " child processes at once");
}

void stop_forwarding_signals_to_child(int child_pid) {
  const uint64_t entry = child_entry(child_pid);
  for (auto& slot : g_children) {
    uint64_t expected = entry;
    if (slot.compare_exchange_strong(expected, 0)) return;
  }
}

RegisteredTemporary::RegisteredTemporary(const fs::path& path, bool folder) {
  const std::string text = fs::absolute(path).string();
  if (text.size() >= PATH_MAX) throw std::runtime_error("path too long: " + text);
  for (size_t i = 0; i < kSlots; ++i) {
    int expected = kFree;
    if (!g_slots[i].state.compare_exchange_strong(expected, kWriting)) continue;
    std::memcpy(g_slots[i].path.data(), text.c_str(), text.size() + 1);
    g_slots[i].state.store(folder ? kLiveFolder : kLiveFile);
    slot_ = static_cast<int>(i);
    return;
  }
  throw std::runtime_error("more than " + std::to_string(kSlots) + " temporary files at once");
}

RegisteredTemporary::~RegisteredTemporary() { release(); }

RegisteredTemporary& RegisteredTemporary::operator=(RegisteredTemporary&& other) noexcept {
  if (this != &other) {
    release();
    slot_ = std::exchange(other.slot_, -1);
  }
  return *this;
}

void RegisteredTemporary::release() {
  if (slot_ >= 0) g_slots[static_cast<size_t>(slot_)].state.store(kFree);
  slot_ = -1;
}

OutputFile::OutputFile(fs::path final_path) : final_path_(std::move(final_path)) {
  if (!final_path_.has_filename() || final_path_.filename() == "." || final_path_.filename() == "..")
    throw InputError(final_path_.string() + ": expected a file name, got a folder");
  temp_path_ = unique_sibling(final_path_, ".tmp-", false);
  registration_ = RegisteredTemporary(temp_path_, false);
  file_ = std::fopen(temp_path_.c_str(), "wb");
  if (!file_) {
    const std::string reason = std::strerror(errno);
    std::error_code ignored;
    fs::remove(temp_path_, ignored);
    throw std::runtime_error("cannot create " + temp_path_.string() + ": " + reason);
  }
}

OutputFile::~OutputFile() {
  if (file_) std::fclose(file_);
  if (!temp_path_.empty()) {
    std::error_code ignored;
    fs::remove(temp_path_, ignored);
  }
}

void OutputFile::write(std::string_view text) {
  if (std::fwrite(text.data(), 1, text.size(), file_) != text.size())
    throw std::runtime_error("cannot write " + temp_path_.string() + ": " + std::strerror(errno));
}

void OutputFile::commit() {
  const bool failed = std::ferror(file_) != 0;
  const bool closed = std::fclose(file_) == 0;
  file_ = nullptr;
  if (failed || !closed) throw std::runtime_error("cannot write " + final_path_.string());
  // mkstemp creates the file for its owner only; a result file gets the usual permissions.
  ::chmod(temp_path_.c_str(), 0666 & ~g_umask);
  if (::rename(temp_path_.c_str(), final_path_.c_str()) != 0)
    throw std::runtime_error("cannot rename " + temp_path_.string() + " to " + final_path_.string() + ": " +
                             std::strerror(errno));
  temp_path_.clear();
  registration_.release();
}

void write_file_atomically(const fs::path& path, std::string_view text) {
  OutputFile file(path);
  file.write(text);
  file.commit();
}

fs::path checked_result_folder(const fs::path& folder, const std::vector<std::string>& result_names) {
  fs::path normal = fs::absolute(folder).lexically_normal();
  if (!normal.has_filename()) normal = normal.parent_path();
  if (normal == normal.root_path()) throw InputError(folder.string() + ": the output folder cannot be the root");
  std::error_code error;
  if (fs::exists(normal, error) && !fs::is_directory(normal, error))
    throw InputError(folder.string() + ": the output folder exists and is not a folder");
  if (fs::is_directory(normal, error))
    for (const auto& entry : fs::directory_iterator(normal))
      if (entry.is_directory() &&
          std::find(result_names.begin(), result_names.end(), entry.path().filename().string()) == result_names.end())
        throw InputError(folder.string() + ": the output folder holds the folder " + entry.path().filename().string() +
                         "; a run replaces its output folder as a whole, so give it one without subfolders");
  return normal;
}

ResultSet::ResultSet(const fs::path& folder, std::vector<std::string> result_names)
    : folder_(checked_result_folder(folder, result_names)), result_names_(std::move(result_names)) {
  fs::create_directories(folder_.parent_path());
  staged_ = unique_sibling(folder_, ".new-", true);
  registration_ = RegisteredTemporary(staged_, true);
  // The folder gets the permissions an ordinary mkdir would give it, or the old folder's.
  std::error_code error;
  const fs::perms old = fs::status(folder_, error).permissions();
  if (!error && old != fs::perms::unknown) {
    fs::permissions(staged_, old, error);
  } else {
    ::chmod(staged_.c_str(), 0777 & ~g_umask);
  }
}

ResultSet::~ResultSet() {
  files_.clear();
  if (!staged_.empty()) {
    std::error_code ignored;
    fs::remove_all(staged_, ignored);
  }
}

OutputFile& ResultSet::add(const std::string& name) {
  files_.push_back(std::make_unique<OutputFile>(staged_ / name));
  return *files_.back();
}

void ResultSet::carry_over_other_entries() const {
  std::error_code error;
  if (!fs::is_directory(folder_, error)) return;
  for (const auto& entry : fs::directory_iterator(folder_)) {
    const std::string name = entry.path().filename().string();
    if (std::find(result_names_.begin(), result_names_.end(), name) != result_names_.end()) continue;
    // The temporary of an interrupted write (".requests.csv.tmp-…", or ".tmp.<pid>" before) is
    // no file to keep.
    if (name.starts_with(".") && name.find(".tmp") != std::string::npos) continue;
    if (fs::exists(staged_ / name)) continue;
    if (entry.is_directory())
      throw std::runtime_error(folder_.string() + ": a subfolder " + name + " appeared during the run");
    fs::create_hard_link(entry.path(), staged_ / name, error);
    if (error) fs::copy(entry.path(), staged_ / name, fs::copy_options::copy_symlinks);
  }
}

void ResultSet::commit() {
  for (auto& file : files_) file->commit();
  carry_over_other_entries();
  // Linux swaps the two folders in one step; elsewhere the old one is renamed aside first.
  if (::syscall(SYS_renameat2, AT_FDCWD, staged_.c_str(), AT_FDCWD, folder_.c_str(), 2 /* RENAME_EXCHANGE */) != 0) {
    if (errno == ENOENT) {
      if (::rename(staged_.c_str(), folder_.c_str()) != 0)
        throw std::runtime_error("cannot rename " + staged_.string() + " to " + folder_.string() + ": " +
                                 std::strerror(errno));
      registration_ = RegisteredTemporary();
      staged_.clear();
      return;
    }
    const fs::path aside = unique_sibling(folder_, ".old-", true);
    fs::remove(aside);
    if (::rename(folder_.c_str(), aside.c_str()) != 0 || ::rename(staged_.c_str(), folder_.c_str()) != 0) {
      const std::string reason = std::strerror(errno);
      if (!fs::exists(folder_)) ::rename(aside.c_str(), folder_.c_str());
      throw std::runtime_error("cannot replace " + folder_.string() + ": " + reason);
    }
    std::error_code ignored;
    fs::remove_all(aside, ignored);
    registration_ = RegisteredTemporary();
    staged_.clear();
    return;
  }
  // The staged path now holds the old set, still registered: removed here or on a signal.
  std::error_code ignored;
  fs::remove_all(staged_, ignored);
  registration_ = RegisteredTemporary();
  staged_.clear();
}

}  // namespace slsim
