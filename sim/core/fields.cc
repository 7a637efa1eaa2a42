#include "sim/core/fields.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <sstream>

namespace slsim {

Limits with_unit_bounds(std::string_view key, Limits limits) {
  double bound = std::numeric_limits<double>::infinity();
  // `_per_s` is a rate (requests or gigabytes per second), not a time.
  if (key.ends_with("_per_s"))
    bound = std::numeric_limits<double>::infinity();
  else if (key.ends_with("_s"))
    bound = kMaxSeconds;
  else if (key.ends_with("_ms"))
    bound = kMaxSeconds * 1e3;
  else if (key.ends_with("_us"))
    bound = kMaxSeconds * 1e6;
  else if (key.ends_with("_bytes"))
    bound = kMaxBytes;
  limits.max = std::min(limits.max, bound);
  limits.min = std::max(limits.min, -bound);
  return limits;
}

std::string describe_limits(const Limits& limits) {
  const bool has_min = std::isfinite(limits.min);
  const bool has_max = std::isfinite(limits.max);
  if (has_min && has_max) return fmt::format(" in {}{}, {}]", limits.min_exclusive ? "(" : "[", limits.min, limits.max);
  if (has_min) return fmt::format(" {} {}", limits.min_exclusive ? ">" : ">=", limits.min);
  if (has_max) return fmt::format(" <= {}", limits.max);
  return "";
}

std::string join_path(const std::string& path, std::string_view key) {
  return path.empty() ? std::string(key) : path + "." + std::string(key);
}

std::string json_type_name(const Json& value) {
  switch (value.type()) {
    case Json::value_t::null:
      return "null";
    case Json::value_t::boolean:
      return value.get<bool>() ? "true" : "false";
    case Json::value_t::string:
      return "the string \"" + value.get<std::string>() + "\"";
    case Json::value_t::number_integer:
    case Json::value_t::number_unsigned:
    case Json::value_t::number_float:
      return "the number " + value.dump();
    case Json::value_t::object:
      return "an object";
    case Json::value_t::array:
      return "an array";
    default:
      return "an unsupported value";
  }
}

namespace {

// The parser's position, for the path of a repeated key.
struct JsonFrame {
  bool array = false;
  int64_t index = -1;
  std::string key;
  std::vector<std::string> keys;
};

std::string frames_path(const std::vector<JsonFrame>& frames) {
  std::string path;
  for (const JsonFrame& f : frames)
    path = f.array ? path + "[" + std::to_string(f.index) + "]" : join_path(path, f.key);
  return path;
}

}  // namespace

Json parse_json(std::string_view text, const std::string& source) {
  std::vector<JsonFrame> frames;
  const auto element_starts = [&] {
    if (!frames.empty() && frames.back().array) ++frames.back().index;
  };
  const Json::parser_callback_t track = [&](int, Json::parse_event_t event, Json& parsed) {
    switch (event) {
      case Json::parse_event_t::object_start:
      case Json::parse_event_t::array_start:
        element_starts();
        if (static_cast<int>(frames.size()) >= kMaxJsonDepth)
          throw ConfigError(frames_path(frames), fmt::format("nested deeper than {} levels", kMaxJsonDepth));
        frames.push_back(JsonFrame{event == Json::parse_event_t::array_start, -1, {}, {}});
        break;
      case Json::parse_event_t::key: {
        JsonFrame& top = frames.back();
        top.key = parsed.get<std::string>();
        if (std::find(top.keys.begin(), top.keys.end(), top.key) != top.keys.end())
          throw ConfigError(frames_path(frames), "the key appears twice in one object; expected each key once");
        top.keys.push_back(top.key);
        break;
      }
      case Json::parse_event_t::value:
        element_starts();
        break;
      case Json::parse_event_t::object_end:
      case Json::parse_event_t::array_end:
        frames.pop_back();
        break;
    }
    return true;
  };
  try {
    return Json::parse(text, track);
  } catch (const ConfigError& e) {
    throw InputError(source + ": " + e.what());
  } catch (const Json::exception& e) {
    // Syntax errors and numbers beyond a double (1e400) both land here.
    throw JsonSyntaxError(source + ": not valid JSON: " + e.what());
  }
}

Json load_json_file(const std::filesystem::path& path) {
  std::error_code error;
  if (std::filesystem::is_directory(path, error))
    throw InputError(path.string() + ": is a folder; expected a JSON file");
  std::ifstream in(path);
  if (!in) throw InputError(path.string() + ": cannot open the file");
  std::stringstream text;
  text << in.rdbuf();
  return parse_json(text.str(), path.string());
}

JsonReader::JsonReader(const Json& node, std::string path) : node_(node), path_(std::move(path)) {
  if (!node_.is_object()) throw ConfigError(path_, "expected an object, got " + json_type_name(node_));
}

const Json* JsonReader::find(std::string_view key) {
  seen_.push_back(key);
  const auto it = node_.find(std::string(key));
  return it == node_.end() ? nullptr : &*it;
}

void JsonReader::finish() const {
  const auto read_here = [this](std::string_view key) {
    return std::find(seen_.begin(), seen_.end(), key) != seen_.end();
  };
  for (const auto& [key, value] : node_.items()) {
    if (read_here(key)) continue;
    for (const RenamedKey& renamed : kRenamedKeys)
      if (renamed.old_name == key && read_here(renamed.new_name))
        throw ConfigError(join_path(path_, key), fmt::format("`{}` was renamed `{}` ({})", renamed.old_name,
                                                             renamed.new_name, renamed.meaning));
    std::string known;
    for (const auto& k : seen_) known += (known.empty() ? "" : ", ") + std::string(k);
    throw ConfigError(join_path(path_, key), "unknown key; expected one of: " + known);
  }
}

void JsonReader::choice(std::string_view key, std::string& value, std::string_view,
                        const std::vector<std::string>& choices) {
  if (const Json* v = find(key)) value = choices[index_of_choice(*v, join_path(path_, key), choices)];
}

size_t JsonReader::index_of_choice(const Json& v, const std::string& path, const std::vector<std::string>& choices) {
  std::string list;
  for (const auto& c : choices) list += (list.empty() ? "" : ", ") + c;
  if (!v.is_string()) throw ConfigError(path, "expected one of " + list + "; got " + json_type_name(v));
  const auto s = v.get<std::string>();
  const auto it = std::find(choices.begin(), choices.end(), s);
  if (it == choices.end()) throw ConfigError(path, "unknown value \"" + s + "\"; expected one of " + list);
  return static_cast<size_t>(it - choices.begin());
}

namespace {

void check_limits(double x, const std::string& path, const Limits& limits, const std::string& what) {
  const bool below = limits.min_exclusive ? !(x > limits.min) : !(x >= limits.min);
  if (below || !(x <= limits.max) || !std::isfinite(x))
    throw ConfigError(path, fmt::format("expected {}{}, got {}", what, describe_limits(limits), x));
}

}  // namespace

void JsonReader::read_value(const Json& v, const std::string& path, double& out, const Limits& limits) {
  if (!v.is_number()) throw ConfigError(path, "expected " + expected_of<double>(limits) + ", got " + json_type_name(v));
  out = v.get<double>();
  check_limits(out, path, limits, "a number");
}

void JsonReader::read_value(const Json& v, const std::string& path, int64_t& out, const Limits& limits) {
  const bool integral =
      v.is_number_integer() ||
      (v.is_number_float() && std::trunc(v.get<double>()) == v.get<double>() && std::abs(v.get<double>()) < 9.0e15);
  if (!integral) throw ConfigError(path, "expected " + expected_of<int64_t>(limits) + ", got " + json_type_name(v));
  if (v.is_number_unsigned() && v.get<uint64_t>() > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()))
    throw ConfigError(path, "expected " + expected_of<int64_t>(limits) + ", got " + json_type_name(v));
  out = v.is_number_unsigned()  ? static_cast<int64_t>(v.get<uint64_t>())
        : v.is_number_integer() ? v.get<int64_t>()
                                : static_cast<int64_t>(v.get<double>());
  check_limits(static_cast<double>(out), path, limits, "an integer");
}

void JsonReader::read_value(const Json& v, const std::string& path, bool& out, const Limits&) {
  if (!v.is_boolean()) throw ConfigError(path, "expected true or false, got " + json_type_name(v));
  out = v.get<bool>();
}

void JsonReader::read_value(const Json& v, const std::string& path, std::string& out, const Limits&) {
  if (!v.is_string()) throw ConfigError(path, "expected a string, got " + json_type_name(v));
  out = v.get<std::string>();
}

void JsonReader::read_value(const Json& v, const std::string& path, std::vector<std::string>& out,
                            const Limits& limits) {
  read_array(v, path, out, limits, "strings");
}

void JsonReader::read_value(const Json& v, const std::string& path, std::vector<double>& out, const Limits& limits) {
  read_array(v, path, out, limits, "numbers");
}

void JsonReader::read_value(const Json& v, const std::string& path, std::vector<int64_t>& out, const Limits& limits) {
  read_array(v, path, out, limits, "integers");
}

void FieldDescriber::choice(std::string_view key, const std::string& value, std::string_view doc,
                            const std::vector<std::string>& choices) {
  std::string list;
  for (const auto& c : choices) list += (list.empty() ? "" : "|") + c;
  add(key, list, value, doc);
}

void FieldDescriber::add(std::string_view key, const std::string& type, const Json& default_value,
                         std::string_view doc) {
  Json entry;
  entry["name"] = std::string(key);
  entry["type"] = type;
  entry["default"] = default_value;
  entry["description"] = std::string(doc);
  out_.push_back(std::move(entry));
}

}  // namespace slsim
