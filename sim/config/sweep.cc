#include "sim/config/sweep.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <exception>
#include <iostream>
#include <optional>
#include <set>
#include <stdexcept>

#include "sim/config/experiment_config.h"
#include "sim/config/experiment_runner.h"
#include "sim/config/memory_estimate.h"
#include "sim/core/errors.h"
#include "sim/metrics/output_file.h"

namespace slsim {
namespace fs = std::filesystem;

namespace {

std::vector<std::string> split_outside_brackets(const std::string& text, char separator) {
  std::vector<std::string> parts(1);
  int depth = 0;
  bool quoted = false;
  for (const char c : text) {
    if (c == '"') quoted = !quoted;
    if (!quoted && (c == '[' || c == '{')) ++depth;
    if (!quoted && (c == ']' || c == '}')) --depth;
    if (c == separator && depth == 0 && !quoted) {
      parts.emplace_back();
      continue;
    }
    parts.back() += c;
  }
  return parts;
}

// key=v1,v2,... -> the key and its values; `flag` names the option in errors.
std::pair<std::string, std::vector<std::string>> parse_assignment(const std::string& text, const std::string& flag) {
  const size_t eq = text.find('=');
  if (eq == std::string::npos || eq == 0) throw InputError(flag + " " + text + ": expected key.path=value1,value2,...");
  std::vector<std::string> values = split_outside_brackets(text.substr(eq + 1), ',');
  if (std::any_of(values.begin(), values.end(), [](const std::string& v) { return v.empty(); }))
    throw InputError(flag + " " + text + ": empty value");
  return {text.substr(0, eq), std::move(values)};
}

uint64_t fnv1a(const std::string& text) {
  uint64_t hash = 0xcbf29ce484222325ull;
  for (const unsigned char c : text) hash = (hash ^ c) * 0x100000001b3ull;
  return hash;
}

// The last `segments` dot-separated segments of a key.
std::string key_suffix(const std::string& key, size_t segments) {
  size_t start = key.size();
  for (size_t n = 0; n < segments && start != std::string::npos && start > 0; ++n) start = key.rfind('.', start - 1);
  return start == std::string::npos || start >= key.size() ? key : key.substr(start + 1);
}

// Readable and safe in a path: each key's shortest suffix that no other swept key shares, and
// the value; other characters are dropped.
std::string folder_name(const std::vector<std::pair<std::string, std::string>>& parameters, const Json& document) {
  std::string readable;
  for (const auto& parameter : parameters) {
    // Named references rather than a structured binding: clang 14 cannot capture those.
    const std::string& key = parameter.first;
    const std::string& value = parameter.second;
    std::string leaf;
    for (size_t segments = 1;; ++segments) {
      leaf = key_suffix(key, segments);
      const auto shared = [&](const auto& other) {
        return other.first != key && key_suffix(other.first, segments) == leaf;
      };
      if (leaf == key || std::none_of(parameters.begin(), parameters.end(), shared)) break;
    }
    if (!readable.empty()) readable += '_';
    for (const char c : leaf + "=" + value)
      if (std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '-' || c == '_' || c == '=') readable += c;
  }
  readable = readable.substr(0, 80);
  while (!readable.empty() && readable.back() == '_') readable.pop_back();
  return fmt::format("{}{}{:012x}", readable, readable.empty() ? "" : "-", fnv1a(document.dump()) & 0xffffffffffffull);
}

void flatten_into(const Json& node, const std::string& prefix, std::map<std::string, std::string>& out) {
  if (node.is_object() || node.is_array()) {
    size_t index = 0;
    for (auto it = node.begin(); it != node.end(); ++it, ++index) {
      const std::string name = node.is_object() ? it.key() : std::to_string(index);
      flatten_into(*it, prefix.empty() ? name : prefix + "." + name, out);
    }
    return;
  }
  out[prefix] = node.is_string() ? node.get<std::string>() : node.dump();
}

std::string csv_field(const std::string& value) {
  if (value.find_first_of(",\"\n") == std::string::npos) return value;
  std::string quoted = "\"";
  for (const char c : value) quoted += c == '"' ? std::string("\"\"") : std::string(1, c);
  return quoted + "\"";
}

}  // namespace

SweepAxis parse_grid_axis(const std::string& argument) {
  auto [key, values] = parse_assignment(argument, "--grid");
  return SweepAxis{{key}, {std::move(values)}};
}

SweepAxis parse_zip_axis(const std::string& argument) {
  SweepAxis axis;
  for (const std::string& part : split_outside_brackets(argument, ';')) {
    auto [key, values] = parse_assignment(part, "--zip");
    if (!axis.values.empty() && values.size() != axis.size())
      throw InputError(fmt::format("--zip {}: {} has {} values, {} has {}; zipped keys need as many values each",
                                   argument, axis.keys.front(), axis.size(), key, values.size()));
    axis.keys.push_back(key);
    axis.values.push_back(std::move(values));
  }
  return axis;
}

namespace {

std::vector<SweepPoint> expand_points(const fs::path& config_path, const std::vector<std::string>& overrides,
                                      const std::vector<SweepAxis>& axes) {
  Json base = load_json_file(config_path);
  for (const auto& o : overrides) apply_override(base, o);
  // Each point is a whole config in memory: refuse a grid beyond kMaxSweepPoints before the
  // product can overflow (which once read as "0 points") or the points exhaust memory.
  size_t count = 1;
  for (const SweepAxis& axis : axes)
    if (__builtin_mul_overflow(count, axis.size(), &count) || count > kMaxSweepPoints)
      throw InputError(fmt::format("the grid has more than {} points; split the sweep", kMaxSweepPoints));
  std::vector<SweepPoint> points;
  std::set<std::string> folders;
  for (size_t n = 0; n < count; ++n) {
    SweepPoint point;
    point.document = base;
    size_t rest = n;
    std::vector<size_t> positions(axes.size());
    for (size_t a = axes.size(); a-- > 0;) {
      positions[a] = rest % axes[a].size();
      rest /= axes[a].size();
    }
    for (size_t a = 0; a < axes.size(); ++a) {
      for (size_t k = 0; k < axes[a].keys.size(); ++k) {
        const std::string& value = axes[a].values[k][positions[a]];
        point.parameters.emplace_back(axes[a].keys[k], value);
        apply_override(point.document, axes[a].keys[k] + "=" + value);
      }
    }
    point.folder = folder_name(point.parameters, point.document);
    if (!folders.insert(point.folder).second)
      throw InputError("the sweep has two identical points (" + point.folder + "); remove the repeated value");
    points.push_back(std::move(point));
  }
  return points;
}

}  // namespace

std::vector<SweepPoint> expand_sweep(const fs::path& config_path, const std::vector<std::string>& overrides,
                                     const std::vector<SweepAxis>& axes) {
  try {
    return expand_points(config_path, overrides, axes);
  } catch (const ConfigError& e) {
    throw InputError(config_path.string() + ": " + e.what());
  }
}

std::map<std::string, std::string> flatten_summary(const Json& summary) {
  std::map<std::string, std::string> out;
  flatten_into(summary, "", out);
  return out;
}

std::string sweep_csv(const std::vector<SweepPoint>& points, const std::vector<Json>& summaries,
                      const std::map<size_t, std::string>& errors) {
  std::vector<std::map<std::string, std::string>> rows;
  std::set<std::string> metric_columns;
  for (const Json& s : summaries) {
    // A failed point has no summary (null), and so no metric cells.
    rows.push_back(s.is_null() ? std::map<std::string, std::string>{} : flatten_summary(s));
    for (const auto& [column, value] : rows.back()) metric_columns.insert(column);
  }
  std::vector<std::string> header{"point"};
  for (const auto& [key, value] : points.empty() ? decltype(points.front().parameters){} : points.front().parameters)
    header.push_back(key);
  header.insert(header.end(), metric_columns.begin(), metric_columns.end());
  if (!errors.empty()) header.push_back("error");
  std::string out;
  std::vector<std::string> fields;
  fields.reserve(header.size());
  for (const auto& h : header) fields.push_back(csv_field(h));
  out += fmt::format("{}\n", fmt::join(fields, ","));
  for (size_t i = 0; i < points.size(); ++i) {
    fields = {csv_field(points[i].folder)};
    for (const auto& [key, value] : points[i].parameters) fields.push_back(csv_field(value));
    for (const auto& column : metric_columns) {
      const auto it = rows[i].find(column);
      fields.push_back(it == rows[i].end() ? "" : csv_field(it->second));
    }
    if (!errors.empty()) {
      const auto error = errors.find(i);
      fields.push_back(error == errors.end() ? "" : csv_field(error->second));
    }
    out += fmt::format("{}\n", fmt::join(fields, ","));
  }
  return out;
}

bool point_complete(const fs::path& point_dir) { return fs::is_regular_file(point_dir / "summary.json"); }

void run_point_experiment(const ResolvedExperiment& experiment, const fs::path& point_dir) {
  run_experiment(experiment, point_dir);
}

namespace {

// A point's process reports an error through a pipe, whose buffer (64 KiB on Linux) takes a
// message this long without the child blocking before it exits.
constexpr size_t kMaxChildMessageBytes = 16384;

// In the child: run the point, report any error through `message_fd`, and leave without the
// parent's exit handlers (MPI's among them) or its copies of stdio buffers.
[[noreturn]] void run_in_child(const PointRunner& run_point, const ResolvedExperiment& experiment,
                               const fs::path& point_dir, pid_t parent, int message_fd) {
  // The child must not outlive a parent killed without a chance to pass a signal on.
  ::prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (::getppid() != parent) ::_exit(1);
  std::string message;
  try {
    run_point(experiment, point_dir);
  } catch (const std::exception& e) {
    message = *e.what() ? e.what() : "an error without a message";
  } catch (...) {
    message = "an exception that is not a std::exception";
  }
  std::cout.flush();
  std::fflush(nullptr);
  message.resize(std::min(message.size(), kMaxChildMessageBytes));
  for (size_t written = 0; written < message.size();) {
    const ssize_t n = ::write(message_fd, message.data() + written, message.size() - written);
    if (n <= 0) break;
    written += static_cast<size_t>(n);
  }
  ::_exit(message.empty() ? 0 : 1);
}

std::string read_all(int fd) {
  std::string text;
  char buffer[4096];
  for (ssize_t n; (n = ::read(fd, buffer, sizeof buffer)) != 0;) {
    if (n < 0) {
      if (errno == EINTR) continue;
      break;
    }
    text.append(buffer, static_cast<size_t>(n));
  }
  return text;
}

// Why a point's process ended without a summary.
std::string child_failure(int status, const std::string& message) {
  if (WIFSIGNALED(status)) {
    const int signal_number = WTERMSIG(status);
    std::string text =
        fmt::format("the point's process died of signal {} ({})", signal_number, strsignal(signal_number));
    if (signal_number == SIGKILL) text += "; the kernel's out-of-memory killer sends this signal";
    return text;
  }
  if (!message.empty()) return message;
  return fmt::format("the point's process exited {} without a message", WEXITSTATUS(status));
}

// A process that dies by a signal leaves its staged result folder (".<point>.new-XXXXXX") beside
// the point's folder; only that process worked on the point, so its leftovers go.
void remove_staged_leftovers(const fs::path& out_dir, const std::string& folder) {
  const std::string prefix = "." + folder + ".";
  std::error_code ignored;
  for (const auto& entry : fs::directory_iterator(out_dir, ignored))
    if (entry.path().filename().string().starts_with(prefix)) fs::remove_all(entry.path(), ignored);
}

}  // namespace

SweepRun run_sweep_points(const std::vector<SweepPoint>& points, const std::vector<size_t>& indices,
                          const fs::path& config_dir, const fs::path& out_dir, int jobs,
                          const std::function<void(size_t index, bool ran)>& on_done, const PointRunner& run_point) {
  SweepRun result;
  result.summaries.resize(points.size());
  // Resolve every pending point before running any, so that a bad value stops the sweep at once.
  std::vector<std::pair<size_t, std::optional<ResolvedExperiment>>> pending;
  for (const size_t i : indices) {
    const fs::path dir = out_dir / points[i].folder;
    if (point_complete(dir)) {
      result.summaries[i] = load_json_file(dir / "summary.json");
      on_done(i, false);
      continue;
    }
    try {
      pending.emplace_back(i, resolve_experiment(points[i].document, config_dir));
    } catch (const InputError& e) {
      throw InputError("sweep point " + points[i].folder + ": " + e.what());
    }
  }
  // Points start only while the estimates of those running fit in the memory available when the
  // sweep began, so that -j N runs fewer at once where N would not fit (one always runs; a point
  // that alone exceeds it is refused by its own check). One at a time nothing is to be decided,
  // and each point's own check already estimates it (reading its traces for their line counts).
  const bool concurrent = jobs > 1 && pending.size() > 1;
  const std::optional<int64_t> budget_bytes = concurrent ? available_memory_bytes() : std::nullopt;
  std::vector<int64_t> estimate_bytes(pending.size(), 0);
  for (size_t n = 0; concurrent && n < pending.size(); ++n)
    if (pending[n].second->config.check_memory)
      estimate_bytes[n] = estimate_run_memory_bytes(*pending[n].second).total_bytes();
  int64_t running_bytes = 0;
  const auto fits = [&](size_t n) { return !budget_bytes || running_bytes + estimate_bytes[n] <= *budget_bytes; };
  struct Child {
    size_t pending_index;
    int message_fd;
  };
  std::map<pid_t, Child> running;
  // On an exception here, no child may go on writing into the sweep's folder.
  const auto stop_children = [&] {
    for (const auto& [pid, child] : running) {
      ::kill(pid, SIGTERM);
      ::waitpid(pid, nullptr, 0);
      stop_forwarding_signals_to_child(pid);
      ::close(child.message_fd);
    }
    running.clear();
  };
  const pid_t parent = ::getpid();
  try {
    for (size_t next = 0; next < pending.size() || !running.empty();) {
      while (next < pending.size() && running.size() < static_cast<size_t>(std::max(jobs, 1)) &&
             (running.empty() || fits(next))) {
        running_bytes += estimate_bytes[next];
        const size_t n = next++;
        auto& [i, experiment] = pending[n];
        int fds[2];
        if (::pipe2(fds, O_CLOEXEC) != 0) throw std::runtime_error(fmt::format("pipe: {}", std::strerror(errno)));
        // Unflushed output would be written twice, once by each process.
        std::cout.flush();
        std::fflush(nullptr);
        const pid_t pid = ::fork();
        if (pid < 0) {
          ::close(fds[0]);
          ::close(fds[1]);
          throw std::runtime_error(fmt::format("fork: {}", std::strerror(errno)));
        }
        if (pid == 0) {
          ::close(fds[0]);
          run_in_child(run_point, *experiment, out_dir / points[i].folder, parent, fds[1]);
        }
        ::close(fds[1]);
        forward_signals_to_child(pid);
        running.emplace(pid, Child{n, fds[0]});
        experiment.reset();
      }
      int status = 0;
      const pid_t pid = ::waitpid(-1, &status, 0);
      if (pid < 0) {
        if (errno == EINTR) continue;
        throw std::runtime_error(fmt::format("waitpid: {}", std::strerror(errno)));
      }
      const auto found = running.find(pid);
      if (found == running.end()) continue;
      stop_forwarding_signals_to_child(pid);
      const Child child = found->second;
      running.erase(found);
      running_bytes -= estimate_bytes[child.pending_index];
      const std::string message = read_all(child.message_fd);
      ::close(child.message_fd);
      const size_t i = pending[child.pending_index].first;
      const fs::path dir = out_dir / points[i].folder;
      if (WIFEXITED(status) && WEXITSTATUS(status) == 0 && message.empty() && point_complete(dir)) {
        result.summaries[i] = load_json_file(dir / "summary.json");
        on_done(i, true);
      } else {
        remove_staged_leftovers(out_dir, points[i].folder);
        result.failures.emplace_back(i, child_failure(status, message));
      }
    }
  } catch (...) {
    stop_children();
    throw;
  }
  std::sort(result.failures.begin(), result.failures.end());
  return result;
}

}  // namespace slsim
