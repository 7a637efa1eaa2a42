#pragma once

#include "sim/policy/scheduler/least_loaded.h"
#include "sim/policy/scheduler/placement.h"

namespace slsim {

// A Shepherd-like preemptive placement (after Shepherd, Zhang et al., NSDI'23; the ServerlessLLM
// paper's "Shepherd*" ablation). Where a server has the free GPUs, locality's choice. Where none
// has, it restarts the instances in the way only when the demand they block outweighs the work
// they would lose: the input tokens of the model's waiting requests ≥ preempt_factor × the
// victims' tokens (input plus generated); otherwise the start waits, and is weighed again as
// requests arrive and GPUs come back. The gate is what keeps restarts from cascading (a
// restarted model preempting in turn). Among servers that can make room: the fewest victim
// tokens, then the fastest tier holding the checkpoint, then the lowest id. A start with no
// request waiting (ahead of demand) makes no room.
class ShepherdPlacement final : public PlacementPolicy {
 public:
  struct Params {
    double preempt_factor = 2;

    template <class V>
    void visit(V& v) {
      v.field("preempt_factor", preempt_factor,
              "λ: victims are restarted only when the input tokens of the requests waiting for the model are at least "
              "λ × the tokens the victims would lose; else the start waits (2: an assumption, docs/decisions.md)",
              at_least(0));
    }
  };
  ShepherdPlacement(const Params& params, Context& context)
      : params_(params),
        locality_(LocalityPlacement::Params{}, context),
        cluster_(context.cluster),
        loader_(context.loader) {}
  std::optional<Placement> place(const PlacementRequest& request) override;
  bool weighs_victims() const override { return true; }

 private:
  Params params_;
  LocalityPlacement locality_;
  const Cluster& cluster_;
  const Loader& loader_;
};

}  // namespace slsim
