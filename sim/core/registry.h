#pragma once
// Policies are created by name. Each policy kind (placement, keep-alive, autoscale, ...) has
// one Registry of its interface; each policy adds itself with one line in its kind's
// register function. An entry parses and checks its own typed parameters, so an unknown
// parameter or a wrong type is refused with its JSON path before anything runs.

#include <algorithm>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "sim/core/errors.h"
#include "sim/core/fields.h"

namespace slsim {

// The config's choice of one policy: `{"name": "fixed", "params": {"ttl_s": 60}}`.
struct PolicyChoice {
  std::string name;
  Json params = Json::object();

  template <class V>
  void visit(V& v) {
    v.field("name", name, "registered policy name (see `slsim policies`)");
    v.raw("params", params, "the policy's parameters; omitted ones take their defaults");
  }
};

// A registry seen without its interface, so that one table can list every kind of policy
// (`slsim policies`) and resolve every choice of a config.
class AnyRegistry {
 public:
  virtual ~AnyRegistry() = default;
  virtual std::string_view kind() const = 0;
  // Each entry as {kind, name, description, parameters}, by name.
  virtual Json describe() const = 0;
  // The choice with its parameters completed and checked; throws ConfigError naming the path.
  virtual PolicyChoice resolve(const PolicyChoice& choice, const std::string& path) const = 0;
};

template <class Interface>
class Registry final : public AnyRegistry {
 public:
  using Context = typename Interface::Context;

  struct Entry {
    std::string name;
    std::string description;  // one line, with the paper or system it follows
    std::function<Json(const Json& params, const std::string& path)> resolve;
    std::function<std::unique_ptr<Interface>(const Json& resolved, Context& context)> make;
    std::function<Json()> describe_params;
  };

  // `Impl` has a `Params` struct with visit() and a constructor Impl(const Params&, Context&).
  template <class Impl>
  void add(std::string_view name, std::string_view description) {
    Entry e;
    e.name = name;
    e.description = description;
    e.resolve = [](const Json& params, const std::string& path) {
      typename Impl::Params p;
      JsonReader::read_struct(params.is_null() ? Json::object() : params, path, p);
      return JsonWriter::to_json(p);
    };
    e.make = [](const Json& resolved, Context& context) -> std::unique_ptr<Interface> {
      typename Impl::Params p;
      JsonReader::read_struct(resolved, "", p);
      return std::make_unique<Impl>(p, context);
    };
    e.describe_params = [] {
      typename Impl::Params p;
      return FieldDescriber::describe(p);
    };
    entries_[e.name] = std::move(e);
  }

  const Entry& find(const std::string& name, const std::string& path) const {
    const auto it = entries_.find(name);
    if (it != entries_.end()) return it->second;
    std::string known;
    for (const auto& [n, _] : entries_) known += (known.empty() ? "" : ", ") + n;
    throw ConfigError(
        path, "unknown " + std::string(Interface::kind) + " policy \"" + name + "\"; expected one of: " + known);
  }

  std::string_view kind() const override { return Interface::kind; }

  Json describe() const override {
    Json out = Json::array();
    for (const auto& [name, entry] : entries_)
      out.push_back({{"kind", Interface::kind},
                     {"name", name},
                     {"description", entry.description},
                     {"parameters", entry.describe_params()}});
    return out;
  }

  PolicyChoice resolve(const PolicyChoice& choice, const std::string& path) const override {
    const Entry& entry = find(choice.name, join_path(path, "name"));
    return PolicyChoice{choice.name, entry.resolve(choice.params, join_path(path, "params"))};
  }

  std::unique_ptr<Interface> make(const PolicyChoice& resolved, Context& context) const {
    return find(resolved.name, "").make(resolved.params, context);
  }

  const std::map<std::string, Entry>& entries() const { return entries_; }

 private:
  std::map<std::string, Entry> entries_;
};

}  // namespace slsim
