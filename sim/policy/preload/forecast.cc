#include "sim/policy/preload/forecast.h"

namespace slsim {

void ForecastPreload::on_idle(ModelId model, Time now) {
  tracker_.on_idle(model, now);
  const IdleHistogram& h = tracker_.histogram(model);
  if (h.samples() < static_cast<uint64_t>(params_.min_samples)) return;
  const double lead_s = h.head_s(params_.head_percentile) * (1 - params_.margin);
  const auto target = params_.target == "dram" ? PreloadAction::Target::dram : PreloadAction::Target::instance;
  due_.push_back(PreloadAction{target, model, ServerId::none(), now + Time::from_seconds(lead_s),
                               Time::from_seconds(params_.instance_keep_alive_s)});
}

void ForecastPreload::plan(Time, std::vector<PreloadAction>& actions) {
  actions.insert(actions.end(), due_.begin(), due_.end());
  due_.clear();
}

}  // namespace slsim
