#pragma once
// A request between its admission and its last token: where it was dispatched, how its cold
// start went, how often it moved. The control plane keeps one per request in flight, by id;
// the router, the live migration and the audit read and update them.

#include <cstdint>

#include "sim/core/id_window.h"
#include "sim/core/ids.h"
#include "sim/core/request.h"
#include "sim/core/time.h"
#include "sim/engine/engine.h"
#include "sim/loading/loader.h"

namespace slsim {

struct InFlight {
  Request request;
  Time first_token;
  bool cold_start = false;
  Time dispatched;
  Time load_wait;
  Tier load_tier = Tier::remote;
  bool preloaded = false;
  ServerId server = ServerId::none();  // none: waiting at the router
  int64_t migrated = 0;
};

// By request id; ids rise with arrival order (MergedSource).
using InFlightRequests = IdWindow<RequestId, InFlight>;

inline EngineRequest engine_request(const Request& r) {
  return EngineRequest{r.id, r.input_tokens, r.output_tokens, r.samples, r.beam_width, r.prefix_blocks};
}

}  // namespace slsim
