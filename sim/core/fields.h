#pragma once
// Typed parameter structs bound to JSON. Every component's parameters are a plain struct with
// defaults whose `visit` lists its fields once, with units and a one-line description; the
// visitors below read them from JSON (refusing unknown keys and wrong types, naming the JSON
// path), write them back (the resolved config), and describe them (`slsim policies`).
//
//   struct FixedKeepAliveParams {
//     double ttl_s = 60;
//     template <class V> void visit(V& v) { v.field("ttl_s", ttl_s, "idle seconds kept", at_least(0)); }
//   };
//
// A mode is an enum bound by a name table, so that code compares enums and the JSON keeps names:
//
//   enum class Mode : uint8_t { fast, exact };
//   inline constexpr EnumNames<Mode, 2> kModeNames{{{Mode::fast, "fast"}, {Mode::exact, "exact"}}};
//   v.choice("mode", mode, "how", kModeNames);

#include <array>
#include <cstdint>
#include <filesystem>
#include <limits>
#include <nlohmann/json.hpp>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "sim/core/errors.h"

namespace slsim {

using Json = nlohmann::ordered_json;

struct Limits {
  double min = -std::numeric_limits<double>::infinity();
  double max = std::numeric_limits<double>::infinity();
  bool min_exclusive = false;
};
inline Limits at_least(double min) { return Limits{min}; }
inline Limits positive() { return Limits{0, std::numeric_limits<double>::infinity(), true}; }
inline Limits between(double min, double max) { return Limits{min, max}; }

// A key that once had another name: a document still using `old_name` is told the new one
// (and why) instead of only "unknown key". Bandwidths were `_gbps`, which reads as gigabits.
struct RenamedKey {
  std::string_view old_name;
  std::string_view new_name;
  std::string_view meaning;
};
inline constexpr RenamedKey kRenamedKeys[] = {
    {"hbm_bandwidth_gbps", "hbm_bandwidth_gbytes_per_s", "gigabytes per second"},
    {"host_link_gbps", "host_link_gbytes_per_s", "gigabytes per second"},
    {"host_link_measured_gbps", "host_link_measured_gbytes_per_s", "gigabytes per second"},
    {"interconnect_gbps", "interconnect_gbytes_per_s", "gigabytes per second"},
    {"ssd_read_gbps", "ssd_read_gbytes_per_s", "gigabytes per second"},
    {"ssd_write_gbps", "ssd_write_gbytes_per_s", "gigabytes per second"},
    {"nic_gbps", "nic_gbytes_per_s", "gigabytes per second"},
    {"remote_storage_gbps", "remote_storage_gbytes_per_s", "gigabytes per second"},
    {"wan_gbps", "wan_gbytes_per_s", "gigabytes per second"},
    {"bandwidth_gbps", "bandwidth_gbytes_per_s", "gigabytes per second"},
};

template <class E>
struct EnumName {
  E value;
  std::string_view name;
};
template <class E, size_t N>
using EnumNames = std::array<EnumName<E>, N>;

// The name of `value` in its table (a value missing from its table is a programming error).
template <class E, size_t N>
std::string_view name_of(E value, const EnumNames<E, N>& names) {
  for (const EnumName<E>& n : names)
    if (n.value == value) return n.name;
  throw std::logic_error("an enum value is missing from its name table");
}

// A field's unit, read from its name's suffix (units are in names), bounds it further: times
// (`_s`, `_ms`, `_us`) to kMaxSeconds, so that a time plus another stays within int64
// nanoseconds (9.2 × 10^9 s), and sizes (`_bytes`) to kMaxBytes, which a double and an int64
// hold exactly and far beyond any memory.
inline constexpr double kMaxSeconds = 1e9;
inline constexpr double kMaxBytes = 0x1p53;
Limits with_unit_bounds(std::string_view key, Limits limits);

std::string describe_limits(const Limits& limits);

// JSON text that is not JSON at all (as opposed to JSON refused for its content).
class JsonSyntaxError : public InputError {
 public:
  using InputError::InputError;
};
// Nesting deeper than any config needs is refused while parsing, before a deep tree exists:
// code that walks a tree recursively would run out of stack on ~10^5 levels.
inline constexpr int kMaxJsonDepth = 128;
// Parses JSON text; `source` (a file name, an option) starts every error. Refuses, with the JSON
// path, a key repeated in one object (the parser would keep the last silently) and nesting
// deeper than kMaxJsonDepth; a number beyond a double's range is a JsonSyntaxError.
Json parse_json(std::string_view text, const std::string& source);
// Reads and parses a JSON file (parse_json, its path as the source).
Json load_json_file(const std::filesystem::path& path);

std::string join_path(const std::string& path, std::string_view key);
std::string json_type_name(const Json& value);

// Reads a struct's fields from a JSON object; call finish() to refuse keys nobody read (a
// renamed key's refusal names its new name).
class JsonReader {
 public:
  JsonReader(const Json& node, std::string path);

  template <class T>
  void field(std::string_view key, T& value, std::string_view /*doc*/, Limits limits = {}) {
    if (const Json* v = find(key)) read_value(*v, join_path(path_, key), value, with_unit_bounds(key, limits));
  }
  template <class T>
  void required(std::string_view key, T& value, std::string_view /*doc*/, Limits limits = {}) {
    const Json* v = find(key);
    if (!v)
      throw ConfigError(join_path(path_, key), "missing; expected " + expected_of<T>(with_unit_bounds(key, limits)));
    read_value(*v, join_path(path_, key), value, with_unit_bounds(key, limits));
  }
  void choice(std::string_view key, std::string& value, std::string_view doc, const std::vector<std::string>& choices);
  template <class E, size_t N>
  void choice(std::string_view key, E& value, std::string_view /*doc*/, const EnumNames<E, N>& names) {
    const Json* v = find(key);
    if (!v) return;
    std::vector<std::string> choices;
    for (const EnumName<E>& n : names) choices.emplace_back(n.name);
    value = names[index_of_choice(*v, join_path(path_, key), choices)].value;
  }
  // A choice whose absence (or null) means "decided elsewhere", e.g. by another field.
  template <class E, size_t N>
  void choice(std::string_view key, std::optional<E>& value, std::string_view doc, const EnumNames<E, N>& names) {
    const Json* v = find(key);
    if (!v || v->is_null()) return;
    E chosen{};
    choice(key, chosen, doc, names);
    value = chosen;
  }
  template <class S>
  void object(std::string_view key, S& sub, std::string_view /*doc*/) {
    if (const Json* v = find(key)) read_struct(*v, join_path(path_, key), sub);
  }
  // A key added after the resolved config's format was fixed: absent (or null) leaves it
  // unset, and an unset value is not written back, so older configs resolve as before.
  template <class T>
  void optional(std::string_view key, std::optional<T>& value, std::string_view doc, Limits limits = {}) {
    field(key, value, doc, limits);
  }
  template <class S>
  void optional_object(std::string_view key, std::optional<S>& sub, std::string_view /*doc*/) {
    const Json* v = find(key);
    if (!v || v->is_null()) return;
    sub.emplace();
    read_struct(*v, join_path(path_, key), *sub);
  }
  template <class S>
  void list(std::string_view key, std::vector<S>& items, std::string_view /*doc*/) {
    const Json* v = find(key);
    if (!v) return;
    const std::string path = join_path(path_, key);
    if (!v->is_array()) throw ConfigError(path, "expected an array, got " + json_type_name(*v));
    items.assign(v->size(), S{});
    for (size_t i = 0; i < v->size(); ++i) read_struct((*v)[i], path + "[" + std::to_string(i) + "]", items[i]);
  }
  // Keeps a value as JSON for a later stage (a policy's parameters, read by the policy).
  void raw(std::string_view key, Json& value, std::string_view /*doc*/) {
    if (const Json* v = find(key)) value = *v;
  }
  void finish() const;
  const std::string& path() const { return path_; }

  // A struct whose fields constrain each other (a minimum below a maximum, a window that must
  // round to a whole nanosecond) checks that in `void check(const std::string& path) const`.
  template <class S>
  static void read_struct(const Json& node, const std::string& path, S& out) {
    JsonReader reader(node, path);
    out.visit(reader);
    reader.finish();
    if constexpr (requires { out.check(path); }) out.check(path);
  }
  template <class T>
  static std::string expected_of(const Limits& limits);

 private:
  const Json* find(std::string_view key);
  // The position of `v` among `choices`; refuses anything else, listing them.
  static size_t index_of_choice(const Json& v, const std::string& path, const std::vector<std::string>& choices);
  static void read_value(const Json& v, const std::string& path, double& out, const Limits& limits);
  static void read_value(const Json& v, const std::string& path, int64_t& out, const Limits& limits);
  static void read_value(const Json& v, const std::string& path, bool& out, const Limits& limits);
  static void read_value(const Json& v, const std::string& path, std::string& out, const Limits& limits);
  static void read_value(const Json& v, const std::string& path, std::vector<std::string>& out, const Limits& limits);
  static void read_value(const Json& v, const std::string& path, std::vector<double>& out, const Limits& limits);
  static void read_value(const Json& v, const std::string& path, std::vector<int64_t>& out, const Limits& limits);
  // An array whose elements are read as `T` under path[i]; `elements` names them in the error.
  template <class T>
  static void read_array(const Json& v, const std::string& path, std::vector<T>& out, const Limits& limits,
                         const char* elements) {
    if (!v.is_array())
      throw ConfigError(path, std::string("expected an array of ") + elements + ", got " + json_type_name(v));
    out.clear();
    for (size_t i = 0; i < v.size(); ++i) {
      T x{};
      read_value(v[i], path + "[" + std::to_string(i) + "]", x, limits);
      out.push_back(std::move(x));
    }
  }
  template <class T>
  static void read_value(const Json& v, const std::string& path, std::optional<T>& out, const Limits& limits) {
    if (v.is_null()) {
      out.reset();
      return;
    }
    T value{};
    read_value(v, path, value, limits);
    out = value;
  }

  const Json& node_;
  std::string path_;
  std::vector<std::string_view> seen_;
};

// Writes a struct's fields, defaults included, as JSON (the resolved config).
class JsonWriter {
 public:
  explicit JsonWriter(Json& out) : out_(out) { out_ = Json::object(); }
  template <class T>
  void field(std::string_view key, const T& value, std::string_view, Limits = {}) {
    write(out_[std::string(key)], value);
  }
  template <class T>
  void required(std::string_view key, const T& value, std::string_view doc, Limits limits = {}) {
    field(key, value, doc, limits);
  }
  void choice(std::string_view key, const std::string& value, std::string_view, const std::vector<std::string>&) {
    out_[std::string(key)] = value;
  }
  template <class E, size_t N>
  void choice(std::string_view key, E value, std::string_view, const EnumNames<E, N>& names) {
    out_[std::string(key)] = std::string(name_of(value, names));
  }
  template <class E, size_t N>
  void choice(std::string_view key, const std::optional<E>& value, std::string_view, const EnumNames<E, N>& names) {
    if (value) out_[std::string(key)] = std::string(name_of(*value, names));
  }
  template <class S>
  void object(std::string_view key, S& sub, std::string_view) {
    out_[std::string(key)] = to_json(sub);
  }
  template <class T>
  void optional(std::string_view key, const std::optional<T>& value, std::string_view, Limits = {}) {
    if (value) out_[std::string(key)] = *value;
  }
  template <class S>
  void optional_object(std::string_view key, std::optional<S>& sub, std::string_view) {
    if (sub) out_[std::string(key)] = to_json(*sub);
  }
  template <class S>
  void list(std::string_view key, std::vector<S>& items, std::string_view) {
    Json array = Json::array();
    for (auto& item : items) array.push_back(to_json(item));
    out_[std::string(key)] = std::move(array);
  }
  void raw(std::string_view key, const Json& value, std::string_view) {
    if (!value.is_null()) out_[std::string(key)] = value;
  }

  template <class S>
  static Json to_json(S& s) {
    Json out;
    JsonWriter writer(out);
    s.visit(writer);
    return out;
  }

 private:
  template <class T>
  static void write(Json& slot, const T& value) {
    slot = value;
  }
  template <class T>
  static void write(Json& slot, const std::optional<T>& value) {
    if (value)
      slot = *value;
    else
      slot = nullptr;
  }
  Json& out_;
};

// Lists a struct's fields for documentation: name, type, default, description, limits.
class FieldDescriber {
 public:
  explicit FieldDescriber(Json& out) : out_(out) { out_ = Json::array(); }
  template <class T>
  void field(std::string_view key, const T& value, std::string_view doc, Limits limits = {}) {
    add(key, JsonReader::expected_of<T>(with_unit_bounds(key, limits)), default_of(value), doc);
  }
  template <class T>
  void required(std::string_view key, const T&, std::string_view doc, Limits limits = {}) {
    add(key, JsonReader::expected_of<T>(with_unit_bounds(key, limits)), "required", doc);
  }
  void choice(std::string_view key, const std::string& value, std::string_view doc,
              const std::vector<std::string>& choices);
  template <class E, size_t N>
  void choice(std::string_view key, E value, std::string_view doc, const EnumNames<E, N>& names) {
    std::vector<std::string> choices;
    for (const EnumName<E>& n : names) choices.emplace_back(n.name);
    choice(key, std::string(name_of(value, names)), doc, choices);
  }
  template <class E, size_t N>
  void choice(std::string_view key, const std::optional<E>& value, std::string_view doc, const EnumNames<E, N>& names) {
    std::string list;
    for (const EnumName<E>& n : names) list += (list.empty() ? "" : "|") + std::string(n.name);
    add(key, list, value ? Json(std::string(name_of(*value, names))) : Json(nullptr), doc);
  }
  template <class S>
  void object(std::string_view key, S& sub, std::string_view doc) {
    Json fields;
    FieldDescriber inner(fields);
    sub.visit(inner);
    add(key, "object", fields, doc);
  }
  template <class T>
  void optional(std::string_view key, const std::optional<T>& value, std::string_view doc, Limits limits = {}) {
    field(key, value, doc, limits);
  }
  template <class S>
  void optional_object(std::string_view key, const std::optional<S>&, std::string_view doc) {
    S item{};
    Json fields;
    FieldDescriber inner(fields);
    item.visit(inner);
    add(key, "object or absent", fields, doc);
  }
  template <class S>
  void list(std::string_view key, std::vector<S>&, std::string_view doc) {
    S item{};
    Json fields;
    FieldDescriber inner(fields);
    item.visit(inner);
    add(key, "array of objects", fields, doc);
  }
  void raw(std::string_view key, const Json&, std::string_view doc) { add(key, "object", nullptr, doc); }

  template <class S>
  static Json describe(S& s) {
    Json out;
    FieldDescriber describer(out);
    s.visit(describer);
    return out;
  }

 private:
  template <class T>
  static Json default_of(const T& value) {
    return Json(value);
  }
  template <class T>
  static Json default_of(const std::optional<T>& value) {
    return value ? Json(*value) : Json(nullptr);
  }
  void add(std::string_view key, const std::string& type, const Json& default_value, std::string_view doc);
  Json& out_;
};

template <class T>
std::string JsonReader::expected_of(const Limits& limits) {
  using U = std::remove_cvref_t<T>;
  std::string base;
  if constexpr (std::is_same_v<U, double>)
    base = "a number";
  else if constexpr (std::is_same_v<U, int64_t>)
    base = "an integer";
  else if constexpr (std::is_same_v<U, bool>)
    base = "true or false";
  else if constexpr (std::is_same_v<U, std::string>)
    base = "a string";
  else if constexpr (std::is_same_v<U, std::vector<std::string>>)
    base = "an array of strings";
  else if constexpr (std::is_same_v<U, std::vector<double>>)
    base = "an array of numbers";
  else if constexpr (std::is_same_v<U, std::vector<int64_t>>)
    base = "an array of integers";
  else if constexpr (std::is_same_v<U, std::optional<double>>)
    base = "a number or null";
  else if constexpr (std::is_same_v<U, std::optional<int64_t>>)
    base = "an integer or null";
  else if constexpr (std::is_same_v<U, std::optional<std::string>>)
    base = "a string or null";
  else if constexpr (std::is_same_v<U, std::optional<bool>>)
    base = "true, false or null";
  else
    static_assert(sizeof(U) == 0, "unsupported field type");
  return base + describe_limits(limits);
}

}  // namespace slsim
