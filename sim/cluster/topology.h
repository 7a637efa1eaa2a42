#pragma once
// The cluster as a Boost.Graph graph of hardware nodes (GPUs, host memory, SSDs, NICs, switches,
// the remote checkpoint store, WAN gateways) joined by directed links with a bandwidth and a
// latency. Transfers (flow_network.h) follow paths of links taken from this graph.
//
// The generated fabric, per server: host memory <-> each GPU ("pcie", the GPU's effective host
// link), each GPU <-> the server's GPU switch node ("gpu_interconnect"; NVSwitch or PCIe P2P, so a
// GPU's total peer bandwidth is capped at its interconnect_gbytes_per_s), SSD -> host memory ("ssd_read")
// and host memory -> SSD ("ssd_write"), host memory <-> NIC ("nic") and NIC <-> its rack's ToR
// switch ("tor_port"). Each rack's ToR <-> its site's spine ("tor_uplink", the sum of the rack's
// NIC bandwidth / oversubscription). The main site's spine <-> the remote store ("storage", the
// cluster's remote_storage_gbytes_per_s). A server whose profile gives each GPU an RDMA NIC
// (gpu_nic_gbytes_per_s) also has, per GPU, GPU <-> its NIC ("gpu_nic") and NIC <-> its rack's
// compute leaf ("compute_port"); each such rack's leaf <-> its site's compute spine
// ("compute_uplink", the rack's GPU-NIC bandwidth / oversubscription). The compute network is apart
// from the storage one, as in a DGX SuperPOD: a GPU of another server is reached over it in 4 hops
// (2 more across racks), while the host path takes 6, so GPU-to-GPU traffic between servers rides
// it and storage traffic never does. A remote site's spine is its WAN gateway, joined to the main
// spine by "wan" links. A spine is one non-blocking node: a folded Clos whose limits are the ToR
// uplinks. `custom` replaces all of this with the user's own nodes and links.
//
// Paths are fewest-hop, the widest of those (ties: the link added first), computed on first use
// and cached. A source asked for many far destinations (the remote store) keeps the predecessor
// links of one complete search and reads its later paths from them.
// Not thread-safe: the cache is filled from const methods; each simulation owns its Topology.

#include <boost/graph/adjacency_list.hpp>
#include <cstdint>
#include <limits>
#include <string>
#include <unordered_map>
#include <vector>

#include "sim/cluster/cluster.h"
#include "sim/core/fields.h"
#include "sim/core/ids.h"
#include "sim/core/time.h"

namespace slsim {

using NodeId = uint32_t;
using LinkId = uint32_t;
using FlowId = uint32_t;
// No node or link: a node a server lacks, or the link a search's source is reached by.
inline constexpr uint32_t kNoNode = std::numeric_limits<uint32_t>::max();
inline constexpr uint32_t kNoLink = std::numeric_limits<uint32_t>::max();

enum class NodeKind : uint8_t {
  gpu,
  host_memory,
  ssd,
  nic,
  tor_switch,
  spine_switch,
  remote_storage,
  wan_gateway,
  gpu_switch,
};

// Directed; a full-duplex cable is two links. `link_class` groups links for statistics.
struct Link {
  NodeId from, to;
  double bandwidth_gbytes_per_s;
  Time latency;
  std::string link_class;
};

struct SiteParams {
  std::string name;
  double wan_gbytes_per_s = 1.25;
  double wan_latency_ms = 20;

  template <class V>
  void visit(V& v) {
    v.required("name", name, "the site's name, as server groups' `site` names it");
    v.field("wan_gbytes_per_s", wan_gbytes_per_s,
            "wide-area link to the main site, per direction, GB/s (gigabytes per second; 1.25 GB/s = 10 Gb/s)",
            positive());
    v.field("wan_latency_ms", wan_latency_ms,
            "one-way wide-area latency, ms (assumption: a regional edge-to-cloud path, 10-40 ms)", at_least(0));
  }
};

struct CustomNodeParams {
  std::string name;
  std::string kind = "host_memory";
  int64_t server = -1;
  int64_t index = 0;

  template <class V>
  void visit(V& v) {
    v.required("name", name, "unique node name, used by links");
    v.choice("kind", kind, "what the node is",
             {"gpu", "host_memory", "ssd", "nic", "tor_switch", "spine_switch", "remote_storage", "wan_gateway",
              "gpu_switch"});
    v.field("server", server, "the server it belongs to (gpu, host_memory, ssd, nic); -1: none", at_least(-1));
    v.field("index", index, "the GPU's index in its server (gpu)", at_least(0));
  }
};

struct CustomLinkParams {
  std::string from;
  std::string to;
  double bandwidth_gbytes_per_s = 0;
  double latency_us = 0;
  std::string link_class;
  bool duplex = true;

  template <class V>
  void visit(V& v) {
    v.required("from", from, "node name");
    v.required("to", to, "node name");
    v.required("bandwidth_gbytes_per_s", bandwidth_gbytes_per_s, "per direction, GB/s (gigabytes per second)",
               positive());
    v.field("latency_us", latency_us, "one-way latency, microseconds", at_least(0));
    v.required("link_class", link_class, "what the link is, for bytes-moved statistics (pcie, nic, wan, ...)");
    v.field("duplex", duplex, "true: also the link to -> from with the same figures");
  }
};

struct CustomTopologyParams {
  std::vector<CustomNodeParams> nodes;
  std::vector<CustomLinkParams> links;

  template <class V>
  void visit(V& v) {
    v.list("nodes", nodes, "every node; each server needs its host_memory, ssd, nic and GPUs 0..n-1");
    v.list("links", links, "every link");
  }
};

struct TopologyParams {
  int64_t servers_per_rack = 0;
  double oversubscription = 1;
  double pcie_latency_us = 1;
  double gpu_interconnect_latency_us = 1;
  double ssd_latency_us = 100;
  double network_hop_latency_us = 2;
  double storage_latency_ms = 1;
  std::vector<SiteParams> sites;
  CustomTopologyParams custom;

  template <class V>
  void visit(V& v) {
    v.field("servers_per_rack", servers_per_rack, "servers under one ToR switch; 0: each site is one rack",
            at_least(0));
    v.field("oversubscription", oversubscription, "a rack's NIC bandwidth / its ToR uplink bandwidth (1: non-blocking)",
            at_least(1));
    v.field("pcie_latency_us", pcie_latency_us,
            "host-GPU link latency, us (assumption: a PCIe DMA round trip is about 1 us)", at_least(0));
    v.field("gpu_interconnect_latency_us", gpu_interconnect_latency_us,
            "GPU-GPU link latency, us (assumption: NVLink/P2P copies start within about 1 us)", at_least(0));
    v.field("ssd_latency_us", ssd_latency_us,
            "SSD access latency, us (NVMe datasheets: about 100 us to the first byte of a read)", at_least(0));
    v.field("network_hop_latency_us", network_hop_latency_us,
            "latency of each NIC and switch hop, us (assumption: datacenter Ethernet, 1-3 us per hop)", at_least(0));
    v.field("storage_latency_ms", storage_latency_ms,
            "remote store's time to the first byte, ms (assumption: a MinIO/S3-like object store on the LAN)",
            at_least(0));
    v.list("sites", sites, "remote sites (edge, another cloud) behind a wide-area link to the main site");
    v.object("custom", custom, "an explicit node and link list that replaces the generated fabric");
  }
};

class Topology {
 public:
  Topology(const Cluster& cluster, const TopologyParams& params);

  NodeId gpu(ServerId server, int64_t index) const;
  NodeId host_memory(ServerId server) const;
  NodeId ssd(ServerId server) const;
  NodeId nic(ServerId server) const;
  NodeId remote_storage() const;  // the central checkpoint store
  // Whether the server's GPUs have RDMA NICs of their own on the compute network.
  bool has_gpu_nics(ServerId server) const { return server_nodes(server).gpu_nics; }

  // Throws InputError naming both nodes if `to` cannot be reached from `from`.
  const std::vector<LinkId>& path(NodeId from, NodeId to) const;
  Time path_latency(NodeId from, NodeId to) const;
  const Link& link(LinkId id) const { return links_[id]; }
  size_t link_count() const { return links_.size(); }
  const std::vector<Link>& links() const { return links_; }
  size_t node_count() const { return node_names_.size(); }
  NodeKind node_kind(NodeId node) const { return node_kinds_[node]; }
  const std::string& node_name(NodeId node) const { return node_names_[node]; }
  size_t cached_paths() const { return path_cache_.size(); }
  size_t cached_source_trees() const { return source_trees_.size(); }

 private:
  struct ServerNodes {
    NodeId host_memory = kNoNode, ssd = kNoNode, nic = kNoNode;
    std::vector<NodeId> gpus;
    bool gpu_nics = false;
  };
  using Graph = boost::adjacency_list<boost::vecS, boost::vecS, boost::directedS, boost::no_property, LinkId>;

  NodeId add_node(NodeKind kind, std::string name);
  void add_link(NodeId from, NodeId to, double bandwidth_gbytes_per_s, Time latency, const std::string& link_class);
  void add_duplex(NodeId a, NodeId b, double bandwidth_gbytes_per_s, Time latency, const std::string& link_class);
  void generate(const Cluster& cluster, const TopologyParams& params);
  void build_custom(const Cluster& cluster, const CustomTopologyParams& custom);
  // Breadth-first search state kept between searches, so that a search costs what it touches.
  struct Search {
    std::vector<uint32_t> depth;
    std::vector<double> width_gbytes_per_s;
    std::vector<LinkId> arrived_by;
    std::vector<NodeId> reached;  // in discovery order, which is the order nodes are expanded in
  };

  std::vector<LinkId> find_path(NodeId from, NodeId to) const;
  void search(NodeId from, NodeId stop_after_layer_of) const;
  std::vector<LinkId> trace_back(const std::vector<LinkId>& arrived_by, NodeId from, NodeId to) const;
  const ServerNodes& server_nodes(ServerId server) const;

  Graph graph_;
  std::vector<NodeKind> node_kinds_;
  std::vector<std::string> node_names_;
  std::vector<Link> links_;
  IdVector<ServerId, ServerNodes> servers_;
  NodeId remote_storage_ = kNoNode;
  mutable std::unordered_map<uint64_t, std::vector<LinkId>> path_cache_;
  mutable Search search_;
  // Per source: nodes its early-exit searches have reached so far; at node_count() it earns a tree.
  mutable std::vector<uint64_t> nodes_reached_from_;
  // Per such source: the link each node is reached by in a complete search (kNoLink: unreachable).
  mutable std::unordered_map<NodeId, std::vector<LinkId>> source_trees_;
};

}  // namespace slsim
