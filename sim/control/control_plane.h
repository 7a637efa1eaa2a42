#pragma once
// The serverless control plane: receives arrivals, routes them to ready instances (or holds
// them at the router while none is ready), asks the autoscaler for instances, places them
// with the placement policy, loads their checkpoints, runs their engines step by step, and
// releases idle instances when the keep-alive policy says so.
//
// Invariants: a request is in exactly one place (router queue, an engine, or done); an
// instance's GPUs are taken from placement until release; each instance has at most one
// live step event and one live expiry event, recognised by the sequence stored here.

#include <cstdint>
#include <deque>
#include <map>
#include <string>
#include <memory>
#include <unordered_map>
#include <vector>

#include "sim/cluster/cluster.h"
#include "sim/control/observer.h"
#include "sim/core/simulator.h"
#include "sim/engine/engine.h"
#include "sim/engine/latency_model.h"
#include "sim/engine/model_spec.h"
#include "sim/loading/loader.h"
#include "sim/policy/autoscale/autoscaler.h"
#include "sim/policy/keepalive/keepalive.h"
#include "sim/policy/scheduler/placement.h"
#include "sim/workload/source.h"

namespace slsim {

struct ServedModel {
  ModelSpec spec;
  int64_t tensor_parallel = 1;
};

struct Policies {
  std::unique_ptr<PlacementPolicy> placement;
  std::unique_ptr<KeepAlivePolicy> keepalive;
  std::unique_ptr<Autoscaler> autoscaler;
};

class ControlPlane final : public EventHandler {
 public:
  ControlPlane(Simulator& sim, Cluster& cluster, Loader& loader, std::vector<ServedModel> models,
               const EngineParams& engine_params, Policies policies, RequestSource& source,
               ServingObserver& observer);

  // Schedules the first arrival; the simulator's run() does the rest.
  void start();
  // Publishes the engine statistics of the instances still up; call once when the run ends.
  void finish();
  void on_event(const Event& event) override;

 private:
  enum EventKind : uint16_t { kArrival, kLoadDone, kStepDone, kIdleExpired };

  struct InFlight {
    Request request;
    Time first_token;
    bool cold_start = false;
    Time dispatched;
    ServerId server = kNoId;
  };
  struct ModelState {
    ServedModel served;
    int64_t checkpoint_bytes = 0;
    int64_t longest_fit_tokens = 0;  // the largest KV capacity over server types
    std::deque<RequestId> router_queue;
    std::vector<InstanceId> instances;  // loading or ready
    int64_t ready = 0;
    int64_t starting = 0;  // loading, or waiting for GPUs
    int64_t outstanding = 0;
  };
  struct Instance {
    ModelId model = 0;
    ServerId server = 0;
    InstanceState state = InstanceState::released;
    Tier load_tier = Tier::remote;
    const LatencyModel* latency = nullptr;
    std::unique_ptr<SwapChannel> swap;
    std::unique_ptr<Engine> engine;
    EventSeq step_event = 0;
    Time step_started;
    Time step_end;
    EventSeq expiry_event = 0;
  };

  void on_arrival();
  void schedule_next_arrival();
  void route(RequestId id, bool cold_start);
  void autoscale(ModelId model);
  bool try_place(ModelId model);
  void place_waiting();
  void on_load_done(InstanceId id);
  void kick(InstanceId id);
  void on_step_done(InstanceId id);
  void on_idle_expired(InstanceId id);
  void went_idle(InstanceId id);
  void release(InstanceId id);
  void set_state(InstanceId id, InstanceState to);
  void start_engine(Instance& inst, const GpuProfile& gpu);
  void publish_stats(InstanceId id);

  Simulator& sim_;
  Cluster& cluster_;
  Loader& loader_;
  EngineParams engine_params_;
  Policies policies_;
  RequestSource& source_;
  ServingObserver& observer_;
  uint16_t handler_;

  std::vector<ModelState> models_;
  std::vector<Instance> instances_;
  std::vector<InstanceId> free_instance_slots_;
  std::deque<ModelId> waiting_for_gpus_;
  std::unordered_map<RequestId, InFlight> in_flight_;
  std::optional<Request> next_arrival_;
  // Stateless, so shared by every instance of a model on one GPU type.
  std::map<std::pair<ModelId, std::string>, std::unique_ptr<LatencyModel>> latency_models_;
};

}  // namespace slsim
