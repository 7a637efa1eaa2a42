#pragma once
// One-line progress displays on stderr for `slsim run` and `slsim sweep`: redrawn in place at
// most a few times a second, shown on a terminal unless --progress or --no-progress says
// otherwise. The wall clock read here never reaches a result.

#include <chrono>
#include <optional>
#include <string>

#include "sim/config/experiment_runner.h"

namespace slsim {

// --progress and --no-progress as an optional choice (InputError when both are given).
std::optional<bool> progress_option(bool progress, bool no_progress);

// Whether to show progress: `forced` (--progress or --no-progress) when given, else whether
// stderr is a terminal.
bool progress_wanted(std::optional<bool> forced);

// "1m05s", or "2h03m" from an hour on.
std::string duration_text(double seconds);

// Redraws one line in place on stderr; throttled so that a caller may call it often.
class ProgressLine {
 public:
  ProgressLine();
  double elapsed_s() const;
  // Draws `text` if the last drawing was at least the redraw interval ago, or when `last`
  // (which also ends the line).
  void draw(const std::string& text, bool last);

 private:
  std::chrono::steady_clock::time_point start_;
  std::chrono::steady_clock::time_point last_drawn_;
  size_t width_ = 0;
};

// The line for a run: simulated time (with its share of the horizon and an ETA when the
// config sets a duration), requests finished of those arrived, wall time.
std::string run_progress_text(const RunProgress& p, double elapsed_s);

}  // namespace slsim
