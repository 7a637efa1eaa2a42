#include "sim/metrics/recorder.h"

#include <fmt/format.h>

#include <cmath>

namespace slsim {
namespace {

Json distribution(const QuantileSketch& samples) {
  Json d = Json::object();
  if (samples.count() == 0) {
    for (const char* k : {"mean", "p50", "p90", "p99", "max"}) d[k] = nullptr;
    return d;
  }
  d["mean"] = samples.mean();
  d["p50"] = samples.percentile(50);
  d["p90"] = samples.percentile(90);
  d["p99"] = samples.percentile(99);
  d["max"] = samples.max();
  return d;
}

int state_slot(InstanceState s) {
  switch (s) {
    case InstanceState::loading:
      return 0;
    case InstanceState::idle:
      return 1;
    case InstanceState::busy:
      return 2;
    case InstanceState::migrating:
      return 3;
    case InstanceState::released:
      break;
  }
  return -1;
}

void accumulate(EngineStats& into, const EngineStats& from) {
  into.steps += from.steps;
  into.generated_tokens += from.generated_tokens;
  into.prefilled_tokens += from.prefilled_tokens;
  into.preemptions += from.preemptions;
  into.swapped_bytes += from.swapped_bytes;
  into.busy_s += from.busy_s;
  into.prefix_lookups += from.prefix_lookups;
  into.stored_token_s += from.stored_token_s;
  into.allocated_token_s += from.allocated_token_s;
  into.unshared_token_s += from.unshared_token_s;
}

}  // namespace

MetricsRecorder::MetricsRecorder(std::vector<std::string> model_names, std::vector<std::string> server_names,
                                 OutputFile* requests_csv)
    : model_names_(std::move(model_names)),
      server_names_(std::move(server_names)),
      requests_csv_(requests_csv),
      per_model_(model_names_.size()) {
  if (requests_csv_)
    requests_csv_->write(
        "id,model,arrival_s,input_tokens,output_tokens,ttft_s,tpot_s,e2e_s,cold_start,cold_start_s,server,"
        "queue_s,load_s,load_tier,preloaded,migrated\n");
}

void MetricsRecorder::configure(const MetricsParams& params, std::vector<ServerBilling> servers) {
  params_ = params;
  servers_ = IdVector<ServerId, ServerBilling>(std::move(servers));
  cluster_gpus_ = 0;
  for (const ServerBilling& s : servers_) cluster_gpus_ += s.gpus;
}

void MetricsRecorder::on_arrival(const Request& r) { ++per_model_[r.model].requests; }

void MetricsRecorder::on_rejected(const Request& r, const char* reason) {
  Totals& t = per_model_[r.model];
  ++t.rejected;
  ++t.rejections[reason];
}

void MetricsRecorder::on_finished(const RequestOutcome& o) {
  Totals& t = per_model_[o.request.model];
  ++t.completed;
  const double ttft = (o.first_token - o.request.arrival).seconds();
  const double e2e = (o.finished - o.request.arrival).seconds();
  const bool has_tpot = o.request.output_tokens > 1;
  const double tpot =
      has_tpot ? (o.finished - o.first_token).seconds() / static_cast<double>(o.request.output_tokens - 1) : 0;
  t.samples.ttft_s.add(ttft);
  t.samples.e2e_s.add(e2e);
  if (o.preloaded) ++t.preloaded;
  if (has_tpot) t.samples.tpot_s.add(tpot);
  if (ttft <= params_.slo_ttft_s && (!has_tpot || tpot <= params_.slo_tpot_s)) ++t.within_slo;
  if (o.cold_start) {
    ++t.cold_starts;
    t.samples.cold_start_s.add(o.cold_start_wait.seconds());
    ++t.cold_starts_by_tier[tier_name(o.load_tier)];
  }
  if (!requests_csv_) return;
  row_.clear();
  fmt::format_to(std::back_inserter(row_), "{},{},{:.6f},{},{},{:.6f},", o.request.id, model_names_[o.request.model],
                 o.request.arrival.seconds(), o.request.input_tokens, o.request.output_tokens, ttft);
  if (has_tpot) fmt::format_to(std::back_inserter(row_), "{:.6f}", tpot);
  fmt::format_to(std::back_inserter(row_), ",{:.6f},{},{:.6f},{},", e2e, o.cold_start ? 1 : 0,
                 o.cold_start ? o.cold_start_wait.seconds() : 0.0, server_names_[o.server]);
  if (o.cold_start)
    fmt::format_to(std::back_inserter(row_), "{:.6f},{:.6f},{},", o.queue_wait.seconds(), o.load_wait.seconds(),
                   tier_name(o.load_tier));
  else
    row_ += "0.000000,0.000000,,";
  fmt::format_to(std::back_inserter(row_), "{},{}\n", o.preloaded ? 1 : 0, o.migrated);
  requests_csv_->write(row_);
}

void MetricsRecorder::add_gpu_time(const OpenInterval& open, Time until) {
  const int slot = state_slot(open.state);
  if (slot < 0) return;
  const double gpu_seconds = (until - open.since).seconds() * static_cast<double>(open.gpus);
  Totals& t = per_model_[open.model];
  t.gpu_seconds[slot] += gpu_seconds;
  if (open.server.index() < servers_.size()) t.usd += gpu_seconds * servers_[open.server].price_per_gpu_hour / 3600;
}

void MetricsRecorder::on_instance(const InstanceTransition& t) {
  if (t.instance.index() >= open_.size()) open_.resize(t.instance.index() + 1);
  OpenInterval& open = open_[t.instance];
  add_gpu_time(open, t.now);
  open = OpenInterval{t.model, t.server, t.to, t.gpus, t.now};
  free_gpu_seconds_ += (t.now - held_since_).seconds() * static_cast<double>(cluster_gpus_ - gpus_held_);
  held_since_ = t.now;
  if (t.from == InstanceState::released) gpus_held_ += t.gpus;
  if (t.to == InstanceState::released) gpus_held_ -= t.gpus;
}

void MetricsRecorder::on_load(InstanceId, ModelId model, ServerId, Tier tier, Time duration) {
  Totals& t = per_model_[model];
  ++t.loads_by_tier[tier_name(tier)];
  t.samples.load_s.add(duration.seconds());
}

void MetricsRecorder::on_migration(const MigrationRecord& m) {
  ++migrations_by_method_[m.method];
  migration_s_.add((m.ended - m.started).seconds());
  migration_pause_s_.add(m.pause.seconds());
  migration_rounds_ += m.rounds;
  migration_tokens_ += m.tokens_recomputed;
  migration_bytes_ += m.bytes_copied;
  migrated_requests_ += m.requests;
}

void MetricsRecorder::on_placement_estimate(ModelId, Time estimated, Time actual) {
  const double error_s = (actual - estimated).seconds();
  estimate_abs_error_s_.add(std::abs(error_s));
  estimate_error_sum_s_ += error_s;
}

void MetricsRecorder::on_instance_stats(const InstanceStats& s) {
  accumulate(per_model_[s.model].engine, *s.engine);
  latency_estimates_.try_emplace({s.model, *s.gpu}, *s.latency_estimates);
}

Json MetricsRecorder::totals_json(const Totals& t, int64_t unfinished, double simulated_s) const {
  Json j = Json::object();
  j["requests"] = t.requests;
  j["completed"] = t.completed;
  j["rejected"] = t.rejected;
  j["unfinished"] = unfinished;
  j["cold_starts"] = t.cold_starts;
  j["preloaded_requests"] = t.preloaded;
  j["ttft_s"] = distribution(t.samples.ttft_s);
  j["tpot_s"] = distribution(t.samples.tpot_s);
  j["e2e_s"] = distribution(t.samples.e2e_s);
  j["cold_start_s"] = distribution(t.samples.cold_start_s);
  j["load_s"] = distribution(t.samples.load_s);
  j["gpu_seconds"] = {{"busy", t.gpu_seconds[2]},
                      {"idle", t.gpu_seconds[1]},
                      {"loading", t.gpu_seconds[0]},
                      {"migrating", t.gpu_seconds[3]}};
  j["usd"] = t.usd;
  j["slo"] = {
      {"within", t.within_slo},
      {"attainment",
       t.requests > 0 ? Json(static_cast<double>(t.within_slo) / static_cast<double>(t.requests)) : Json(nullptr)},
      {"goodput_per_s", simulated_s > 0 ? Json(static_cast<double>(t.within_slo) / simulated_s) : Json(nullptr)}};
  Json loads = Json::object();
  Json cold = Json::object();
  for (const Tier tier : kAllTiers) {
    const auto load = t.loads_by_tier.find(tier_name(tier));
    loads[tier_name(tier)] = load == t.loads_by_tier.end() ? 0 : load->second;
    const auto cold_start = t.cold_starts_by_tier.find(tier_name(tier));
    cold[tier_name(tier)] = cold_start == t.cold_starts_by_tier.end() ? 0 : cold_start->second;
  }
  j["loads_by_tier"] = loads;
  j["cold_starts_by_tier"] = cold;
  j["rejections"] = t.rejections;
  const EngineStats& e = t.engine;
  auto ratio = [](double num, double den) -> Json { return den > 0 ? Json(num / den) : Json(nullptr); };
  j["generated_tokens"] = e.generated_tokens;
  j["prefilled_tokens"] = e.prefilled_tokens;
  j["instance_throughput_tokens_per_s"] = ratio(static_cast<double>(e.generated_tokens), e.busy_s);
  j["kv_cache_utilization"] = ratio(e.stored_token_s, e.allocated_token_s);
  j["kv_sharing_savings"] = ratio(e.unshared_token_s - e.allocated_token_s, e.unshared_token_s);
  j["preemptions"] = e.preemptions;
  j["swapped_bytes"] = e.swapped_bytes;
  // Per tier: the GPU's, then each offload tier's.
  Json hit_tokens = Json::object();
  Json hit_rate = Json::object();
  const auto add_tier = [&](KvTier tier) {
    const int64_t hits = e.prefix_lookups.hits(tier);
    hit_tokens[kv_tier_name(tier)] = hits;
    hit_rate[kv_tier_name(tier)] =
        ratio(static_cast<double>(hits), static_cast<double>(e.prefix_lookups.prompt_tokens));
  };
  add_tier(KvTier::gpu);
  for (const KvTier tier : offload_tiers_) add_tier(tier);
  j["prefix_cache"] = {
      {"prompt_tokens", e.prefix_lookups.prompt_tokens}, {"hit_tokens", hit_tokens}, {"hit_rate", hit_rate}};
  return j;
}

Json MetricsRecorder::summary(Time end) {
  for (OpenInterval& open : open_) {
    add_gpu_time(open, end);
    open.since = end;
  }
  Totals overall;
  Json models = Json::object();
  for (const ModelId model : per_model_.ids()) {
    Totals& t = per_model_[model];
    overall.requests += t.requests;
    overall.completed += t.completed;
    overall.rejected += t.rejected;
    overall.cold_starts += t.cold_starts;
    overall.preloaded += t.preloaded;
    for (int s = 0; s < 4; ++s) overall.gpu_seconds[s] += t.gpu_seconds[s];
    overall.usd += t.usd;
    overall.within_slo += t.within_slo;
    for (const auto& [k, n] : t.loads_by_tier) overall.loads_by_tier[k] += n;
    for (const auto& [k, n] : t.cold_starts_by_tier) overall.cold_starts_by_tier[k] += n;
    for (const auto& [k, n] : t.rejections) overall.rejections[k] += n;
    accumulate(overall.engine, t.engine);
    overall.samples.ttft_s.merge(t.samples.ttft_s);
    overall.samples.tpot_s.merge(t.samples.tpot_s);
    overall.samples.e2e_s.merge(t.samples.e2e_s);
    overall.samples.cold_start_s.merge(t.samples.cold_start_s);
    overall.samples.load_s.merge(t.samples.load_s);
    models[model_names_[model]] = totals_json(t, t.requests - t.completed - t.rejected, end.seconds());
  }
  Json j = totals_json(overall, overall.requests - overall.completed - overall.rejected, end.seconds());
  free_gpu_seconds_ += (end - held_since_).seconds() * static_cast<double>(cluster_gpus_ - gpus_held_);
  held_since_ = end;
  j["gpu_seconds"]["free"] = free_gpu_seconds_;
  j["slo"]["ttft_s"] = params_.slo_ttft_s;
  j["slo"]["tpot_s"] = params_.slo_tpot_s;
  double reserved_usd = 0;
  for (const ServerBilling& s : servers_)
    reserved_usd += static_cast<double>(s.gpus) * end.seconds() * s.price_per_gpu_hour / 3600;
  const double serverless_usd = overall.usd;
  j["cost"] = {{"billing", params_.billing},
               {"usd", params_.billing == "reserved" ? reserved_usd : serverless_usd},
               {"serverless_usd", serverless_usd},
               {"reserved_usd", reserved_usd},
               {"reserved_gpu_seconds", static_cast<double>(cluster_gpus_) * end.seconds()}};
  j["models"] = std::move(models);
  Json estimates = Json::array();
  for (const auto& [key, parts] : latency_estimates_)
    estimates.push_back({{"model", model_names_[key.first]}, {"gpu", key.second}, {"estimated", parts}});
  j["latency_estimates"] = std::move(estimates);
  j["migrations"] = {{"count", migration_s_.count()},
                     {"by_method", migrations_by_method_},
                     {"requests_moved", migrated_requests_},
                     {"rounds", migration_rounds_},
                     {"tokens_recomputed", migration_tokens_},
                     {"bytes_copied", migration_bytes_},
                     {"duration_s", distribution(migration_s_)},
                     {"pause_s", distribution(migration_pause_s_)}};
  const int64_t estimated = estimate_abs_error_s_.count();
  Json estimates_json = {
      {"count", estimated},
      {"bias_s", estimated == 0 ? Json(nullptr) : Json(estimate_error_sum_s_ / static_cast<double>(estimated))},
      {"absolute_error_s", distribution(estimate_abs_error_s_)}};
  j["placement_estimates"] = std::move(estimates_json);
  return j;
}

}  // namespace slsim
