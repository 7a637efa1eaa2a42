#pragma once
// Token-level model switching on shared cards (Aegaeon, SOSP'25): on a server whose profile sets
// gpu_memory_sharing = switching, the gpus_sharing_compute GPUs of a card are seats for
// instances of any models, each sized as if it had the card alone (the GPU profile's memory for
// its weights and KV cache), but only the card's active seat has its weights and KV on the card
// and steps; the others keep theirs in host memory and their requests wait. The card switches
// when its active seat runs out of work or its quantum ends with another seat waiting: the
// outgoing seat's KV (the blocks its requests hold) goes to host memory and the incoming seat's
// weights and its KV come back, as flows over the seats' host links that share bandwidth with
// every other transfer, then a fixed overhead (the policy's), then the incoming seat steps for
// the quantum the policy gives it. The outgoing seat's weights are dropped, never copied: host
// memory holds every seated model's weights (an assumption: that copy is outside the DRAM
// checkpoint cache's accounting). A seat whose load brought its weights to a card that no seat
// held takes it without a switch.
//
// Invariants: on each card at most one seat is active, and none while a switch is in progress;
// only the active seat begins steps; a seat waits at most once.

#include <cstdint>
#include <optional>
#include <vector>

#include "sim/cluster/cluster.h"
#include "sim/cluster/flow_network.h"
#include "sim/cluster/topology.h"
#include "sim/control/instance_registry.h"
#include "sim/control/live_migration.h"
#include "sim/core/simulator.h"
#include "sim/policy/switching/switching.h"

namespace slsim {

class ModelSwitching final : public EventHandler, public FlowListener {
 public:
  ModelSwitching(Simulator& sim, const Cluster& cluster, InstanceRegistry& instances, FlowNetwork& network,
                 const Topology& topology, const SwitchPolicy& policy, MigrationHost& host);

  // Whether any server's cards switch between models; false: may_step always allows.
  bool any() const { return !cards_.empty(); }
  bool switching(ServerId server) const {
    return cluster_.server(server).profile->gpu_memory_sharing == GpuMemorySharing::switching;
  }
  // Whether the instance, not stepping, may begin a step now. On a switching card only its
  // active seat may; another seat with requests waits for the card (a switch begins, or the
  // active seat's run is cut short once its quantum is over) and is kicked when it has it.
  bool may_step(InstanceId id);
  // The instance is released: it leaves its card, which switches on if others wait.
  void leave(InstanceId id);
  int64_t switches() const { return switches_; }
  int64_t switched_bytes() const { return switched_bytes_; }

  void on_event(const Event& event) override;
  const char* name() const override { return "model switching"; }
  void on_flow_done(FlowId flow, uint64_t tag) override;
  // Throws std::logic_error unless the invariants hold.
  void audit() const;

 private:
  enum EventKind : uint16_t { kQuantumEnd, kSwitchDone };
  struct Seat {
    bool present = false;
    uint32_t card = 0;
    int64_t fresh_epoch = 0;         // its weights are on the card while the card's epoch is this
    int64_t offloaded_kv_bytes = 0;  // in host memory while it is not active
    Time waiting_since;
    bool waiting = false;
  };
  struct Card {
    ServerId server;
    std::optional<InstanceId> active;
    std::optional<InstanceId> incoming;  // a switch to it in progress
    std::vector<InstanceId> waiting;     // in the order they began waiting
    std::vector<FlowId> flows;
    Time switch_began;
    Time quantum_end;
    EventSeq quantum_event = 0;
    EventSeq done_event = 0;
    int64_t epoch = 0;  // activations so far
  };

  Seat& seat(InstanceId id);
  void wait(Card& card, InstanceId id);
  SwitchCandidate candidate(InstanceId id) const;
  std::vector<SwitchCandidate> candidates(const Card& card) const;
  // The card goes to the waiting seat the policy picks.
  void begin_switch(uint32_t card);
  // begin_switch() from `asking`'s may_step(): true if the card is its now.
  bool switch_for(uint32_t card, InstanceId asking);
  void activate(uint32_t card, InstanceId id, Time switch_time);
  void switch_moved(uint32_t card);

  Simulator& sim_;
  const Cluster& cluster_;
  InstanceRegistry& instances_;
  FlowNetwork& network_;
  const Topology& topology_;
  const SwitchPolicy& policy_;
  MigrationHost& host_;
  uint16_t handler_;
  std::vector<uint32_t> first_card_;  // by server: the index of its first card in cards_
  std::vector<Card> cards_;
  std::vector<Seat> seats_;  // by instance id
  // The instance whose may_step() is in progress: activated, it is not kicked (it steps on return).
  std::optional<InstanceId> asking_;
  int64_t switches_ = 0;
  int64_t switched_bytes_ = 0;
};

}  // namespace slsim
