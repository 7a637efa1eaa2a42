#include "sim/workload/generators.h"

#include <algorithm>
#include <cmath>
#include <fstream>

#include "sim/core/errors.h"

namespace slsim {

double weibull_shape_for_cv(double cv) {
  // The CV falls monotonically with k; bisect log k.
  const auto cv_of = [](double k) {
    return std::sqrt(std::exp(std::lgamma(1 + 2 / k) - 2 * std::lgamma(1 + 1 / k)) - 1);
  };
  double lo = std::log(0.02), hi = std::log(100.0);
  for (int i = 0; i < 100; ++i) {
    const double mid = (lo + hi) / 2;
    if (cv_of(std::exp(mid)) > cv)
      lo = mid;
    else
      hi = mid;
  }
  return std::exp((lo + hi) / 2);
}

GapDistribution::GapDistribution(Family family, double rate_per_s, double cv, std::optional<double> weibull_shape)
    : family_(family), rate_per_s_(rate_per_s) {
  if (family == Family::gamma) {
    shape_ = 1 / (cv * cv);
    scale_ = 1 / (rate_per_s * shape_);
  } else if (family == Family::weibull) {
    shape_ = weibull_shape ? *weibull_shape : weibull_shape_for_cv(cv);
    scale_ = 1 / (rate_per_s * std::exp(std::lgamma(1 + 1 / shape_)));
  }
}

double GapDistribution::draw(RandomStream& random) const {
  switch (family_) {
    case Family::gamma:
      return random.gamma(shape_, scale_);
    case Family::weibull:
      return random.weibull(shape_, scale_);
    case Family::exponential:
      break;
  }
  return random.exponential(rate_per_s_);
}

TimeWarp::TimeWarp(const SourceSpec& spec)
    : on_s_(spec.on_s), off_s_(spec.off_s), amplitude_(spec.diurnal_amplitude), period_s_(spec.diurnal_period_s) {}

double TimeWarp::operator()(double u) const {
  double t = u;
  if (amplitude_ > 0) {
    // Λ(t) = t + c(1 − cos ωt) with c = aT/2π is the expected arrivals by t (in units of the
    // base rate); t = Λ⁻¹(u) lies in [u − 2c, u], where Λ is increasing: bisect.
    const double omega = 2 * M_PI / period_s_;
    const double c = amplitude_ / omega;
    double lo = std::max(0.0, u - 2 * c), hi = u;
    for (int i = 0; i < 60; ++i) {
      const double mid = (lo + hi) / 2;
      if (mid + c * (1 - std::cos(omega * mid)) < u)
        lo = mid;
      else
        hi = mid;
    }
    t = (lo + hi) / 2;
  }
  if (on_s_ > 0 && off_s_ > 0) {
    const double cycles = std::floor(t / on_s_);
    t = cycles * (on_s_ + off_s_) + (t - cycles * on_s_);
  }
  return t;
}

std::vector<std::pair<int64_t, int64_t>> read_length_table(const std::filesystem::path& path) {
  std::ifstream in(path);
  if (!in) throw InputError(path.string() + ": cannot open the length table");
  std::string line;
  if (!std::getline(in, line)) throw TraceError(path.string(), 1, "empty file; expected a header");
  if (!line.empty() && line.back() == '\r') line.pop_back();
  std::vector<std::string> columns;
  for (size_t pos = 0;;) {
    const size_t comma = line.find(',', pos);
    columns.push_back(line.substr(pos, comma == std::string::npos ? comma : comma - pos));
    if (comma == std::string::npos) break;
    pos = comma + 1;
  }
  const auto column_of = [&](const std::string& name) {
    const auto it = std::find(columns.begin(), columns.end(), name);
    if (it == columns.end()) throw TraceError(path.string(), 1, "no column \"" + name + "\" in the header");
    return static_cast<size_t>(it - columns.begin());
  };
  const size_t input_column = column_of("num_prefill_tokens");
  const size_t output_column = column_of("num_decode_tokens");
  std::vector<std::pair<int64_t, int64_t>> rows;
  uint64_t line_number = 1;
  while (std::getline(in, line)) {
    ++line_number;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty()) continue;
    std::vector<std::string> fields;
    for (size_t pos = 0;;) {
      const size_t comma = line.find(',', pos);
      fields.push_back(line.substr(pos, comma == std::string::npos ? comma : comma - pos));
      if (comma == std::string::npos) break;
      pos = comma + 1;
    }
    const auto number = [&](size_t column, const char* name) {
      if (column >= fields.size())
        throw TraceError(path.string(), line_number, std::string("field ") + name + ": missing");
      // Some tables write integral counts as floats ("512.0").
      char* end = nullptr;
      const double v = std::strtod(fields[column].c_str(), &end);
      if (end == fields[column].c_str() || *end != '\0' || !(v >= 1))
        throw TraceError(path.string(), line_number, std::string("field ") + name + ": expected a positive number");
      return static_cast<int64_t>(std::llround(v));
    };
    rows.emplace_back(number(input_column, "num_prefill_tokens"), number(output_column, "num_decode_tokens"));
  }
  if (rows.empty()) throw InputError(path.string() + ": the length table has no rows");
  return rows;
}

std::pair<int64_t, int64_t> cap_to_context(int64_t input, int64_t output, int64_t max_context) {
  input = std::clamp<int64_t>(input, 1, std::max<int64_t>(max_context - 1, 1));
  output = std::clamp<int64_t>(output, 1, std::max<int64_t>(max_context - input, 1));
  return {input, output};
}

LengthSampler::LengthSampler(const SourceSpec& spec, const std::filesystem::path& table, RandomStream random)
    : kind_(spec.lengths.kind),
      input_(spec.input_tokens),
      output_(spec.output_tokens),
      input_sigma_(spec.lengths.input_sigma),
      output_sigma_(spec.lengths.output_sigma),
      random_(random) {
  if (kind_ == "table") table_ = read_length_table(table);
}

std::pair<int64_t, int64_t> LengthSampler::draw(int64_t max_context) {
  int64_t input = input_, output = output_;
  if (kind_ == "lognormal") {
    input = std::llround(random_.lognormal(std::log(static_cast<double>(input_)), input_sigma_));
    output = std::llround(random_.lognormal(std::log(static_cast<double>(output_)), output_sigma_));
  } else if (kind_ == "table") {
    std::tie(input, output) = table_[random_.below(table_.size())];
  }
  return cap_to_context(input, output, max_context);
}

GapDistribution::Family gap_family(const std::string& kind) {
  if (kind == "gamma") return GapDistribution::Family::gamma;
  if (kind == "weibull") return GapDistribution::Family::weibull;
  return GapDistribution::Family::exponential;
}

GeneratedSource::GeneratedSource(const SourceSpec& spec, const ModelCatalogue& catalogue, ModelAssigner assigner,
                                 LengthSampler lengths, RandomStream arrivals)
    : gaps_(gap_family(spec.kind), spec.rate_per_s * spec.rate_scale, spec.cv, spec.weibull_shape),
      warp_(spec),
      requests_(spec.requests),
      max_context_(catalogue.max_context),
      assigner_(std::move(assigner)),
      lengths_(std::move(lengths)),
      arrivals_(arrivals) {}

std::optional<Request> GeneratedSource::next() {
  if (requests_ > 0 && emitted_ >= requests_) return std::nullopt;
  ++emitted_;
  clock_s_ += gaps_.draw(arrivals_);
  Request r;
  r.model = assigner_.for_request();
  r.arrival = Time::from_seconds(warp_(clock_s_));
  std::tie(r.input_tokens, r.output_tokens) = lengths_.draw(max_context_[r.model]);
  return r;
}

}  // namespace slsim
