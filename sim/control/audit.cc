#include "sim/control/audit.h"

#include <fmt/format.h>

#include <algorithm>
#include <stdexcept>
#include <string>
#include <vector>

namespace slsim {

void audit_control_plane(const ControlPlaneView& view) {
  auto fail = [](const std::string& what) { throw std::logic_error("control plane: " + what); };
  const RequestCounts& counts = view.counts;
  const InFlightRequests& in_flight = view.in_flight;
  const InstanceRegistry& instances = view.instances;
  if (counts.arrived != counts.finished + counts.rejected + static_cast<int64_t>(in_flight.size()))
    fail(fmt::format("{} requests arrived, but {} finished, {} were rejected and {} are in flight", counts.arrived,
                     counts.finished, counts.rejected, in_flight.size()));
  int64_t queued = 0;
  for (const ModelId model : instances.model_ids()) {
    const auto& queue = view.router.queue(model);
    queued += static_cast<int64_t>(queue.size());
    int64_t input_tokens = 0;
    for (const RequestId id : queue) {
      const InFlight* f = in_flight.find(id);
      if (!f || !f->server.is_none()) fail(fmt::format("request {} is in a router queue but not waiting there", id));
      input_tokens += f->request.input_tokens;
    }
    if (input_tokens != view.router.queued_input_tokens(model))
      fail(fmt::format("model {}'s router queue holds {} input tokens, but the router counts {}", model, input_tokens,
                       view.router.queued_input_tokens(model)));
  }
  instances.kv_pool().audit([&](InstanceId id) -> const Engine& { return *instances.instance(id).engine; });
  int64_t in_engines = 0;
  IdVector<ModelId, int64_t> in_model_engines(instances.models(), 0);
  IdVector<ServerId, int64_t> held(view.cluster.servers().size(), 0);
  for (const InstanceId id : instances.instance_ids()) {
    const Instance& inst = instances.instance(id);
    if (!inst.engine) continue;
    in_engines += inst.engine->outstanding();
    in_model_engines[inst.model] += inst.engine->outstanding();
    held[inst.server] += static_cast<int64_t>(inst.gpus.size());
    for (const PeerCopy& stage : inst.stages) held[stage.server] += static_cast<int64_t>(stage.gpus.size());
    for (const int64_t gpu : inst.gpus)
      if (!view.cluster.server(inst.server).gpu_taken[static_cast<size_t>(gpu)])
        fail(fmt::format("instance {} holds GPU {} of server {}, which is marked free", id, gpu, inst.server));
    inst.engine->audit();
    if (!inst.live_source.is_none()) {
      const Instance& source = instances.instance(inst.live_source);
      if (!serving(inst.state) || !source.engine || source.model != inst.model || !source.live_source.is_none())
        fail(fmt::format("instance {} serves while loading from instance {}, which does not serve its model", id,
                         inst.live_source));
    }
    if (inst.group_pipeline && !serving(inst.state))
      fail(fmt::format("instance {} is a group's pipeline but does not serve", id));
    if (inst.source_share > 0 && (inst.live_source.is_none() || !inst.computing()))
      fail(fmt::format("instance {} puts a share of a step on a source without a live step", id));
    const size_t shadows = view.migrations.shadows_expected(id);
    if (static_cast<size_t>(inst.engine->shadows()) != shadows)
      fail(fmt::format("instance {} holds {} shadow sequences, but its migration sent {} requests", id,
                       inst.engine->shadows(), shadows));
    const int64_t expected = serving(inst.state) ? inst.engine->outstanding() : -1;
    const auto holds_its_leaf = [&] {
      const RouteIndex::Entry entry = instances.model(inst.model).route_index().at(inst.route_leaf);
      return entry.instance == id && entry.outstanding == expected && entry.order == inst.route_order;
    };
    if (inst.indexed_outstanding != expected || (expected >= 0 && !holds_its_leaf()))
      fail(fmt::format("instance {} is in its model's routing index with {} requests, but has {}", id,
                       inst.indexed_outstanding, expected));
  }
  for (const ModelId model : instances.model_ids()) {
    const int64_t in_transit = view.partial_migrations.in_transit(model);
    in_engines += in_transit;
    in_model_engines[model] += in_transit;
  }
  for (const ModelId model : instances.model_ids()) {
    const ModelState& m = instances.model(model);
    if (m.outstanding() != in_model_engines[model])
      fail(fmt::format(
          "model {} counts {} requests outstanding, but its instances' engines hold {} (in transit included)", model,
          m.outstanding(), in_model_engines[model]));
    m.route_index().for_each([&](const RouteIndex::Entry& key) {
      if (instances.instance(key.instance).indexed_outstanding != key.outstanding)
        fail(fmt::format("instance {} is in the routing index with a stale count", key.instance));
    });
  }
  int64_t dispatched = 0;
  in_flight.for_each([&](RequestId, const InFlight& f) { dispatched += !f.server.is_none(); });
  if (queued + dispatched != static_cast<int64_t>(in_flight.size()) || in_engines != dispatched)
    fail(fmt::format("{} requests in flight, but {} are queued at routers and {} in engines ({} dispatched)",
                     in_flight.size(), queued, in_engines, dispatched));
  for (const Server& s : view.cluster.servers()) {
    const auto taken = std::count(s.gpu_taken.begin(), s.gpu_taken.end(), true);
    if (held[s.id] != taken || s.free_gpus != s.profile->gpus - taken)
      fail(fmt::format("server {}: instances hold {} GPUs, {} are marked taken and {} free of {}", s.id, held[s.id],
                       taken, s.free_gpus, s.profile->gpus));
  }
}

}  // namespace slsim
