#pragma once

#include "sim/loading/load_source.h"

namespace slsim {

// A copy on another GPU of the same server (over NVLink), else the server's DRAM, SSD or the
// remote store: ServerlessLLM's multi-tier loading, and slsim's behaviour before load sources.
class TieredLoadSource final : public LoadSourcePolicy {
 public:
  struct Params {
    template <class V>
    void visit(V&) {}
  };
  TieredLoadSource(const Params&, Context&) {}
  bool reads_other_servers() const override { return false; }
  bool multicast_chain() const override { return false; }
};

}  // namespace slsim
