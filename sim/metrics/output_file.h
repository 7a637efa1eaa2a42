#pragma once
// Result files never look complete before they are: a single file is written under a unique
// temporary name beside its final one and renamed into place; a run's files (`ResultSet`) are
// staged together in a unique sibling folder that replaces the output folder in one step, so a
// reader sees the old set or the new set, never a mix. Every temporary file and folder is
// registered so that SIGINT, SIGTERM or SIGHUP removes it (`remove_temporaries_on_signals`), and a
// failed write or rename removes it too.

#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace slsim {

// Installs handlers for SIGINT, SIGTERM and SIGHUP that remove the registered temporaries (with
// async-signal-safe calls only) and then die of the signal as before.
void remove_temporaries_on_signals();

// A child process with temporaries of its own (a sweep point): while registered, a signal that
// removes this process's temporaries is first passed on to the child and the child waited for,
// so that the child removes its own before this process dies. Only the process that registered
// a child passes signals on to it, so a forked child does not signal its siblings.
void forward_signals_to_child(int child_pid);
void stop_forwarding_signals_to_child(int child_pid);

// A temporary file or (flat) folder registered for removal on a signal while this is alive.
class RegisteredTemporary {
 public:
  RegisteredTemporary() = default;
  RegisteredTemporary(const std::filesystem::path& path, bool folder);
  ~RegisteredTemporary();
  RegisteredTemporary(RegisteredTemporary&& other) noexcept : slot_(std::exchange(other.slot_, -1)) {}
  RegisteredTemporary& operator=(RegisteredTemporary&& other) noexcept;
  // The path is gone or now holds something to keep: no longer removed on a signal.
  void release();

 private:
  int slot_ = -1;
};

class OutputFile {
 public:
  explicit OutputFile(std::filesystem::path final_path);
  ~OutputFile();
  OutputFile(const OutputFile&) = delete;
  OutputFile& operator=(const OutputFile&) = delete;

  void write(std::string_view text);
  // Flushes, closes and renames to the final name; throws (and removes the temporary) if any
  // write or the rename failed.
  void commit();
  const std::filesystem::path& path() const { return final_path_; }

 private:
  std::filesystem::path final_path_;
  std::filesystem::path temp_path_;
  RegisteredTemporary registration_;
  std::FILE* file_ = nullptr;
};

// Writes a whole small file atomically.
void write_file_atomically(const std::filesystem::path& path, std::string_view text);

// The files of one run, staged in a unique folder beside `folder` and swapped in by commit().
// Entries of an existing `folder` that are not among `result_names` (an experiment.json kept
// beside its results) are carried over as hard links, except temporaries of interrupted writes; a subfolder there is
// refused (InputError), since a folder cannot be carried over in the same step.
class ResultSet {
 public:
  ResultSet(const std::filesystem::path& folder, std::vector<std::string> result_names);
  ~ResultSet();
  ResultSet(const ResultSet&) = delete;
  ResultSet& operator=(const ResultSet&) = delete;

  // A file of the set, written under `name` inside the staged folder.
  OutputFile& add(const std::string& name);
  // Commits every added file, carries over the other entries and replaces the folder.
  void commit();
  const std::filesystem::path& folder() const { return folder_; }
  const std::filesystem::path& staged_folder() const { return staged_; }

 private:
  void carry_over_other_entries() const;
  std::filesystem::path folder_;
  std::vector<std::string> result_names_;
  std::filesystem::path staged_;
  RegisteredTemporary registration_;
  std::vector<std::unique_ptr<OutputFile>> files_;
};

// The output folder in the form the swap needs (absolute, no trailing separator); InputError
// for a folder that cannot be replaced (the root) or that holds a subfolder.
std::filesystem::path checked_result_folder(const std::filesystem::path& folder,
                                            const std::vector<std::string>& result_names);

}  // namespace slsim
