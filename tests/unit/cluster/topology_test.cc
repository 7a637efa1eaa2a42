#include "sim/cluster/topology.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <limits>
#include <optional>
#include <string>
#include <vector>

#include "sim/core/errors.h"
#include "sim/core/random.h"
#include "tests/unit/cluster/test_clusters.h"

namespace slsim {
namespace {

using testing::CustomBuilder;
using testing::node_named;
using testing::random_fabric;
using testing::RandomFabric;
using testing::server_group;

// The search Topology used before it kept per-source trees and scratch buffers, over the link
// list (a node's out-edges are its links in the order they were added): one breadth-first search
// per pair, stopping after the layer that reaches `to`. nullopt: unreachable.
std::optional<std::vector<LinkId>> reference_path(const Topology& t, NodeId from, NodeId to) {
  if (from == to) return std::vector<LinkId>{};
  std::vector<std::vector<LinkId>> out_links(t.node_count());
  for (LinkId id = 0; id < t.link_count(); ++id) out_links[t.link(id).from].push_back(id);
  constexpr uint32_t kUnseen = std::numeric_limits<uint32_t>::max();
  std::vector<uint32_t> depth(t.node_count(), kUnseen);
  std::vector<double> width_gbytes_per_s(t.node_count(), 0);
  std::vector<LinkId> arrived_by(t.node_count(), kNoLink);
  depth[from] = 0;
  width_gbytes_per_s[from] = std::numeric_limits<double>::infinity();
  std::vector<NodeId> frontier = {from};
  std::vector<NodeId> next;
  bool found = false;
  while (!frontier.empty() && !found) {
    next.clear();
    for (const NodeId node : frontier) {
      for (const LinkId link : out_links[node]) {
        const NodeId target = t.link(link).to;
        const double width = std::min(width_gbytes_per_s[node], t.link(link).bandwidth_gbytes_per_s);
        if (depth[target] == kUnseen) {
          depth[target] = depth[node] + 1;
          next.push_back(target);
        } else if (depth[target] != depth[node] + 1 || width <= width_gbytes_per_s[target]) {
          continue;
        }
        width_gbytes_per_s[target] = width;
        arrived_by[target] = link;
        if (target == to) found = true;
      }
    }
    frontier.swap(next);
  }
  if (!found) return std::nullopt;
  std::vector<LinkId> path;
  for (NodeId node = to; node != from; node = t.link(arrived_by[node]).from) path.push_back(arrived_by[node]);
  std::reverse(path.begin(), path.end());
  return path;
}

// Asks for every pair in a random order, so that sources switch to a complete search's tree at
// different points, and compares each path (or the refusal) with the reference search's.
void expect_reference_paths(const Topology& t, RandomStream& rng, const std::string& label) {
  std::vector<std::pair<NodeId, NodeId>> pairs;
  for (NodeId from = 0; from < t.node_count(); ++from)
    for (NodeId to = 0; to < t.node_count(); ++to) pairs.emplace_back(from, to);
  for (size_t i = pairs.size(); i > 1; --i) std::swap(pairs[i - 1], pairs[rng.below(i)]);
  for (const auto& [from, to] : pairs) {
    const auto expected = reference_path(t, from, to);
    if (expected) {
      EXPECT_EQ(t.path(from, to), *expected) << label << ": " << t.node_name(from) << " -> " << t.node_name(to);
    } else {
      EXPECT_THROW(t.path(from, to), InputError) << label << ": " << t.node_name(from) << " -> " << t.node_name(to);
    }
  }
}

std::vector<std::string> classes(const Topology& t, const std::vector<LinkId>& path) {
  std::vector<std::string> out;
  for (const LinkId id : path) out.push_back(t.link(id).link_class);
  return out;
}

// Four two-GPU servers, two per rack, 2:1 oversubscribed.
struct TwoRacks : ::testing::Test {
  Cluster cluster{{server_group(4)}, 1.25};
  TopologyParams params = [] {
    TopologyParams p;
    p.servers_per_rack = 2;
    p.oversubscription = 2;
    return p;
  }();
  Topology topology{cluster, params};
};

TEST_F(TwoRacks, RemoteStoreReachesHostMemoryOverSpineTorAndNic) {
  const auto& path = topology.path(topology.remote_storage(), topology.host_memory(ServerId(3)));
  EXPECT_EQ(classes(topology, path), (std::vector<std::string>{"storage", "tor_uplink", "tor_port", "nic"}));
  EXPECT_EQ(topology.link(path[0]).bandwidth_gbytes_per_s, 1.25);
  // 1 ms to the store's first byte, then three 2 us network hops.
  EXPECT_EQ(topology.path_latency(topology.remote_storage(), topology.host_memory(ServerId(3))),
            Time::from_ns(1'006'000));
}

TEST_F(TwoRacks, TorUplinkIsTheRacksNicBandwidthOverOversubscription) {
  const auto& path = topology.path(topology.host_memory(ServerId(0)), topology.host_memory(ServerId(2)));
  ASSERT_EQ(classes(topology, path),
            (std::vector<std::string>{"nic", "tor_port", "tor_uplink", "tor_uplink", "tor_port", "nic"}));
  EXPECT_EQ(topology.link(path[2]).bandwidth_gbytes_per_s, 2 * 12.5 / 2);
  EXPECT_EQ(topology.link(path[0]).bandwidth_gbytes_per_s, 12.5);
}

TEST_F(TwoRacks, ServersInOneRackTalkThroughTheirTorOnly) {
  EXPECT_EQ(classes(topology, topology.path(topology.host_memory(ServerId(0)), topology.host_memory(ServerId(1)))),
            (std::vector<std::string>{"nic", "tor_port", "tor_port", "nic"}));
}

TEST_F(TwoRacks, ServerLocalPathsUseTheProfilesLinks) {
  const auto& to_gpu = topology.path(topology.host_memory(ServerId(1)), topology.gpu(ServerId(1), 1));
  ASSERT_EQ(classes(topology, to_gpu), std::vector<std::string>{"pcie"});
  EXPECT_EQ(topology.link(to_gpu[0]).bandwidth_gbytes_per_s, 25);  // the measured host link, not the nominal 32
  EXPECT_EQ(topology.link(to_gpu[0]).to, topology.gpu(ServerId(1), 1));
  const auto& read = topology.path(topology.ssd(ServerId(1)), topology.host_memory(ServerId(1)));
  ASSERT_EQ(classes(topology, read), std::vector<std::string>{"ssd_read"});
  EXPECT_EQ(topology.link(read[0]).bandwidth_gbytes_per_s, 4);
  const auto& write = topology.path(topology.host_memory(ServerId(1)), topology.ssd(ServerId(1)));
  ASSERT_EQ(classes(topology, write), std::vector<std::string>{"ssd_write"});
  EXPECT_EQ(topology.link(write[0]).bandwidth_gbytes_per_s, 4);  // no ssd_write_gbytes_per_s: as fast as reads
  const auto& peer = topology.path(topology.gpu(ServerId(2), 0), topology.gpu(ServerId(2), 1));
  EXPECT_EQ(classes(topology, peer), (std::vector<std::string>{"gpu_interconnect", "gpu_interconnect"}));
  EXPECT_EQ(topology.link(peer[0]).bandwidth_gbytes_per_s, 300);
}

TEST_F(TwoRacks, PathsAreCachedAndReturnTheSameVector) {
  const size_t before = topology.cached_paths();
  const auto& first = topology.path(topology.host_memory(ServerId(0)), topology.host_memory(ServerId(3)));
  const auto& again = topology.path(topology.host_memory(ServerId(0)), topology.host_memory(ServerId(3)));
  EXPECT_EQ(&first, &again);
  EXPECT_EQ(topology.cached_paths(), before + 1);
}

TEST_F(TwoRacks, PathFromANodeToItselfIsEmpty) {
  EXPECT_TRUE(topology.path(topology.host_memory(ServerId(0)), topology.host_memory(ServerId(0))).empty());
}

// Four two-GPU servers, two per rack, 2:1 oversubscribed; the first three give each GPU a
// 50 GB/s RDMA NIC, the fourth has none.
struct ComputeNetwork : ::testing::Test {
  Cluster cluster{{[] {
                     ServerGroupSpec g = server_group(3);
                     g.server.gpu_nic_gbytes_per_s = 50;
                     return g;
                   }(),
                   server_group(1)},
                  1.25};
  TopologyParams params = [] {
    TopologyParams p;
    p.servers_per_rack = 2;
    p.oversubscription = 2;
    return p;
  }();
  Topology topology{cluster, params};
};

TEST_F(ComputeNetwork, GpusOfTwoServersInARackTalkOverTheirOwnNicsAndTheComputeLeaf) {
  const auto& path = topology.path(topology.gpu(ServerId(0), 1), topology.gpu(ServerId(1), 0));
  EXPECT_EQ(classes(topology, path), (std::vector<std::string>{"gpu_nic", "compute_port", "compute_port", "gpu_nic"}));
  for (const LinkId id : path) EXPECT_EQ(topology.link(id).bandwidth_gbytes_per_s, 50);
  EXPECT_EQ(topology.link(path[0]).from, topology.gpu(ServerId(0), 1));
  EXPECT_TRUE(topology.has_gpu_nics(ServerId(0)));
  EXPECT_FALSE(topology.has_gpu_nics(ServerId(3)));
}

TEST_F(ComputeNetwork, ComputeUplinkIsTheRacksGpuNicBandwidthOverOversubscription) {
  // Rack 1 holds server 2 (two GPU NICs) and server 3 (none): 2 x 50 / 2.
  const auto& path = topology.path(topology.gpu(ServerId(0), 0), topology.gpu(ServerId(2), 0));
  ASSERT_EQ(classes(topology, path), (std::vector<std::string>{"gpu_nic", "compute_port", "compute_uplink",
                                                               "compute_uplink", "compute_port", "gpu_nic"}));
  EXPECT_EQ(topology.link(path[2]).bandwidth_gbytes_per_s, 4 * 50 / 2);  // rack 0: servers 0 and 1
  EXPECT_EQ(topology.link(path[3]).bandwidth_gbytes_per_s, 2 * 50 / 2);
}

TEST_F(ComputeNetwork, StorageAndHostTrafficStayOffTheComputeNetwork) {
  EXPECT_EQ(classes(topology, topology.path(topology.remote_storage(), topology.gpu(ServerId(1), 0))),
            (std::vector<std::string>{"storage", "tor_uplink", "tor_port", "nic", "pcie"}));
  EXPECT_EQ(classes(topology, topology.path(topology.host_memory(ServerId(0)), topology.host_memory(ServerId(1)))),
            (std::vector<std::string>{"nic", "tor_port", "tor_port", "nic"}));
  EXPECT_EQ(classes(topology, topology.path(topology.gpu(ServerId(0), 0), topology.gpu(ServerId(0), 1))),
            (std::vector<std::string>{"gpu_interconnect", "gpu_interconnect"}));
  // A server without GPU NICs is reached through host memory.
  EXPECT_EQ(classes(topology, topology.path(topology.gpu(ServerId(2), 0), topology.gpu(ServerId(3), 0))),
            (std::vector<std::string>{"pcie", "nic", "tor_port", "tor_port", "nic", "pcie"}));
}

TEST(Topology, ProfilesWithoutGpuNicsBuildTheFabricAsBefore) {
  Cluster plain({server_group(2)}, 1.25);
  const Topology topology(plain, TopologyParams{});
  // Spine, store, ToR; per server host memory, SSD, NIC, GPU switch, 2 GPUs.
  EXPECT_EQ(topology.node_count(), 3u + 2 * 6);
  for (const Link& link : topology.links()) EXPECT_EQ(link.link_class.find("compute"), std::string::npos);
  EXPECT_FALSE(topology.has_gpu_nics(ServerId(0)));
}

TEST(Topology, DefaultPutsEveryServerInOneRack) {
  Cluster cluster({server_group(3)}, 1.25);
  Topology topology(cluster, TopologyParams{});
  const auto& path = topology.path(topology.host_memory(ServerId(0)), topology.host_memory(ServerId(2)));
  EXPECT_EQ(classes(topology, path), (std::vector<std::string>{"nic", "tor_port", "tor_port", "nic"}));
}

TEST(Topology, HeterogeneousServersKeepTheirOwnFigures) {
  ServerGroupSpec fast = server_group(1, 8, 50);
  fast.server.ssd_write_gbytes_per_s = 2;
  Cluster cluster({server_group(1, 1), fast}, 1.25);
  Topology topology(cluster, TopologyParams{});
  EXPECT_THROW(topology.gpu(ServerId(0), 1), std::out_of_range);
  EXPECT_NO_THROW(topology.gpu(ServerId(1), 7));
  EXPECT_EQ(topology.link(topology.path(topology.host_memory(ServerId(1)), topology.nic(ServerId(1)))[0])
                .bandwidth_gbytes_per_s,
            50);
  EXPECT_EQ(topology.link(topology.path(topology.host_memory(ServerId(1)), topology.ssd(ServerId(1)))[0])
                .bandwidth_gbytes_per_s,
            2);
  // One rack: its uplink carries the sum of both NICs.
  const auto& up = topology.path(topology.host_memory(ServerId(1)), topology.remote_storage());
  EXPECT_EQ(topology.link(up[2]).link_class, "tor_uplink");
  EXPECT_EQ(topology.link(up[2]).bandwidth_gbytes_per_s, 62.5);
}

TEST(Topology, RemoteSiteSitsBehindItsWanLink) {
  Cluster cluster({server_group(2), server_group(1, 2, 12.5, "edge")}, 1.25);
  TopologyParams params;
  params.sites.push_back(SiteParams{"edge", 0.5, 30});
  Topology topology(cluster, params);
  const auto& path = topology.path(topology.remote_storage(), topology.host_memory(ServerId(2)));
  EXPECT_EQ(classes(topology, path), (std::vector<std::string>{"storage", "wan", "tor_uplink", "tor_port", "nic"}));
  EXPECT_EQ(topology.link(path[1]).bandwidth_gbytes_per_s, 0.5);
  EXPECT_EQ(topology.path_latency(topology.remote_storage(), topology.host_memory(ServerId(2))),
            Time::from_ms(1) + Time::from_ms(30) + Time::from_ns(3 * 2000));
  // The main site's servers do not cross the WAN.
  EXPECT_EQ(classes(topology, topology.path(topology.remote_storage(), topology.host_memory(ServerId(0)))),
            (std::vector<std::string>{"storage", "tor_uplink", "tor_port", "nic"}));
}

TEST(Topology, ServerInAnUnlistedSiteIsAConfigError) {
  Cluster cluster({server_group(1, 1, 12.5, "moon")}, 1.25);
  try {
    Topology topology(cluster, TopologyParams{});
    FAIL() << "expected a ConfigError";
  } catch (const ConfigError& e) {
    EXPECT_EQ(e.path(), "cluster.topology.sites");
    EXPECT_NE(std::string(e.what()).find("moon"), std::string::npos);
  }
}

TEST(Topology, CustomNodesAndLinksReplaceTheGeneratedFabric) {
  Cluster cluster({server_group(1, 1)}, 1.25);
  CustomBuilder b;
  b.link("store", "nic", 2, 500, "wan").link("nic", "host", 10, 1, "nic").link("host", "gpu", 20, 0, "pcie");
  Topology topology(cluster, b.params);
  EXPECT_EQ(topology.link_count(), 3u);
  const auto& path = topology.path(topology.remote_storage(), topology.gpu(ServerId(0), 0));
  EXPECT_EQ(classes(topology, path), (std::vector<std::string>{"wan", "nic", "pcie"}));
  EXPECT_EQ(topology.path_latency(topology.remote_storage(), topology.gpu(ServerId(0), 0)), Time::from_ns(501'000));
  EXPECT_EQ(topology.node_kind(node_named(topology, "store")), NodeKind::remote_storage);
}

TEST(Topology, UnreachableNodeThrowsNamingBothEnds) {
  Cluster cluster({server_group(1, 1)}, 1.25);
  CustomBuilder b;
  b.link("host", "gpu", 20);
  Topology topology(cluster, b.params);
  try {
    topology.path(topology.gpu(ServerId(0), 0), topology.host_memory(ServerId(0)));
    FAIL() << "expected an InputError";
  } catch (const InputError& e) {
    EXPECT_STREQ(e.what(), "the topology has no path from gpu to host");
  }
}

TEST(Topology, CustomLinkToAnUnknownNodeNamesItsJsonPath) {
  Cluster cluster({server_group(1, 1)}, 1.25);
  CustomBuilder b;
  b.link("host", "gpu", 20).link("host", "nowhere", 1);
  try {
    Topology topology(cluster, b.params);
    FAIL() << "expected a ConfigError";
  } catch (const ConfigError& e) {
    EXPECT_EQ(e.path(), "cluster.topology.custom.links[1].to");
  }
}

TEST(Topology, CustomTopologyMissingAServersGpuIsRefused) {
  Cluster cluster({server_group(1, 2)}, 1.25);  // two GPUs, the builder lists one
  CustomBuilder b;
  EXPECT_THROW(Topology(cluster, b.params), ConfigError);
}

// Random custom fabrics: a duplex spanning tree over some nodes, one-way extra links (some nodes
// reach others only one way, some not at all) and bandwidths from a few values, so that many
// fewest-hop paths tie on width and the link added first has to win.
TEST(TopologyRandomized, PathsMatchTheReferenceSearchOnRandomTopologies) {
  RandomStream rng(20261121);
  size_t trees = 0;
  for (int trial = 0; trial < 60; ++trial) {
    Cluster cluster({server_group(1, 1)}, 1.25);
    const RandomFabric fabric =
        random_fabric(rng, 2, 20, 0.8, 3, [&] { return 1.0 + static_cast<double>(rng.below(3)); });
    Topology topology(cluster, fabric.builder.params);
    expect_reference_paths(topology, rng, "trial " + std::to_string(trial));
    trees += topology.cached_source_trees();
  }
  EXPECT_GT(trees, 0u);  // the complete-search trees were exercised, not only the short searches
}

TEST(TopologyRandomized, PathsMatchTheReferenceSearchOnAGeneratedFabricWithARemoteSite) {
  Cluster cluster({server_group(5, 4), server_group(3, 2, 25, "edge"), server_group(2, 1)}, 2.5);
  TopologyParams params;
  params.servers_per_rack = 2;
  params.oversubscription = 3;
  params.sites.push_back(SiteParams{"edge", 1, 5});
  Topology topology(cluster, params);
  RandomStream rng(5);
  expect_reference_paths(topology, rng, "generated");
  EXPECT_GT(topology.cached_source_trees(), 0u);
}

// The tree's memory (4 bytes a node) goes to sources whose searches cross the fabric: a host's
// search for its own GPU or SSD stops at the first layer (host, SSD, NIC, 8 GPUs: 11 nodes), so
// its 9 destinations reach 99 of the 195 nodes and earn no tree; the store's do.
TEST(Topology, OnlySourcesWhoseSearchesCrossTheFabricKeepATree) {
  Cluster cluster({server_group(16, 8)}, 1.25);
  Topology topology(cluster, TopologyParams{});
  ASSERT_EQ(topology.node_count(), 195u);  // spine, store, ToR; per server host, SSD, NIC, switch, 8 GPUs
  for (const ServerId s : ids_below<ServerId>(16)) {
    for (int64_t g = 0; g < 8; ++g) {
      topology.path(topology.host_memory(s), topology.gpu(s, g));
      topology.path(topology.remote_storage(), topology.gpu(s, g));
    }
    topology.path(topology.host_memory(s), topology.ssd(s));
  }
  EXPECT_EQ(topology.cached_source_trees(), 1u);
  EXPECT_EQ(topology.cached_paths(), 16u * 17);
}

}  // namespace
}  // namespace slsim
