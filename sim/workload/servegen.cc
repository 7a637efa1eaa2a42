#include "sim/workload/servegen.h"

#include <algorithm>
#include <charconv>
#include <fstream>

#include "sim/core/errors.h"

namespace slsim {
namespace fs = std::filesystem;

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
  return client;
}

std::vector<ServeGenClient> read_servegen(const fs::path& path) {
  if (fs::is_regular_file(path)) return {read_servegen_client(path)};
  if (!fs::is_directory(path)) throw InputError(path.string() + ": no such ServeGen file or folder");
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
  std::vector<ServeGenClient> clients;
  clients.reserve(files.size());
  for (const auto& [number, file] : files) clients.push_back(read_servegen_client(file));
  return clients;
}

ServeGenSource::ServeGenSource(std::vector<ServeGenClient> clients, const ModelCatalogue& catalogue,
                               ModelAssigner& assigner, LengthSampler lengths, const RandomStreams& streams,
                               const std::string& stream_prefix, double begin_s, double rate_scale)
    : max_context_(catalogue.max_context), lengths_(std::move(lengths)), rate_scale_(rate_scale) {
  for (auto& data : clients) {
    std::string error;
    const auto model = assigner.for_id(data.id, error);
    if (!model) throw InputError("ServeGen client " + data.id + ": " + error);
    RandomStream random = streams.stream(stream_prefix + "/" + data.id);
    clients_.push_back(Client{std::move(data), *model, random, 0, begin_s, std::nullopt});
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
  std::tie(r.input_tokens, r.output_tokens) = lengths_.draw(max_context_[r.model]);
  if (advance(c)) heads_.emplace(c.clock_s, index);
  return r;
}

}  // namespace slsim
