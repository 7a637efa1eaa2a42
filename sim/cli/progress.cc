#include "sim/cli/progress.h"

#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "sim/core/errors.h"

namespace slsim {

namespace {
// Often enough to look alive, rarely enough not to flood a terminal or a log.
constexpr std::chrono::milliseconds kRedrawInterval{250};
}  // namespace

std::optional<bool> progress_option(bool progress, bool no_progress) {
  if (progress && no_progress) throw InputError("--progress and --no-progress: expected one of them");
  if (progress) return true;
  if (no_progress) return false;
  return std::nullopt;
}

bool progress_wanted(std::optional<bool> forced) { return forced.value_or(::isatty(STDERR_FILENO) != 0); }

std::string duration_text(double seconds) {
  const int64_t s = std::llround(seconds);
  return s >= 3600 ? fmt::format("{}h{:02}m", s / 3600, s / 60 % 60) : fmt::format("{}m{:02}s", s / 60, s % 60);
}

ProgressLine::ProgressLine() : start_(std::chrono::steady_clock::now()), last_drawn_(start_ - kRedrawInterval) {}

double ProgressLine::elapsed_s() const {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
}

void ProgressLine::draw(const std::string& text, bool last) {
  const auto now = std::chrono::steady_clock::now();
  if (!last && now - last_drawn_ < kRedrawInterval) return;
  last_drawn_ = now;
  // Blanks over the rest of a longer previous line.
  const std::string padding(width_ > text.size() ? width_ - text.size() : 0, ' ');
  width_ = text.size();
  std::fprintf(stderr, "\r%s%s%s", text.c_str(), padding.c_str(), last ? "\n" : "");
  std::fflush(stderr);
}

std::string run_progress_text(const RunProgress& p, double elapsed_s) {
  std::string text = fmt::format("run: simulated {:.0f} s", p.simulated.seconds());
  std::string eta;
  if (p.horizon && p.horizon->ns() > 0) {
    const double share = std::min(1.0, p.simulated.seconds() / p.horizon->seconds());
    text += fmt::format(" of {:.0f} s ({:.0f}%)", p.horizon->seconds(), 100 * share);
    if (share > 0 && !p.done) eta = ", ETA " + duration_text(elapsed_s * (1 - share) / share);
  }
  text += fmt::format(", {} requests done of {} arrived, {} elapsed", p.finished, p.arrived, duration_text(elapsed_s));
  return text + eta;
}

}  // namespace slsim
