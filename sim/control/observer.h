#pragma once
// Hooks through which the control plane publishes what happens. Metrics, time series and
// timelines subscribe; the control plane never formats output itself.

#include <cstdint>
#include <string>
#include <vector>

#include "sim/core/ids.h"
#include "sim/core/request.h"
#include "sim/core/time.h"
#include "sim/engine/engine.h"
#include "sim/loading/loader.h"

namespace slsim {

// `migrating`: a live migration's source while its requests move, and its destination from
// the end of its load until routing switches to it.
enum class InstanceState : uint8_t { loading, idle, busy, released, migrating };

struct RequestOutcome {
  Request request;
  Time first_token;
  Time finished;
  bool cold_start = false;  // it waited at the router for an instance to start
  Time cold_start_wait;     // arrival until it was handed to a ready instance
  // The cold-start wait split: the part during which its instance was loading, and the rest
  // (waiting for GPUs, for placement, or for process start, and the router's dispatch latency
  // where the request's arrival started its instance).
  Time load_wait;
  Time queue_wait;
  Tier load_tier = Tier::remote;  // meaningful for cold starts
  bool preloaded = false;         // its instance was pre-warmed or read a preloaded checkpoint
  ServerId server = ServerId::none();
  // Times it was moved (or restarted) to make room for another instance, or moved for load balance.
  int64_t migrated = 0;
};

// One instance moved (or preempted) to make room for another model's cold start, or some of
// its requests moved to another instance of its model for load balance ("rebalance").
struct MigrationRecord {
  const char* method = "";  // "preempt", "live-token", "live-kv" or "rebalance"
  ModelId model;            // the victim's
  InstanceId source;
  ServerId from;
  ServerId to = ServerId::none();  // the destination; none for a preemption
  ModelId made_room_for;           // for a rebalance, its own model
  Time started;
  Time ended;
  int64_t rounds = 0;
  int64_t requests = 0;           // moved or restarted
  int64_t tokens_recomputed = 0;  // live-token: prefilled on the destination, over every round
  int64_t bytes_copied = 0;       // live-kv, rebalance: KV cache sent over the network, over every stage
  // The requests' stall, from the source's stop to the switch, plus for live-token the last
  // round's prefill (0 for a preemption).
  Time pause;
};

struct InstanceTransition {
  InstanceId instance;
  ModelId model;
  ServerId server;
  int64_t gpus = 0;
  InstanceState from = InstanceState::released;
  InstanceState to = InstanceState::released;
  Time now;
};

// An instance's engine totals, published when it is released and, for those still up, when
// the run ends.
struct InstanceStats {
  InstanceId instance;
  ModelId model;
  const std::string* gpu = nullptr;
  const EngineStats* engine = nullptr;
  const std::vector<std::string>* latency_estimates = nullptr;
};

class ServingObserver {
 public:
  virtual ~ServingObserver() = default;
  virtual void on_arrival(const Request&) {}
  virtual void on_rejected(const Request&, const char* /*reason*/) {}
  virtual void on_finished(const RequestOutcome&) {}
  virtual void on_instance(const InstanceTransition&) {}
  // An instance finished loading: from which tier, how long since placement.
  virtual void on_load(InstanceId, ModelId, ServerId, Tier, Time /*duration*/) {}
  virtual void on_instance_stats(const InstanceStats&) {}
  virtual void on_migration(const MigrationRecord&) {}
  // A placement policy's estimate of the time until an instance could run, and the time that
  // actually passed until it was ready.
  virtual void on_placement_estimate(ModelId, Time /*estimated*/, Time /*actual*/) {}
  // An engine step (or a fast-forwarded run of decode steps) ended; the instance held
  // `requests` (running or waiting in its engine) during it.
  virtual void on_batch(InstanceId, ModelId, ServerId, Time /*start*/, Time /*end*/, int64_t /*requests*/) {}
};

// Hands every hook to each observer in turn. Kept beside the interface: a hook added above
// must be forwarded here too.
class ObserverFanOut final : public ServingObserver {
 public:
  explicit ObserverFanOut(std::vector<ServingObserver*> observers) : observers_(std::move(observers)) {}
  void on_arrival(const Request& r) override {
    for (auto* o : observers_) o->on_arrival(r);
  }
  void on_rejected(const Request& r, const char* reason) override {
    for (auto* o : observers_) o->on_rejected(r, reason);
  }
  void on_finished(const RequestOutcome& x) override {
    for (auto* o : observers_) o->on_finished(x);
  }
  void on_instance(const InstanceTransition& t) override {
    for (auto* o : observers_) o->on_instance(t);
  }
  void on_load(InstanceId i, ModelId m, ServerId s, Tier t, Time d) override {
    for (auto* o : observers_) o->on_load(i, m, s, t, d);
  }
  void on_instance_stats(const InstanceStats& s) override {
    for (auto* o : observers_) o->on_instance_stats(s);
  }
  void on_batch(InstanceId i, ModelId m, ServerId s, Time start, Time end, int64_t n) override {
    for (auto* o : observers_) o->on_batch(i, m, s, start, end, n);
  }
  void on_migration(const MigrationRecord& r) override {
    for (auto* o : observers_) o->on_migration(r);
  }
  void on_placement_estimate(ModelId m, Time estimated, Time actual) override {
    for (auto* o : observers_) o->on_placement_estimate(m, estimated, actual);
  }

 private:
  std::vector<ServingObserver*> observers_;
};

}  // namespace slsim
