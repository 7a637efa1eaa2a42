#pragma once
// Token-level model switching on a shared card (Aegaeon, SOSP'25: Xiang et al., "Aegaeon:
// Effective GPU Pooling for Concurrent LLM Serving on the Market"): on a server whose profile
// sets gpu_memory_sharing = switching, the gpus_sharing_compute seats of a card hold instances
// of several models but only one, the active one, has its weights on the card and steps. The
// control plane switches the card to another seat (sim/control/model_switching.h) when the
// active one runs out of work or its quantum ends with others waiting; the policy says which
// waiting seat goes next and how long it then keeps the card.

#include <cstdint>
#include <span>
#include <string>

#include "sim/core/errors.h"
#include "sim/core/ids.h"
#include "sim/core/registry.h"
#include "sim/core/time.h"

namespace slsim {

// A seat of the card with requests, waiting for the card (or, for quantum(), about to get it).
struct SwitchCandidate {
  InstanceId instance;
  Time waiting_since;             // since when it has wanted the card
  int64_t unstarted = 0;          // requests in its engine that have produced no token yet (to prefill)
  int64_t requests = 0;           // requests in its engine
  Time mean_step = Time::zero();  // its engine's mean step so far (busy time / steps); zero: none yet
};

class SwitchPolicy {
 public:
  static constexpr const char* kind = "switching";
  struct Context {};
  virtual ~SwitchPolicy() = default;
  // The fixed part of a switch beside the bytes it moves (engine state, scheduling, sync).
  virtual Time overhead() const = 0;
  // Which of `waiting` (at least one, in the order they began waiting) gets the card next.
  virtual size_t next(std::span<const SwitchCandidate> waiting) const = 0;
  // How long `incoming` keeps the card once its switch is done, with `others` still waiting and
  // `switch_time` the switch that just brought it in.
  virtual Time quantum(const SwitchCandidate& incoming, std::span<const SwitchCandidate> others,
                       Time switch_time) const = 0;
};

const Registry<SwitchPolicy>& switching_policies();

// The fixed switch cost, shared by the policies. Aegaeon cuts a model switch by 97% to under a
// second (component reuse, explicit memory management, fine-grained KV synchronization), most of
// it the weights' copy, which slsim moves as bytes over the card's host link; 0.2 s for the
// rest is an assumption (the part the paper's total leaves beside the copy at H800 PCIe rates).
inline constexpr double kSwitchOverheadS = 0.2;

// Baseline: the seats take turns in the order they began waiting, each for a fixed quantum.
class RoundRobinSwitching final : public SwitchPolicy {
 public:
  struct Params {
    double quantum_s = 2;
    double overhead_s = kSwitchOverheadS;

    template <class V>
    void visit(V& v) {
      v.field("quantum_s", quantum_s, "how long a seat keeps the card while others wait, s (an assumption)",
              positive());
      v.field("overhead_s", overhead_s,
              "fixed cost of a switch beside the weights and KV bytes it moves, s (Aegaeon SOSP'25: a switch under "
              "1 s after a 97% cut; 0.2 is an assumption for the part that is not the weights' copy)",
              at_least(0));
    }
  };
  RoundRobinSwitching(const Params& params, Context&) : params_(params) {}
  Time overhead() const override { return Time::from_seconds(params_.overhead_s); }
  size_t next(std::span<const SwitchCandidate>) const override { return 0; }
  Time quantum(const SwitchCandidate&, std::span<const SwitchCandidate>, Time) const override {
    return Time::from_seconds(params_.quantum_s);
  }

 private:
  Params params_;
};

// Aegaeon's token-level scheduling on one card, prefill and decode on the same instance (the
// paper disaggregates them into separate instances; slsim's simplification). Next: a seat with
// requests to prefill first, the longest waiting of them (the paper's grouped FCFS prefill:
// each seat is one model, so its pending prefills go as one group), else the longest waiting
// seat (round robin over the decoding models). Quantum, from both SLOs and the switch time c:
// - TPOT (the paper's decode rule): a round gives each of the n models on the card a quantum q
//   and pays n switches, so a model of step time t produces q / t tokens per n (q + c), and
//   n (q + c) t / q <= d gives q >= n c t / (d - n t) (where d <= n t none does: the longest);
// - TTFT: with prefills first, a request arriving at a waiting seat waits at most the rest of the
//   quantum and a switch; half the TTFT SLO is left for that, half for prefills queued ahead
//   (an assumption): q <= (ttft_slo - c) / 2, with others waiting (none: the longest).
// The longest quantum that keeps TTFT, since each switch costs the card c of idle time, but never
// shorter than the TPOT minimum; clamped to [min_quantum_s, max_quantum_s]. The TPOT minimum
// alone (the paper's rule with its switches overlapped with decode on separate instances) loses
// here: on one instance every quantum pays a whole switch (results/gpu-sharing/README.md).
class AegaeonSwitching final : public SwitchPolicy {
 public:
  struct Params {
    double tpot_slo_s = 0.1;
    double ttft_slo_s = 5;
    double min_quantum_s = 0.05;
    double max_quantum_s = 4;
    double overhead_s = kSwitchOverheadS;

    template <class V>
    void visit(V& v) {
      v.field("tpot_slo_s", tpot_slo_s,
              "the time-per-output-token SLO the decode quantum keeps, s (Aegaeon's TBT SLO; 0.1 as the "
              "experiments' SLO)",
              positive());
      v.field("ttft_slo_s", ttft_slo_s,
              "the time-to-first-token SLO the quantum keeps for requests arriving at waiting seats, s (5 as the "
              "experiments' SLO)",
              positive());
      v.field("min_quantum_s", min_quantum_s,
              "the shortest quantum, s: at least a step or two of decode (an assumption)", positive());
      v.field("max_quantum_s", max_quantum_s,
              "the longest quantum, s, also used where no quantum can keep the SLO (an assumption)", positive());
      v.field("overhead_s", overhead_s,
              "fixed cost of a switch beside the weights and KV bytes it moves, s (Aegaeon SOSP'25: a switch under "
              "1 s after a 97% cut; 0.2 is an assumption for the part that is not the weights' copy)",
              at_least(0));
    }
    void check(const std::string& path) const {
      if (max_quantum_s < min_quantum_s)
        throw ConfigError(join_path(path, "max_quantum_s"), "expected at least min_quantum_s");
    }
  };
  AegaeonSwitching(const Params& params, Context&) : params_(params) {}
  Time overhead() const override { return Time::from_seconds(params_.overhead_s); }
  size_t next(std::span<const SwitchCandidate> waiting) const override;
  Time quantum(const SwitchCandidate& incoming, std::span<const SwitchCandidate> others,
               Time switch_time) const override;

 private:
  Params params_;
};

}  // namespace slsim
