#pragma once
// Small hand-made clusters and topologies for the cluster module's tests.

#include <string>
#include <utility>
#include <vector>

#include "sim/cluster/cluster.h"
#include "sim/cluster/topology.h"
#include "sim/core/random.h"

namespace slsim::testing {

// A server with round figures: GPU host link 25 GB/s measured (32 nominal), GPU interconnect
// 300 GB/s, SSD read 4 GB/s, NIC 12.5 GB/s.
inline ServerGroupSpec server_group(int64_t count, int64_t gpus = 2, double nic_gbytes_per_s = 12.5,
                                    std::string site = "") {
  ServerGroupSpec g;
  g.count = count;
  g.site = std::move(site);
  g.server.name = "test-server";
  g.server.gpu = "test-gpu";
  g.server.gpus = gpus;
  g.server.dram_bytes = int64_t{1} << 40;
  g.server.dram_cache_bytes = int64_t{1} << 39;
  g.server.ssd_bytes = int64_t{1} << 42;
  g.server.ssd_cache_bytes = int64_t{1} << 41;
  g.server.ssd_read_gbytes_per_s = 4;
  g.server.nic_gbytes_per_s = nic_gbytes_per_s;
  g.gpu.name = "test-gpu";
  g.gpu.memory_bytes = int64_t{80} << 30;
  g.gpu.hbm_bandwidth_gbytes_per_s = 2000;
  g.gpu.dense_fp16_tflops = 300;
  g.gpu.host_link_gbytes_per_s = 32;
  g.gpu.host_link_measured_gbytes_per_s = 25;
  g.gpu.interconnect_gbytes_per_s = 300;
  return g;
}

// A custom topology for one one-GPU server (its four required nodes and the store) plus the
// named extra nodes, joined by the given one-way links (latency 0 unless given).
struct CustomBuilder {
  TopologyParams params;

  CustomBuilder() {
    node("host", "host_memory", 0);
    node("ssd", "ssd", 0);
    node("nic", "nic", 0);
    node("gpu", "gpu", 0);
    node("store", "remote_storage");
  }
  CustomBuilder& node(std::string name, std::string kind = "tor_switch", int64_t server = -1) {
    params.custom.nodes.push_back(CustomNodeParams{std::move(name), std::move(kind), server, 0});
    return *this;
  }
  CustomBuilder& link(std::string from, std::string to, double gbytes_per_s, double latency_us = 0,
                      std::string link_class = "test") {
    params.custom.links.push_back(
        CustomLinkParams{std::move(from), std::move(to), gbytes_per_s, latency_us, std::move(link_class), false});
    return *this;
  }
};

// A random custom fabric for the randomized tests: the builder's five nodes plus min_switches +
// below(more_switches) switches; a spanning tree of duplex links (each node after the first
// joins an earlier one, with probability tree_link_probability: below 1, some nodes are reached
// only one way or not at all); then below(extra_links_per_node × nodes) one-way links between
// distinct random nodes. Every bandwidth is bandwidth_gbytes_per_s(). The draws come in that order, so a
// seed gives the same fabric every time.
struct RandomFabric {
  CustomBuilder builder;
  std::vector<std::string> names;
};
template <class Bandwidth>
RandomFabric random_fabric(RandomStream& rng, uint64_t min_switches, uint64_t more_switches,
                           double tree_link_probability, uint64_t extra_links_per_node,
                           Bandwidth bandwidth_gbytes_per_s) {
  RandomFabric f;
  f.names = {"host", "ssd", "nic", "gpu", "store"};
  const uint64_t switches = min_switches + rng.below(more_switches);
  for (uint64_t i = 0; i < switches; ++i) {
    // Appended, not "s" + to_string: GCC 12's -Wrestrict misfires on that inlined (a false positive).
    std::string name = "s";
    name += std::to_string(i);
    f.names.push_back(std::move(name));
    f.builder.node(f.names.back());
  }
  for (size_t i = 1; i < f.names.size(); ++i) {
    if (tree_link_probability < 1 && !(rng.uniform() < tree_link_probability)) continue;
    const size_t parent = rng.below(i);
    f.builder.params.custom.links.push_back(
        CustomLinkParams{f.names[parent], f.names[i], bandwidth_gbytes_per_s(), 0, "tree", true});
  }
  for (uint64_t extra = rng.below(extra_links_per_node * f.names.size()); extra > 0; --extra) {
    const size_t from = rng.below(f.names.size());
    const size_t to = (from + 1 + rng.below(f.names.size() - 1)) % f.names.size();
    f.builder.link(f.names[from], f.names[to], bandwidth_gbytes_per_s());
  }
  return f;
}

// The node a custom topology named `name` (nodes are numbered in the order they were listed).
inline NodeId node_named(const Topology& topology, const std::string& name) {
  for (NodeId id = 0; id < topology.node_count(); ++id)
    if (topology.node_name(id) == name) return id;
  throw std::out_of_range("no node " + name);
}

}  // namespace slsim::testing
