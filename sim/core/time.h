#pragma once
// Simulated time: an integer count of nanoseconds, so that event order never depends on
// floating-point rounding and runs are byte-identical across machines.

#include <cmath>
#include <compare>
#include <cstdint>
#include <limits>
#include <stdexcept>
#include <string>

namespace slsim {

class Time {
 public:
  constexpr Time() = default;

  static constexpr Time from_ns(int64_t ns) { return Time(ns); }
  // Rounds to the nearest nanosecond; callers convert rates and sizes once, here.
  static Time from_seconds(double s) { return Time(round_half_away(s * 1e9)); }
  static Time from_ms(double ms) { return Time(round_half_away(ms * 1e6)); }
  static constexpr Time zero() { return Time(0); }
  static constexpr Time max() { return Time(std::numeric_limits<int64_t>::max()); }

  constexpr int64_t ns() const { return ns_; }
  constexpr double seconds() const { return static_cast<double>(ns_) * 1e-9; }
  constexpr double ms() const { return static_cast<double>(ns_) * 1e-6; }

  // This time stretched by `factor`, to the nearest nanosecond; exact for a factor of 1.
  Time scaled(double factor) const {
    return factor == 1 ? *this : Time(round_half_away(static_cast<double>(ns_) * factor));
  }

  constexpr auto operator<=>(const Time&) const = default;
  constexpr Time operator+(Time o) const { return Time(ns_ + o.ns_); }
  constexpr Time operator-(Time o) const { return Time(ns_ - o.ns_); }
  constexpr Time& operator+=(Time o) {
    ns_ += o.ns_;
    return *this;
  }
  constexpr Time& operator-=(Time o) {
    ns_ -= o.ns_;
    return *this;
  }

 private:
  constexpr explicit Time(int64_t ns) : ns_(ns) {}
  // std::llround's result without its library call (a step time is rounded several times per
  // simulated step): truncation and the remainder are exact for every double below 2^63, and
  // above 2^52 every double is an integer already.
  static int64_t round_half_away(double v) {
    if (!(std::fabs(v) < 0x1p62)) {
      // Beyond int64 (or NaN) a conversion would wrap silently: a bug, since config fields are
      // bounded (kMaxSeconds) before any time is made of them.
      if (!(std::fabs(v) < 0x1p63)) out_of_range(v);
      return static_cast<int64_t>(std::llround(v));
    }
    const auto whole = static_cast<int64_t>(v);
    const double rest = v - static_cast<double>(whole);
    // Without branches: which way a step time rounds is a coin toss a predictor cannot learn.
    return whole + static_cast<int64_t>(rest >= 0.5) - static_cast<int64_t>(rest <= -0.5);
  }
  [[noreturn]] static void out_of_range(double ns) {
    throw std::out_of_range("a time of " + std::to_string(ns * 1e-9) + " s is beyond int64 nanoseconds");
  }
  int64_t ns_ = 0;
};

// Time to move `bytes` at `gbytes_per_s` (10^9 bytes per second).
inline Time transfer_time(double bytes, double gbytes_per_s) {
  return Time::from_seconds(bytes / (gbytes_per_s * 1e9));
}

}  // namespace slsim
