#pragma once
// The servers of the cluster and which of their GPUs are taken. Read-only views of this
// state are what placement policies see.

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "sim/cluster/hardware.h"
#include "sim/core/ids.h"

namespace slsim {

struct ServerGroupSpec {
  ServerProfile server;
  GpuProfile gpu;
  int64_t count = 1;
  std::string site;  // empty: the main site; else a remote site of the topology
};

struct Server {
  ServerId id;
  const ServerProfile* profile = nullptr;
  const GpuProfile* gpu = nullptr;
  int64_t free_gpus = 0;
  int64_t instances = 0;  // instances placed here, loading or ready
  std::vector<bool> gpu_taken;
  std::string_view site;  // its group's site
};

class Cluster {
 public:
  Cluster(std::vector<ServerGroupSpec> groups, double remote_storage_gbytes_per_s);
  // Servers point into groups_, so a copy would point into the original.
  Cluster(const Cluster&) = delete;
  Cluster& operator=(const Cluster&) = delete;

  const IdVector<ServerId, Server>& servers() const { return servers_; }
  const Server& server(ServerId id) const { return servers_[id]; }
  double remote_storage_gbytes_per_s() const { return remote_storage_gbytes_per_s_; }

  // Takes the lowest-numbered free GPUs of the server for one instance and returns their indices.
  std::vector<int64_t> take_gpus(ServerId id, int64_t gpus);
  // Takes the free GPU `gpu` of the server for one instance.
  std::vector<int64_t> take_gpu(ServerId id, int64_t gpu);
  void give_back_gpus(ServerId id, const std::vector<int64_t>& gpus);

 private:
  std::vector<ServerGroupSpec> groups_;
  IdVector<ServerId, Server> servers_;
  double remote_storage_gbytes_per_s_;
};

}  // namespace slsim
