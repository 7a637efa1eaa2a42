#include "sim/workload/model_assigner.h"

#include <algorithm>

#include "sim/core/errors.h"

namespace slsim {

ModelAssigner::ModelAssigner(const SourceSpec& spec, const ModelCatalogue& catalogue, RandomStream random,
                             const std::string& json_path)
    : catalogue_(catalogue), zipf_(std::max<size_t>(spec.models.size(), 1), spec.zipf_exponent), random_(random) {
  const bool has_ids = !spec.mapping.model_field.empty() || spec.kind == "servegen" || spec.preset == "servegen";
  mode_ = spec.assign;
  if (mode_.empty()) mode_ = !spec.models.empty() ? "round-robin" : has_ids && spec.model.empty() ? "name" : "single";
  if (mode_ == "single" || (mode_ != "name" && mode_ != "map" && spec.models.empty())) {
    if (spec.model.empty())
      throw ConfigError(json_path + ".model", "missing; expected the model its requests go to (or `models`)");
    models_.push_back(lookup(spec.model, json_path + ".model"));
    if (mode_ != "single" && mode_ != "round-robin")
      throw ConfigError(json_path + ".models", "assign " + mode_ + " needs a list of models");
    mode_ = "single";
  }
  for (size_t i = 0; i < spec.models.size(); ++i)
    models_.push_back(lookup(spec.models[i], json_path + ".models[" + std::to_string(i) + "]"));
  if ((mode_ == "map" || mode_ == "name") && !has_ids)
    throw ConfigError(json_path + ".assign",
                      "\"" + mode_ + "\" needs ids: set mapping.model_field (or use kind servegen)");
  if (mode_ == "map") {
    if (!spec.model_map.is_object() || spec.model_map.empty())
      throw ConfigError(json_path + ".model_map", "expected an object from ids to model names");
    for (const auto& [id, name] : spec.model_map.items()) {
      if (!name.is_string()) throw ConfigError(json_path + ".model_map." + id, "expected a model name");
      by_id_[id] = lookup(name.get<std::string>(), json_path + ".model_map." + id);
    }
  }
}

ModelId ModelAssigner::lookup(const std::string& name, const std::string& json_path) const {
  const auto it = std::find(catalogue_.names.begin(), catalogue_.names.end(), name);
  if (it == catalogue_.names.end())
    throw ConfigError(json_path, "\"" + name + "\" is not one of the models listed under models");
  return ModelId(static_cast<uint32_t>(it - catalogue_.names.begin()));
}

std::optional<ModelId> ModelAssigner::for_id(std::string_view id, std::string& error) {
  if (mode_ == "single") return models_[0];
  if (has_last_ && id == last_id_) return last_model_;
  std::string key(id);
  auto it = by_id_.find(key);
  if (it == by_id_.end()) {
    ModelId model;
    if (mode_ == "round-robin") {
      model = models_[next_++ % models_.size()];
    } else if (mode_ == "zipf") {
      model = models_[zipf_.sample(random_)];
    } else if (mode_ == "name") {
      const auto named = std::find(catalogue_.names.begin(), catalogue_.names.end(), key);
      if (named == catalogue_.names.end()) {
        error = "\"" + key + "\" is not one of the models listed under models (assign: name)";
        return std::nullopt;
      }
      model = ModelId(static_cast<uint32_t>(named - catalogue_.names.begin()));
    } else {
      error = "id \"" + key + "\" is not in model_map";
      return std::nullopt;
    }
    it = by_id_.emplace(key, model).first;
  }
  last_id_ = std::move(key);
  last_model_ = it->second;
  has_last_ = true;
  return it->second;
}

ModelId ModelAssigner::for_request() {
  if (mode_ == "round-robin") return models_[next_++ % models_.size()];
  if (mode_ == "zipf") return models_[zipf_.sample(random_)];
  return models_[0];
}

}  // namespace slsim
