#pragma once

#include <cstdint>

#include "sim/core/fields.h"
#include "sim/loading/load_source.h"

namespace slsim {

// HydraServe ("Minimizing Cold Start Latency for Serverless LLM Serving in Public Clouds",
// NSDI'26): a cold start that must fetch its checkpoint from remote storage is spread over
// several servers, each fetching a contiguous share of the layers over its own NIC at once
// (pipeline-parallel cold start), with the instance's start-up overlapped with the fetch. The
// instance serves as a pipeline over those servers (activations cross the network between
// stages), then consolidates: the first server pulls the other stages' layers from their GPUs
// and the others' GPUs are let go. The paper reports 1.7-4.7x lower cold-start latency.
class HydraServeLoadSource final : public LoadSourcePolicy {
 public:
  struct Params {
    int64_t parallel_servers = 4;
    bool consolidate = true;
    template <class V>
    void visit(V& v) {
      v.field(
          "parallel_servers", parallel_servers,
          "servers that fetch one cold start's layers at once, the placed one included, each 1/k of the "
          "checkpoint from its own tiers (HydraServe's pipeline-parallel cold start); fewer servers with free GPUs: "
          "the load reads the tiers of its own server alone (a fallback, counted)",
          between(1, 64));
      v.field("consolidate", consolidate,
              "after the parallel load the placed server pulls the other stages' layers from their GPUs and lets "
              "those GPUs go (HydraServe's consolidation); false: the instance stays a pipeline until released");
    }
  };
  HydraServeLoadSource(const Params& params, Context&) : params_(params) {}
  bool reads_other_servers() const override { return false; }
  bool multicast_chain() const override { return false; }
  int64_t parallel_servers() const override { return params_.parallel_servers; }
  bool consolidate() const override { return params_.consolidate; }

 private:
  Params params_;
};

}  // namespace slsim
