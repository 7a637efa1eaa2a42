#include "sim/workload/servegen.h"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <cmath>
#include <fstream>
#include <map>
#include <system_error>

#include "sim/core/errors.h"
#include "sim/core/fields.h"

namespace slsim {
namespace fs = std::filesystem;

namespace {

// The media of a multimodal window: a count field and a per-item token field each.
constexpr std::array<std::string_view, 3> kMedia = {"image", "audio", "video"};
// Probabilities of a field may miss 1 by rounding; ServeGen's own check allows 1e-6.
constexpr double kProbabilitySumTolerance = 1e-6;

std::string_view trimmed(std::string_view text) {
  const auto first = text.find_first_not_of(" \t\r\n");
  if (first == std::string_view::npos) return {};
  return text.substr(first, text.find_last_not_of(" \t\r\n") - first + 1);
}

// Reads one field of one window; every error names the file, the window and the field.
class DatasetField {
 public:
  DatasetField(const fs::path& file, const std::string& window, std::string field)
      : file_(file), window_(window), field_(std::move(field)) {}

  [[noreturn]] void fail(const std::string& expected) const {
    throw InputError(fmt::format("{}: window \"{}\", field {}: {}", file_.string(), window_, field_, expected));
  }

  // A Python dict literal "{value: probability, ...}": whole values >= 0 (token and item
  // counts), or values in [0, 1] (`ratio`). An empty literal "{}" gives no values.
  std::pair<std::vector<double>, std::vector<double>> parse(std::string_view literal, bool ratio) const {
    literal = trimmed(literal);
    if (literal.size() < 2 || literal.front() != '{' || literal.back() != '}')
      fail("expected a string holding a dict literal {value: probability, ...}");
    std::vector<double> values, probabilities;
    const std::string_view body = trimmed(literal.substr(1, literal.size() - 2));
    double sum = 0;
    for (size_t pos = 0; !body.empty() && pos <= body.size();) {
      const size_t comma = std::min(body.find(',', pos), body.size());
      const std::string_view entry = trimmed(body.substr(pos, comma - pos));
      pos = comma + 1;
      const size_t colon = entry.find(':');
      if (colon == std::string_view::npos) fail(fmt::format("entry \"{}\": expected value: probability", entry));
      const double value = number(trimmed(entry.substr(0, colon)), entry);
      const double probability = number(trimmed(entry.substr(colon + 1)), entry);
      if (ratio ? !(value >= 0 && value <= 1) : !(value >= 0 && value == std::floor(value)))
        fail(fmt::format("entry \"{}\": expected {}", entry,
                         ratio ? "a ratio in [0, 1] as the value" : "a whole count >= 0 as the value"));
      if (!(probability >= 0)) fail(fmt::format("entry \"{}\": expected a probability >= 0", entry));
      values.push_back(value);
      probabilities.push_back(probability);
      sum += probability;
    }
    if (!values.empty() && std::abs(sum - 1) > kProbabilitySumTolerance)
      fail(fmt::format("the probabilities sum to {}; expected 1", sum));
    return {std::move(values), std::move(probabilities)};
  }

 private:
  double number(std::string_view text, std::string_view entry) const {
    double value = 0;
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (text.empty() || ec != std::errc() || end != text.data() + text.size() || !std::isfinite(value))
      fail(fmt::format("entry \"{}\": expected numbers, as in 45: 0.25", entry));
    return value;
  }

  const fs::path& file_;
  const std::string& window_;
  std::string field_;
};

// One window of a dataset file, or nullopt when all its fields are empty (no data).
std::optional<ServeGenLengthWindow> read_dataset_window(const fs::path& file, const std::string& key,
                                                        const Json& fields) {
  double start_s = 0;
  const auto [end, ec] = std::from_chars(key.data(), key.data() + key.size(), start_s);
  if (key.empty() || ec != std::errc() || end != key.data() + key.size() || !(start_s >= 0))
    throw InputError(
        fmt::format("{}: window \"{}\": expected the window's start in seconds (>= 0) as its key", file.string(), key));
  if (!fields.is_object())
    throw InputError(fmt::format("{}: window \"{}\": expected an object of fields, got {}", file.string(), key,
                                 json_type_name(fields)));
  const bool multimodal = fields.contains("text_tokens");
  std::vector<std::string> known = {multimodal ? "text_tokens" : "input_tokens", "output_tokens"};
  if (multimodal) {
    for (const std::string_view medium : kMedia) {
      known.push_back(fmt::format("{}_count", medium));
      known.push_back(fmt::format("{}_tokens", medium));
    }
  } else {
    known.emplace_back("reason_ratio");
  }
  std::map<std::string, std::pair<std::vector<double>, std::vector<double>>> parsed;
  size_t empty = 0;
  for (const auto& [name, literal] : fields.items()) {
    const DatasetField field(file, key, name);
    if (std::find(known.begin(), known.end(), name) == known.end())
      field.fail(fmt::format("unknown field; expected {}", fmt::join(known, ", ")));
    if (!literal.is_string())
      field.fail("expected a string holding a dict literal {value: probability, ...}, got " + json_type_name(literal));
    auto pmf = field.parse(literal.get<std::string>(), name == "reason_ratio");
    if (pmf.first.empty()) ++empty;
    parsed.emplace(name, std::move(pmf));
  }
  if (empty == parsed.size()) return std::nullopt;
  const auto take = [&](const std::string& name) {
    const auto it = parsed.find(name);
    const DatasetField field(file, key, name);
    if (it == parsed.end())
      field.fail("missing; a window with data gives " + fmt::format("{}", fmt::join(known, ", ")));
    if (it->second.first.empty()) field.fail("empty in a window whose other fields have data; expected a value");
    return ServeGenPmf(std::move(it->second.first), it->second.second);
  };
  ServeGenLengthWindow window{start_s, take(known[0]), take("output_tokens"), {}};
  if (multimodal)
    for (const std::string_view medium : kMedia)
      window.media.push_back(
          ServeGenMedium{take(fmt::format("{}_count", medium)), take(fmt::format("{}_tokens", medium))});
  return window;
}

}  // namespace

std::pair<int64_t, int64_t> ServeGenLengthWindow::draw(RandomStream& random) const {
  auto input = std::llround(input_tokens.draw(random));
  const auto output = std::llround(output_tokens.draw(random));
  for (const ServeGenMedium& medium : media)
    for (auto item = std::llround(medium.items.draw(random)); item > 0; --item)
      input += std::llround(medium.tokens_per_item.draw(random));
  return {input, output};
}

std::vector<ServeGenLengthWindow> read_servegen_dataset(const fs::path& file) {
  const Json document = load_json_file(file);
  if (!document.is_object())
    throw InputError(file.string() + ": expected an object of windows keyed by their start in seconds, got " +
                     json_type_name(document));
  std::vector<ServeGenLengthWindow> windows;
  for (const auto& [key, fields] : document.items())
    if (auto window = read_dataset_window(file, key, fields)) windows.push_back(std::move(*window));
  std::stable_sort(windows.begin(), windows.end(), [](const auto& a, const auto& b) { return a.start_s < b.start_s; });
  return windows;
}

fs::path servegen_dataset_path(const fs::path& trace_file) {
  std::string stem = trace_file.stem().string();
  constexpr std::string_view kTrace = "-trace";
  if (stem.size() >= kTrace.size() && stem.compare(stem.size() - kTrace.size(), kTrace.size(), kTrace) == 0)
    stem.resize(stem.size() - kTrace.size());
  return trace_file.parent_path() / (stem + "-dataset.json");
}

ServeGenClient read_servegen_client(const fs::path& file) {
  std::ifstream in(file);
  if (!in) throw InputError(file.string() + ": cannot open the ServeGen client file");
  ServeGenClient client;
  client.id = file.stem().string();
  std::string line;
  uint64_t line_number = 0;
  static const char* kFields[] = {"window_start_s", "rate_req_per_s", "cv", "arrival_dist", "param1", "param2"};
  while (std::getline(in, line)) {
    ++line_number;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty()) continue;
    std::vector<std::string_view> fields;
    const std::string_view row(line);
    for (size_t pos = 0;;) {
      const size_t comma = row.find(',', pos);
      fields.push_back(row.substr(pos, comma == std::string_view::npos ? comma : comma - pos));
      if (comma == std::string_view::npos) break;
      pos = comma + 1;
    }
    if (fields.size() != 6)
      throw TraceError(file.string(), line_number,
                       "expected 6 fields (window_start_s, rate_req_per_s, cv, arrival_dist, "
                       "param1, param2), got " +
                           std::to_string(fields.size()));
    double numbers[3];
    for (int i = 0; i < 3; ++i) {
      const auto [end, ec] = std::from_chars(fields[i].data(), fields[i].data() + fields[i].size(), numbers[i]);
      if (ec != std::errc() || end != fields[i].data() + fields[i].size() || numbers[i] < 0)
        throw TraceError(file.string(), line_number, std::string("field ") + kFields[i] + ": expected a number >= 0");
    }
    ServeGenWindow w{numbers[0], numbers[0] + 600, numbers[1], numbers[2], std::string(fields[3])};
    if (!w.family.empty() && w.family != "Gamma" && w.family != "Weibull")
      throw TraceError(file.string(), line_number,
                       "field arrival_dist: expected Gamma, Weibull or nothing, got \"" + w.family + "\"");
    if (!client.windows.empty()) {
      if (w.start_s < client.windows.back().start_s + 1e-9)
        throw TraceError(file.string(), line_number,
                         "field window_start_s: not after the previous window; windows must be sorted");
      client.windows.back().end_s = std::min(client.windows.back().end_s, w.start_s);
    }
    client.windows.push_back(std::move(w));
  }
  std::error_code error;
  if (const fs::path dataset = servegen_dataset_path(file); fs::is_regular_file(dataset, error))
    client.lengths = read_servegen_dataset(dataset);
  return client;
}

std::vector<fs::path> servegen_client_files(const fs::path& path) {
  std::error_code error;  // a name the file system refuses (too long) is a missing file, not a crash
  if (fs::is_regular_file(path, error)) return {path};
  if (!fs::is_directory(path, error)) throw InputError(path.string() + ": no such ServeGen file or folder");
  std::vector<std::pair<int64_t, fs::path>> files;
  for (const auto& entry : fs::directory_iterator(path)) {
    const std::string name = entry.path().filename().string();
    if (entry.path().extension() != ".csv") continue;
    // chunk-<n>-trace.csv in numeric order; other names after them, by name.
    int64_t number = INT64_MAX;
    const size_t dash = name.find('-');
    if (dash != std::string::npos) std::from_chars(name.data() + dash + 1, name.data() + name.size(), number);
    files.emplace_back(number, entry.path());
  }
  std::sort(files.begin(), files.end());
  if (files.empty()) throw InputError(path.string() + ": no .csv client files in the ServeGen folder");
  std::vector<fs::path> paths;
  paths.reserve(files.size());
  for (auto& [number, file] : files) paths.push_back(std::move(file));
  return paths;
}

std::vector<ServeGenClient> read_servegen(const fs::path& path) {
  std::vector<ServeGenClient> clients;
  for (const fs::path& file : servegen_client_files(path)) clients.push_back(read_servegen_client(file));
  return clients;
}

ServeGenDatasetCount check_servegen_datasets(const fs::path& path) {
  ServeGenDatasetCount count;
  for (const fs::path& file : servegen_client_files(path)) {
    ++count.clients;
    const fs::path dataset = servegen_dataset_path(file);
    std::error_code error;
    if (!fs::is_regular_file(dataset, error) || read_servegen_dataset(dataset).empty()) ++count.without_lengths;
  }
  return count;
}

ServeGenSource::ServeGenSource(std::vector<ServeGenClient> clients, const ModelCatalogue& catalogue,
                               ModelAssigner& assigner, LengthSampler lengths, const RandomStreams& streams,
                               const std::string& stream_suffix, double begin_s, double rate_scale)
    : max_context_(catalogue.max_context), lengths_(std::move(lengths)), rate_scale_(rate_scale) {
  for (auto& data : clients) {
    std::string error;
    const auto model = assigner.for_id(data.id, error);
    if (!model) throw InputError("ServeGen client " + data.id + ": " + error);
    const RandomStream random = streams.stream("arrivals" + stream_suffix + "/" + data.id);
    const RandomStream length_random = streams.stream("lengths" + stream_suffix + "/" + data.id);
    clients_.push_back(Client{std::move(data), *model, random, length_random, 0, begin_s, std::nullopt});
  }
  for (size_t i = 0; i < clients_.size(); ++i)
    if (advance(clients_[i])) heads_.emplace(clients_[i].clock_s, i);
}

bool ServeGenSource::advance(Client& c) const {
  while (c.window < c.data.windows.size()) {
    const ServeGenWindow& w = c.data.windows[c.window];
    if (c.clock_s >= w.end_s || w.rate_per_s <= 0 || w.family.empty()) {
      c.clock_s = std::max(c.clock_s, w.end_s);
      c.gaps.reset();
      ++c.window;
      continue;
    }
    c.clock_s = std::max(c.clock_s, w.start_s);
    if (!c.gaps) {
      c.gaps.emplace(w.family == "Gamma" ? GapDistribution::Family::gamma : GapDistribution::Family::weibull,
                     w.rate_per_s * rate_scale_, w.cv);
    }
    const double next = c.clock_s + c.gaps->draw(c.random);
    if (next < w.end_s) {
      c.clock_s = next;
      return true;
    }
    c.clock_s = w.end_s;  // the renewal process restarts with the next window
    c.gaps.reset();
    ++c.window;
  }
  return false;
}

std::optional<Request> ServeGenSource::next() {
  if (heads_.empty()) return std::nullopt;
  const auto [time_s, index] = heads_.top();
  heads_.pop();
  Client& c = clients_[index];
  Request r;
  r.model = c.model;
  r.arrival = Time::from_seconds(time_s);
  std::tie(r.input_tokens, r.output_tokens) = draw_lengths(c, time_s, r.model);
  if (advance(c)) heads_.emplace(c.clock_s, index);
  return r;
}

std::pair<int64_t, int64_t> ServeGenSource::draw_lengths(Client& c, double time_s, ModelId model) {
  const auto& windows = c.data.lengths;
  if (windows.empty()) return lengths_.draw(max_context_[model]);
  // The last window starting at or before the arrival; arrivals before the first take the first.
  const auto after = std::upper_bound(windows.begin(), windows.end(), time_s,
                                      [](double t, const ServeGenLengthWindow& w) { return t < w.start_s; });
  const ServeGenLengthWindow& window = after == windows.begin() ? windows.front() : *std::prev(after);
  const auto [input, output] = window.draw(c.length_random);
  return cap_to_context(input, output, max_context_[model]);
}

}  // namespace slsim
