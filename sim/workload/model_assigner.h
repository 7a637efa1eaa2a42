#pragma once
// Which model a request goes to. A source with ids (a trace's model or function field, a
// ServeGen client) maps each distinct id once: round robin over `models` in order of first
// appearance, a Zipf draw over `models` by rank (the first listed is the most popular), an
// explicit map, or the id itself as a model name. A source without ids assigns per request.

#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "sim/core/ids.h"
#include "sim/core/random.h"
#include "sim/workload/source_spec.h"

namespace slsim {

class ModelAssigner {
 public:
  // Throws ConfigError (path `json_path`) when the spec names models the catalogue lacks.
  ModelAssigner(const SourceSpec& spec, const ModelCatalogue& catalogue, RandomStream random,
                const std::string& json_path);
  // The model of an id, or nullopt (with `error` set) for an id that maps to no listed model.
  std::optional<ModelId> for_id(std::string_view id, std::string& error);
  // The model of a request that carries no id.
  ModelId for_request();
  // The assignment mode after defaults: single, round-robin, zipf, map or name.
  const std::string& mode() const { return mode_; }

 private:
  ModelId lookup(const std::string& name, const std::string& json_path) const;

  ModelCatalogue catalogue_;
  std::string mode_;
  std::vector<ModelId> models_;
  ZipfSampler zipf_;
  RandomStream random_;
  std::unordered_map<std::string, ModelId> by_id_;
  size_t next_ = 0;
  std::string last_id_;
  ModelId last_model_;
  bool has_last_ = false;
};

}  // namespace slsim
