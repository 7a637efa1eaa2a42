#include "sim/engine/startup_profile.h"

#include <gtest/gtest.h>

#include "sim/core/errors.h"

namespace slsim {
namespace {

// Two measured sizes, 1 GB and 3 GB per GPU; post-load = compile + capture + warm-up.
StartupProfile two_sizes() {
  StartupProfile p;
  p.models.push_back(StartupMeasurement{"small", 1'000'000'000, 4.0, 0.2, 6.0, 5.0, 2.0, 0.2});
  p.models.push_back(StartupMeasurement{"large", 3'000'000'000, 6.0, 0.4, 8.0, 6.0, 4.0, 0.4});
  return p;
}

}  // namespace

TEST(StartupProfile, AMeasuredSizeTakesItsOwnPhases) {
  const StartupPhases s = interpolate_startup(two_sizes(), 1e9);
  EXPECT_DOUBLE_EQ(s.process_start_s, 4.0);
  EXPECT_DOUBLE_EQ(s.gpu_context_s, 0.2);
  EXPECT_DOUBLE_EQ(s.engine_setup_s, 6.0);
  EXPECT_DOUBLE_EQ(s.post_load_s, 5.0 + 2.0 + 0.2);
  EXPECT_DOUBLE_EQ(s.before_load_s(), 4.0 + 0.2 + 6.0);
}

TEST(StartupProfile, BetweenMeasuredSizesEachPhaseIsLinearInTheBytes) {
  // 2 GB is halfway: the mean of each phase (post-load 7.2 and 10.4).
  const StartupPhases s = interpolate_startup(two_sizes(), 2e9);
  EXPECT_NEAR(s.process_start_s, 5.0, 1e-12);
  EXPECT_NEAR(s.gpu_context_s, 0.3, 1e-12);
  EXPECT_NEAR(s.engine_setup_s, 7.0, 1e-12);
  EXPECT_NEAR(s.post_load_s, 8.8, 1e-12);
  EXPECT_NEAR(s.compile_s, 5.5, 1e-12);
  EXPECT_NEAR(s.graph_capture_s, 3.0, 1e-12);
}

TEST(StartupProfile, OutsideTheMeasuredSizesTheNearestMeasuredModelStands) {
  EXPECT_DOUBLE_EQ(interpolate_startup(two_sizes(), 1e8).post_load_s, 7.2);
  EXPECT_DOUBLE_EQ(interpolate_startup(two_sizes(), 6.5e10).post_load_s, 10.4);
  EXPECT_DOUBLE_EQ(interpolate_startup(two_sizes(), 6.5e10).process_start_s, 6.0);
}

TEST(StartupProfile, SizesOutOfOrderAreRefusedWithTheirPath) {
  StartupProfile p = two_sizes();
  std::swap(p.models[0], p.models[1]);
  try {
    check_startup(p, "startup");
    FAIL() << "expected a ConfigError";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("startup.models[1].checkpoint_bytes"), std::string::npos) << e.what();
  }
}

}  // namespace slsim
