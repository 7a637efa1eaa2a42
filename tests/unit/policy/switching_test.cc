// The model-switching policies (sim/policy/switching/): which waiting seat goes next and the
// quantum it gets, computed by hand.

#include "sim/policy/switching/switching.h"

#include <gtest/gtest.h>

#include <vector>

#include "sim/core/errors.h"

namespace slsim {
namespace {

SwitchCandidate seat(uint32_t id, int64_t unstarted, double mean_step_s) {
  SwitchCandidate c;
  c.instance = InstanceId(id);
  c.unstarted = unstarted;
  c.requests = unstarted + 1;
  c.mean_step = Time::from_seconds(mean_step_s);
  return c;
}

std::unique_ptr<SwitchPolicy> make(const std::string& name, const Json& params) {
  SwitchPolicy::Context context;
  const PolicyChoice resolved = switching_policies().resolve(PolicyChoice{name, params}, "policies.switching");
  return switching_policies().make(resolved, context);
}

TEST(AegaeonSwitching, ASeatWithRequestsToPrefillGoesFirst) {
  const auto p = make("aegaeon", Json::object());
  const std::vector<SwitchCandidate> waiting{seat(1, 0, 0.01), seat(2, 0, 0.01), seat(3, 2, 0.01)};
  EXPECT_EQ(p->next(waiting), 2U);
}

TEST(AegaeonSwitching, WithNothingToPrefillTheLongestWaitingGoesNext) {
  const auto p = make("aegaeon", Json::object());
  const std::vector<SwitchCandidate> waiting{seat(4, 0, 0.01), seat(2, 0, 0.01)};
  EXPECT_EQ(p->next(waiting), 0U);
}

// Two models (one waiting besides the incoming), switch c = 0.5 s, step t = 0.01 s, TPOT SLO
// d = 0.1 s: the TPOT minimum is n c t / (d - n t) = 2 x 0.5 x 0.01 / (0.1 - 0.02) = 0.125 s; a
// TTFT SLO of 1.5 s allows (1.5 - 0.5) / 2 = 0.5 s: the longer, 0.5 s.
TEST(AegaeonSwitching, TheQuantumIsTheLongestThatKeepsTheWaitingSeatsTtft) {
  const auto p = make("aegaeon", Json{{"ttft_slo_s", 1.5}});
  const std::vector<SwitchCandidate> others{seat(2, 0, 0.01)};
  EXPECT_EQ(p->quantum(seat(1, 0, 0.01), others, Time::from_seconds(0.5)), Time::from_seconds(0.5));
}

// The same with a TTFT SLO of 0.6 s: (0.6 - 0.5) / 2 = 0.05 s, shorter than the TPOT minimum
// 0.125 s, which wins.
TEST(AegaeonSwitching, TheQuantumIsNeverShorterThanTheTpotMinimum) {
  const auto p = make("aegaeon", Json{{"ttft_slo_s", 0.6}});
  const std::vector<SwitchCandidate> others{seat(2, 0, 0.01)};
  EXPECT_EQ(p->quantum(seat(1, 0, 0.01), others, Time::from_seconds(0.5)), Time::from_seconds(0.125));
}

// Ten models of step 0.01 s: n t = 0.1 >= d, no quantum keeps the TPOT SLO: the longest, 4 s.
TEST(AegaeonSwitching, WhereNoQuantumKeepsTheTpotSloTheLongestIsUsed) {
  const auto p = make("aegaeon", Json::object());
  const std::vector<SwitchCandidate> others(9, seat(2, 0, 0.01));
  EXPECT_EQ(p->quantum(seat(1, 0, 0.01), others, Time::from_seconds(0.5)), Time::from_seconds(4));
}

// Alone on the card, nothing bounds it: the longest, 4 s.
TEST(AegaeonSwitching, AloneASeatGetsTheLongestQuantum) {
  const auto p = make("aegaeon", Json::object());
  EXPECT_EQ(p->quantum(seat(1, 1, 0), {}, Time::from_seconds(0.5)), Time::from_seconds(4));
}

// A TTFT SLO shorter than the switch and a model never stepped (t = 0, TPOT minimum 0): the
// shortest, 0.05 s.
TEST(AegaeonSwitching, TheQuantumIsAtLeastTheShortest) {
  const auto p = make("aegaeon", Json{{"ttft_slo_s", 0.2}});
  const std::vector<SwitchCandidate> others{seat(2, 0, 0.01)};
  EXPECT_EQ(p->quantum(seat(1, 1, 0), others, Time::from_seconds(0.5)), Time::from_seconds(0.05));
}

TEST(AegaeonSwitching, AShortestQuantumAboveTheLongestIsAConfigErrorNamingItsPath) {
  try {
    make("aegaeon", Json{{"min_quantum_s", 5}, {"max_quantum_s", 1}});
    FAIL() << "expected a ConfigError";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("policies.switching.params.max_quantum_s"), std::string::npos) << e.what();
  }
}

TEST(RoundRobinSwitching, SeatsTakeTurnsForTheFixedQuantum) {
  const auto p = make("round-robin", Json{{"quantum_s", 0.3}, {"overhead_s", 0.1}});
  const std::vector<SwitchCandidate> waiting{seat(3, 0, 0.01), seat(1, 5, 0.01)};
  EXPECT_EQ(p->next(waiting), 0U);
  EXPECT_EQ(p->quantum(seat(1, 0, 0.01), waiting, Time::from_seconds(0.5)), Time::from_seconds(0.3));
  EXPECT_EQ(p->overhead(), Time::from_seconds(0.1));
}

}  // namespace
}  // namespace slsim
