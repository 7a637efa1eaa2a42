#include "sim/policy/startup/startup.h"

#include <gtest/gtest.h>

#include <string>
#include <utility>
#include <vector>

#include "sim/core/errors.h"
#include "sim/policy/startup/full.h"
#include "sim/policy/startup/materialized.h"
#include "sim/policy/startup/prewarmed.h"

namespace slsim {
namespace {

// process 4, context 0.25, set-up 6; post-load 8.25 = compile 5.5 + capture 2.5 + warm-up 0.25.
StartupPhases measured() { return StartupPhases{4.0, 0.25, 6.0, 8.25, 5.5, 2.5}; }

StartupPhases online(const std::string& name, Json params = Json::object()) {
  StartupPolicy::Context context;
  const PolicyChoice resolved = startup_policies().resolve(PolicyChoice{name, std::move(params)}, "policies.startup");
  return startup_policies().make(resolved, context)->online(measured());
}

TEST(StartupPolicy, FullRunsEveryMeasuredPhase) {
  const StartupPhases p = online("full");
  EXPECT_DOUBLE_EQ(p.before_load_s(), 10.25);
  EXPECT_DOUBLE_EQ(p.post_load_s, 8.25);
}

TEST(StartupPolicy, MedusaRestoresTheGraphsAtAFractionOfTheirCapture) {
  // 2.5 s of capture become 0.15 x 2.5 = 0.375 s; compilation and warm-up stay.
  const StartupPhases p = online("medusa");
  EXPECT_DOUBLE_EQ(p.before_load_s(), 10.25);
  EXPECT_DOUBLE_EQ(p.post_load_s, 5.5 + 0.375 + 0.25);
  EXPECT_DOUBLE_EQ(p.graph_capture_s, 0.375);
  EXPECT_DOUBLE_EQ(online("medusa", {{"graph_restore_fraction", 0}}).post_load_s, 5.75);
}

TEST(StartupPolicy, FoundryNeitherCompilesNorCapturesOnline) {
  // Compile 5.5 + capture 2.5 = 8 s become 0.01 x 8 = 0.08 s; warm-up stays.
  const StartupPhases p = online("foundry");
  EXPECT_NEAR(p.post_load_s, 0.08 + 0.25, 1e-12);
  EXPECT_DOUBLE_EQ(online("foundry", {{"restore_fraction", 1}}).post_load_s, 8.25);
}

TEST(StartupPolicy, PrewarmedPaysNothingBeforeTheLoadAndEveryPostLoadPhaseAsMeasured) {
  // The pool already ran the 4 + 0.25 + 6 s; compile 5.5 + capture 2.5 + warm-up 0.25 stay.
  const StartupPhases p = online("prewarmed");
  EXPECT_EQ(p.process_start_s, 0);
  EXPECT_EQ(p.gpu_context_s, 0);
  EXPECT_EQ(p.engine_setup_s, 0);
  EXPECT_DOUBLE_EQ(p.post_load_s, 8.25);
  EXPECT_DOUBLE_EQ(p.compile_s, 5.5);
  EXPECT_DOUBLE_EQ(p.graph_capture_s, 2.5);
}

TEST(StartupPolicy, PrewarmedRestoreFractionScalesCompilationAndCaptureNotWarmUp) {
  // 0.5: 2.75 + 1.25 s; 0.01 (with Foundry's templates): 0.055 + 0.025 s; warm-up 0.25 s stays.
  const StartupPhases half = online("prewarmed", {{"restore_fraction", 0.5}});
  EXPECT_DOUBLE_EQ(half.post_load_s, 2.75 + 1.25 + 0.25);
  EXPECT_DOUBLE_EQ(half.graph_capture_s, 1.25);
  EXPECT_EQ(half.before_load_s(), 0);
  EXPECT_NEAR(online("prewarmed", {{"restore_fraction", 0.01}}).post_load_s, 0.08 + 0.25, 1e-12);
  EXPECT_DOUBLE_EQ(online("prewarmed", {{"restore_fraction", 0}}).post_load_s, 0.25);
}

TEST(StartupPolicy, AFractionAboveOneIsAConfigErrorNamingItsPath) {
  try {
    online("medusa", {{"graph_restore_fraction", 1.5}});
    FAIL() << "accepted a fraction above 1";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("policies.startup.params.graph_restore_fraction"), std::string::npos)
        << e.what();
  }
}

TEST(StartupPolicy, PrewarmedRejectsANegativeFractionAndAnUnknownParam) {
  for (const auto& [params, path] :
       std::vector<std::pair<Json, std::string>>{{{{"restore_fraction", -0.1}}, "params.restore_fraction"},
                                                 {{{"restore_fraction", "all"}}, "params.restore_fraction"},
                                                 {{{"warm_pool", 4}}, "params.warm_pool"}}) {
    try {
      online("prewarmed", params);
      FAIL() << "accepted " << params.dump();
    } catch (const ConfigError& e) {
      EXPECT_NE(std::string(e.what()).find("policies.startup." + path), std::string::npos) << e.what();
    }
  }
}

}  // namespace
}  // namespace slsim
