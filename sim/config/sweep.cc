#include "sim/config/sweep.h"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <exception>
#include <mutex>
#include <optional>
#include <set>
#include <thread>

#include "sim/config/experiment_config.h"
#include "sim/config/experiment_runner.h"
#include "sim/core/errors.h"

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

std::vector<SweepPoint> expand_sweep(const fs::path& config_path, const std::vector<std::string>& overrides,
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

SweepRun run_sweep_points(const std::vector<SweepPoint>& points, const std::vector<size_t>& indices,
                          const fs::path& config_dir, const fs::path& out_dir, int threads,
                          const std::function<void(size_t index, bool ran)>& on_done) {
  SweepRun result;
  result.summaries.resize(points.size());
  std::mutex mutex;
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
  std::atomic<size_t> next{0};
  const auto worker = [&] {
    for (size_t n = next++; n < pending.size(); n = next++) {
      const size_t i = pending[n].first;
      const fs::path dir = out_dir / points[i].folder;
      try {
        Json summary = run_experiment(*pending[n].second, dir);
        pending[n].second.reset();
        const std::lock_guard lock(mutex);
        result.summaries[i] = std::move(summary);
        on_done(i, true);
      } catch (const std::exception& e) {
        pending[n].second.reset();
        const std::lock_guard lock(mutex);
        result.failures.emplace_back(i, e.what());
      }
    }
  };
  std::vector<std::jthread> pool;
  for (int t = 1; t < std::min<int>(threads, static_cast<int>(pending.size())); ++t) pool.emplace_back(worker);
  worker();
  pool.clear();
  std::sort(result.failures.begin(), result.failures.end());
  return result;
}

}  // namespace slsim
