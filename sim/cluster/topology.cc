#include "sim/cluster/topology.h"

#include <fmt/format.h>

#include <algorithm>
#include <limits>
#include <map>
#include <stdexcept>

#include "sim/core/errors.h"

namespace slsim {
namespace {

constexpr const char* kParamsPath = "cluster.topology";

Time microseconds(double us) { return Time::from_seconds(us * 1e-6); }

NodeKind parse_kind(const std::string& kind) {
  static const std::map<std::string, NodeKind> kinds = {
      {"gpu", NodeKind::gpu},
      {"host_memory", NodeKind::host_memory},
      {"ssd", NodeKind::ssd},
      {"nic", NodeKind::nic},
      {"tor_switch", NodeKind::tor_switch},
      {"spine_switch", NodeKind::spine_switch},
      {"remote_storage", NodeKind::remote_storage},
      {"wan_gateway", NodeKind::wan_gateway},
      {"gpu_switch", NodeKind::gpu_switch},
  };
  return kinds.at(kind);
}

uint64_t pair_key(NodeId from, NodeId to) { return (static_cast<uint64_t>(from) << 32) | to; }

}  // namespace

Topology::Topology(const Cluster& cluster, const TopologyParams& params) {
  servers_.resize(cluster.servers().size());
  if (params.custom.nodes.empty() && params.custom.links.empty())
    generate(cluster, params);
  else
    build_custom(cluster, params.custom);
}

NodeId Topology::add_node(NodeKind kind, std::string name) {
  const auto id = static_cast<NodeId>(boost::add_vertex(graph_));
  node_kinds_.push_back(kind);
  node_names_.push_back(std::move(name));
  return id;
}

void Topology::add_link(NodeId from, NodeId to, double bandwidth_gbytes_per_s, Time latency,
                        const std::string& link_class) {
  const auto id = static_cast<LinkId>(links_.size());
  links_.push_back(Link{from, to, bandwidth_gbytes_per_s, latency, link_class});
  boost::add_edge(from, to, id, graph_);
}

void Topology::add_duplex(NodeId a, NodeId b, double bandwidth_gbytes_per_s, Time latency,
                          const std::string& link_class) {
  add_link(a, b, bandwidth_gbytes_per_s, latency, link_class);
  add_link(b, a, bandwidth_gbytes_per_s, latency, link_class);
}

void Topology::generate(const Cluster& cluster, const TopologyParams& params) {
  const Time pcie = microseconds(params.pcie_latency_us);
  const Time interconnect = microseconds(params.gpu_interconnect_latency_us);
  const Time ssd_latency = microseconds(params.ssd_latency_us);
  const Time hop = microseconds(params.network_hop_latency_us);

  const NodeId spine = add_node(NodeKind::spine_switch, "spine");
  remote_storage_ = add_node(NodeKind::remote_storage, "remote_storage");
  add_duplex(remote_storage_, spine, cluster.remote_storage_gbytes_per_s(), Time::from_ms(params.storage_latency_ms),
             "storage");

  // Each site's spine: the main spine, or the site's WAN gateway.
  std::map<std::string, NodeId, std::less<>> site_spines = {{"", spine}};
  for (size_t i = 0; i < params.sites.size(); ++i) {
    const SiteParams& site = params.sites[i];
    const std::string path = fmt::format("{}.sites[{}].name", kParamsPath, i);
    if (site.name.empty()) throw ConfigError(path, "a site needs a non-empty name (empty is the main site)");
    if (site_spines.count(site.name)) throw ConfigError(path, "site \"" + site.name + "\" is listed twice");
    const NodeId gateway = add_node(NodeKind::wan_gateway, "site." + site.name + ".gateway");
    add_duplex(gateway, spine, site.wan_gbytes_per_s, Time::from_ms(site.wan_latency_ms), "wan");
    site_spines.emplace(site.name, gateway);
  }

  // Racks fill in server order within each site.
  struct Rack {
    NodeId tor;
    NodeId spine;
    double nic_gbytes_per_s_sum = 0;
    int64_t servers = 0;
    std::string site;
    NodeId compute_leaf = kNoNode;  // made with the rack's first server that has GPU NICs
    double gpu_nic_gbytes_per_s_sum = 0;
  };
  std::map<std::string, NodeId, std::less<>> compute_spines;  // by site, made with its first compute leaf
  std::vector<Rack> racks;
  std::map<std::string, size_t, std::less<>> open_rack_of_site;
  for (const Server& server : cluster.servers()) {
    const auto site = site_spines.find(server.site);
    if (site == site_spines.end())
      throw ConfigError(fmt::format("{}.sites", kParamsPath),
                        fmt::format("server {} is in site \"{}\", which is not listed", server.id, server.site));
    auto open = open_rack_of_site.find(server.site);
    if (open == open_rack_of_site.end() ||
        (params.servers_per_rack > 0 && racks[open->second].servers == params.servers_per_rack)) {
      const std::string prefix = server.site.empty() ? "" : "site." + std::string(server.site) + ".";
      const NodeId tor = add_node(NodeKind::tor_switch, fmt::format("{}rack{}.tor", prefix, racks.size()));
      racks.push_back(Rack{tor, site->second, 0, 0, std::string(server.site)});
      open = open_rack_of_site.insert_or_assign(std::string(server.site), racks.size() - 1).first;
    }
    Rack& rack = racks[open->second];
    ++rack.servers;
    rack.nic_gbytes_per_s_sum += server.profile->nic_gbytes_per_s;

    ServerNodes& nodes = servers_[server.id];
    const std::string name = fmt::format("server{}", server.id);
    nodes.host_memory = add_node(NodeKind::host_memory, name + ".host_memory");
    nodes.ssd = add_node(NodeKind::ssd, name + ".ssd");
    nodes.nic = add_node(NodeKind::nic, name + ".nic");
    add_link(nodes.ssd, nodes.host_memory, server.profile->ssd_read_gbytes_per_s, ssd_latency, "ssd_read");
    add_link(nodes.host_memory, nodes.ssd, server.profile->effective_ssd_write_gbytes_per_s(), ssd_latency,
             "ssd_write");
    add_duplex(nodes.host_memory, nodes.nic, server.profile->nic_gbytes_per_s, hop, "nic");
    add_duplex(nodes.nic, rack.tor, server.profile->nic_gbytes_per_s, hop, "tor_port");
    const NodeId gpu_switch = server.profile->gpus > 1 ? add_node(NodeKind::gpu_switch, name + ".gpu_switch") : kNoNode;
    for (int64_t i = 0; i < server.profile->gpus; ++i) {
      const NodeId gpu = add_node(NodeKind::gpu, fmt::format("{}.gpu{}", name, i));
      nodes.gpus.push_back(gpu);
      add_duplex(nodes.host_memory, gpu, server.gpu->effective_host_link_gbytes_per_s(), pcie, "pcie");
      if (gpu_switch != kNoNode)
        add_duplex(gpu, gpu_switch, server.gpu->interconnect_gbytes_per_s, interconnect, "gpu_interconnect");
    }
    if (const auto& gpu_nic = server.profile->gpu_nic_gbytes_per_s) {
      if (rack.compute_leaf == kNoNode) {
        const std::string& tor_name = node_names_[rack.tor];  // "...rackN.tor"
        rack.compute_leaf = add_node(NodeKind::tor_switch, tor_name.substr(0, tor_name.size() - 4) + ".compute_leaf");
        if (!compute_spines.count(rack.site)) {
          const std::string prefix = rack.site.empty() ? "" : "site." + rack.site + ".";
          compute_spines.emplace(rack.site, add_node(NodeKind::spine_switch, prefix + "compute_spine"));
        }
      }
      nodes.gpu_nics = true;
      rack.gpu_nic_gbytes_per_s_sum += *gpu_nic * static_cast<double>(server.profile->gpus);
      for (int64_t i = 0; i < server.profile->gpus; ++i) {
        const NodeId nic = add_node(NodeKind::nic, fmt::format("{}.gpu{}.nic", name, i));
        add_duplex(nodes.gpus[static_cast<size_t>(i)], nic, *gpu_nic, pcie, "gpu_nic");
        add_duplex(nic, rack.compute_leaf, *gpu_nic, hop, "compute_port");
      }
    }
  }
  for (const Rack& rack : racks)
    add_duplex(rack.tor, rack.spine, rack.nic_gbytes_per_s_sum / params.oversubscription, hop, "tor_uplink");
  for (const Rack& rack : racks)
    if (rack.compute_leaf != kNoNode)
      add_duplex(rack.compute_leaf, compute_spines.at(rack.site),
                 rack.gpu_nic_gbytes_per_s_sum / params.oversubscription, hop, "compute_uplink");
}

void Topology::build_custom(const Cluster& cluster, const CustomTopologyParams& custom) {
  const std::string nodes_path = fmt::format("{}.custom.nodes", kParamsPath);
  std::map<std::string, NodeId, std::less<>> by_name;
  for (size_t i = 0; i < custom.nodes.size(); ++i) {
    const CustomNodeParams& spec = custom.nodes[i];
    const std::string path = fmt::format("{}[{}]", nodes_path, i);
    if (by_name.count(spec.name)) throw ConfigError(path + ".name", "node \"" + spec.name + "\" is listed twice");
    const NodeKind kind = parse_kind(spec.kind);
    const NodeId id = add_node(kind, spec.name);
    by_name.emplace(spec.name, id);
    const bool per_server =
        kind == NodeKind::gpu || kind == NodeKind::host_memory || kind == NodeKind::ssd || kind == NodeKind::nic;
    if (!per_server) {
      if (kind == NodeKind::remote_storage) {
        if (remote_storage_ != kNoNode) throw ConfigError(path + ".kind", "only one remote_storage node is allowed");
        remote_storage_ = id;
      }
      continue;
    }
    if (spec.server < 0 || static_cast<size_t>(spec.server) >= servers_.size())
      throw ConfigError(path + ".server", fmt::format("a {} node needs the id of one of the cluster's {} servers",
                                                      spec.kind, servers_.size()));
    const ServerId server(static_cast<uint32_t>(spec.server));
    ServerNodes& nodes = servers_[server];
    NodeId* slot = nullptr;
    if (kind == NodeKind::gpu) {
      const int64_t gpus = cluster.server(server).profile->gpus;
      if (spec.index >= gpus)
        throw ConfigError(path + ".index", fmt::format("server {} has {} GPUs", spec.server, gpus));
      nodes.gpus.resize(static_cast<size_t>(gpus), kNoNode);
      slot = &nodes.gpus[static_cast<size_t>(spec.index)];
    } else {
      slot = kind == NodeKind::host_memory ? &nodes.host_memory : kind == NodeKind::ssd ? &nodes.ssd : &nodes.nic;
    }
    if (*slot != kNoNode)
      throw ConfigError(
          path, fmt::format("server {} already has this {} node (\"{}\")", spec.server, spec.kind, node_names_[*slot]));
    *slot = id;
  }
  if (remote_storage_ == kNoNode) throw ConfigError(nodes_path, "expected one node of kind remote_storage");
  for (const ServerId s : servers_.ids()) {
    const ServerNodes& nodes = servers_[s];
    const int64_t gpus = cluster.server(s).profile->gpus;
    const bool complete = nodes.host_memory != kNoNode && nodes.ssd != kNoNode && nodes.nic != kNoNode &&
                          nodes.gpus.size() == static_cast<size_t>(gpus) &&
                          std::find(nodes.gpus.begin(), nodes.gpus.end(), kNoNode) == nodes.gpus.end();
    if (!complete)
      throw ConfigError(nodes_path,
                        fmt::format("server {} needs a host_memory, an ssd, a nic and gpu nodes 0..{}", s, gpus - 1));
  }
  for (size_t i = 0; i < custom.links.size(); ++i) {
    const CustomLinkParams& spec = custom.links[i];
    const std::string path = fmt::format("{}.custom.links[{}]", kParamsPath, i);
    const auto from = by_name.find(spec.from);
    if (from == by_name.end()) throw ConfigError(path + ".from", "no node named \"" + spec.from + "\"");
    const auto to = by_name.find(spec.to);
    if (to == by_name.end()) throw ConfigError(path + ".to", "no node named \"" + spec.to + "\"");
    if (from->second == to->second) throw ConfigError(path + ".to", "a link joins two different nodes");
    const Time latency = microseconds(spec.latency_us);
    if (spec.duplex)
      add_duplex(from->second, to->second, spec.bandwidth_gbytes_per_s, latency, spec.link_class);
    else
      add_link(from->second, to->second, spec.bandwidth_gbytes_per_s, latency, spec.link_class);
  }
}

const Topology::ServerNodes& Topology::server_nodes(ServerId server) const {
  if (server.index() >= servers_.size())
    throw std::out_of_range(fmt::format("server {} is not in the topology ({} servers)", server, servers_.size()));
  return servers_[server];
}

NodeId Topology::gpu(ServerId server, int64_t index) const {
  const ServerNodes& nodes = server_nodes(server);
  if (index < 0 || static_cast<size_t>(index) >= nodes.gpus.size())
    throw std::out_of_range(fmt::format("server {} has no GPU {}", server, index));
  return nodes.gpus[static_cast<size_t>(index)];
}
NodeId Topology::host_memory(ServerId server) const { return server_nodes(server).host_memory; }
NodeId Topology::ssd(ServerId server) const { return server_nodes(server).ssd; }
NodeId Topology::nic(ServerId server) const { return server_nodes(server).nic; }
NodeId Topology::remote_storage() const { return remote_storage_; }

const std::vector<LinkId>& Topology::path(NodeId from, NodeId to) const {
  const uint64_t key = pair_key(from, to);
  if (const auto it = path_cache_.find(key); it != path_cache_.end()) return it->second;
  return path_cache_.emplace(key, find_path(from, to)).first->second;
}

Time Topology::path_latency(NodeId from, NodeId to) const {
  Time total;
  for (const LinkId id : path(from, to)) total += links_[id].latency;
  return total;
}

// Breadth-first over the graph's out-edges (Boost's breadth_first_search has no early exit short
// of throwing from a visitor). Among paths with the fewest hops it keeps the widest (largest
// bottleneck bandwidth; ties: the link added first), so GPU peers talk over their interconnect
// rather than through host memory. A node's arrived_by is final once the layer before its own has
// been expanded, so a search that stops after the layer reaching `to` and a complete search agree
// on every node the first one reaches: one complete search serves every destination. It is kept
// for a source once that source's early-exit searches have together reached node_count() nodes,
// which bounds the trees' memory by the work they save (in practice the remote store, whose paths
// cross the fabric; a server's host memory reaches its own GPUs and SSD within a few nodes and
// keeps using short searches).
std::vector<LinkId> Topology::find_path(NodeId from, NodeId to) const {
  if (from >= node_count() || to >= node_count())
    throw std::out_of_range(fmt::format("no node {} or {} in the topology", from, to));
  if (from == to) return {};
  if (const auto tree = source_trees_.find(from); tree != source_trees_.end())
    return trace_back(tree->second, from, to);
  if (nodes_reached_from_.empty()) nodes_reached_from_.assign(node_count(), 0);
  if (nodes_reached_from_[from] >= node_count()) {
    search(from, kNoNode);
    return trace_back(source_trees_.emplace(from, search_.arrived_by).first->second, from, to);
  }
  search(from, to);
  nodes_reached_from_[from] += search_.reached.size();
  return trace_back(search_.arrived_by, from, to);
}

// Expands layer by layer; stops after the layer that reaches `stop_after_layer_of` (kNoNode: runs
// to completion). Its result stays in search_ until the next search, which first clears only
// the nodes this one reached.
void Topology::search(NodeId from, NodeId stop_after_layer_of) const {
  constexpr uint32_t kUnseen = std::numeric_limits<uint32_t>::max();
  Search& s = search_;
  if (s.depth.empty()) {
    s.depth.assign(node_count(), kUnseen);
    s.width_gbytes_per_s.assign(node_count(), 0);
    s.arrived_by.assign(node_count(), kNoLink);
  }
  for (const NodeId node : s.reached) {
    s.depth[node] = kUnseen;
    s.width_gbytes_per_s[node] = 0;
    s.arrived_by[node] = kNoLink;
  }
  s.reached.clear();
  s.depth[from] = 0;
  s.width_gbytes_per_s[from] = std::numeric_limits<double>::infinity();
  s.reached.push_back(from);
  bool found = false;
  size_t layer_end = s.reached.size();
  for (size_t next = 0; next < s.reached.size(); ++next) {
    if (next == layer_end) {
      if (found) return;
      layer_end = s.reached.size();
    }
    const NodeId node = s.reached[next];
    for (const auto edge : boost::make_iterator_range(boost::out_edges(node, graph_))) {
      const auto target = static_cast<NodeId>(boost::target(edge, graph_));
      const LinkId link = graph_[edge];
      const double width = std::min(s.width_gbytes_per_s[node], links_[link].bandwidth_gbytes_per_s);
      if (s.depth[target] == kUnseen) {
        s.reached.push_back(target);
        s.depth[target] = s.depth[node] + 1;
      } else if (s.depth[target] != s.depth[node] + 1 || width <= s.width_gbytes_per_s[target]) {
        continue;
      }
      s.width_gbytes_per_s[target] = width;
      s.arrived_by[target] = link;
      if (target == stop_after_layer_of) found = true;
    }
  }
}

std::vector<LinkId> Topology::trace_back(const std::vector<LinkId>& arrived_by, NodeId from, NodeId to) const {
  if (arrived_by[to] == kNoLink)
    throw InputError(fmt::format("the topology has no path from {} to {}", node_names_[from], node_names_[to]));
  std::vector<LinkId> path;
  for (NodeId node = to; node != from; node = links_[arrived_by[node]].from) path.push_back(arrived_by[node]);
  std::reverse(path.begin(), path.end());
  return path;
}

}  // namespace slsim
