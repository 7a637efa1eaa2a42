#pragma once
// Builds a request source from its SourceSpec: the one entry point the experiment runner and
// `slsim trace` use, so a new kind of source is added here and nowhere else.

#include <cstddef>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "sim/core/random.h"
#include "sim/workload/source.h"
#include "sim/workload/source_spec.h"

namespace slsim {

// Checks a spec against the models served, resolves its relative paths against `base_dir`
// (rewriting `path` and `lengths.table` as absolute paths) and checks they exist. Errors are
// ConfigErrors at `json_path` (e.g. workload.sources[0]); returns warnings about what the run
// will do that the user may not expect (ServeGen clients without lengths of their own).
std::vector<std::string> validate_source(SourceSpec& spec, const ModelCatalogue& catalogue,
                                         const std::filesystem::path& base_dir, const std::string& json_path);

// The source of a validated spec; `index` names its random streams (arrivals/<index>, ...).
std::unique_ptr<RequestSource> make_source(const SourceSpec& spec, const ModelCatalogue& catalogue,
                                           const RandomStreams& random, size_t index);

// The mapping a trace spec reads with: its own, or its preset's with the spec's optional fields.
TraceMapping effective_mapping(const SourceSpec& spec);

}  // namespace slsim
