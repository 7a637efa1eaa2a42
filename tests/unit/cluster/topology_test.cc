#include "sim/cluster/topology.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "sim/core/errors.h"
#include "tests/unit/cluster/test_clusters.h"

namespace slsim {
namespace {

using testing::CustomBuilder;
using testing::node_named;
using testing::server_group;

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
  const auto& path = topology.path(topology.remote_storage(), topology.host_memory(3));
  EXPECT_EQ(classes(topology, path), (std::vector<std::string>{"storage", "tor_uplink", "tor_port", "nic"}));
  EXPECT_EQ(topology.link(path[0]).bandwidth_gbps, 1.25);
  // 1 ms to the store's first byte, then three 2 us network hops.
  EXPECT_EQ(topology.path_latency(topology.remote_storage(), topology.host_memory(3)), Time::from_ns(1'006'000));
}

TEST_F(TwoRacks, TorUplinkIsTheRacksNicBandwidthOverOversubscription) {
  const auto& path = topology.path(topology.host_memory(0), topology.host_memory(2));
  ASSERT_EQ(classes(topology, path),
            (std::vector<std::string>{"nic", "tor_port", "tor_uplink", "tor_uplink", "tor_port", "nic"}));
  EXPECT_EQ(topology.link(path[2]).bandwidth_gbps, 2 * 12.5 / 2);
  EXPECT_EQ(topology.link(path[0]).bandwidth_gbps, 12.5);
}

TEST_F(TwoRacks, ServersInOneRackTalkThroughTheirTorOnly) {
  EXPECT_EQ(classes(topology, topology.path(topology.host_memory(0), topology.host_memory(1))),
            (std::vector<std::string>{"nic", "tor_port", "tor_port", "nic"}));
}

TEST_F(TwoRacks, ServerLocalPathsUseTheProfilesLinks) {
  const auto& to_gpu = topology.path(topology.host_memory(1), topology.gpu(1, 1));
  ASSERT_EQ(classes(topology, to_gpu), std::vector<std::string>{"pcie"});
  EXPECT_EQ(topology.link(to_gpu[0]).bandwidth_gbps, 25);  // the measured host link, not the nominal 32
  EXPECT_EQ(topology.link(to_gpu[0]).to, topology.gpu(1, 1));
  const auto& read = topology.path(topology.ssd(1), topology.host_memory(1));
  ASSERT_EQ(classes(topology, read), std::vector<std::string>{"ssd_read"});
  EXPECT_EQ(topology.link(read[0]).bandwidth_gbps, 4);
  const auto& write = topology.path(topology.host_memory(1), topology.ssd(1));
  ASSERT_EQ(classes(topology, write), std::vector<std::string>{"ssd_write"});
  EXPECT_EQ(topology.link(write[0]).bandwidth_gbps, 4);  // no ssd_write_gbps: as fast as reads
  const auto& peer = topology.path(topology.gpu(2, 0), topology.gpu(2, 1));
  EXPECT_EQ(classes(topology, peer), (std::vector<std::string>{"gpu_interconnect", "gpu_interconnect"}));
  EXPECT_EQ(topology.link(peer[0]).bandwidth_gbps, 300);
}

TEST_F(TwoRacks, PathsAreCachedAndReturnTheSameVector) {
  const size_t before = topology.cached_paths();
  const auto& first = topology.path(topology.host_memory(0), topology.host_memory(3));
  const auto& again = topology.path(topology.host_memory(0), topology.host_memory(3));
  EXPECT_EQ(&first, &again);
  EXPECT_EQ(topology.cached_paths(), before + 1);
}

TEST_F(TwoRacks, PathFromANodeToItselfIsEmpty) {
  EXPECT_TRUE(topology.path(topology.host_memory(0), topology.host_memory(0)).empty());
}

TEST(Topology, DefaultPutsEveryServerInOneRack) {
  Cluster cluster({server_group(3)}, 1.25);
  Topology topology(cluster, TopologyParams{});
  const auto& path = topology.path(topology.host_memory(0), topology.host_memory(2));
  EXPECT_EQ(classes(topology, path), (std::vector<std::string>{"nic", "tor_port", "tor_port", "nic"}));
}

TEST(Topology, HeterogeneousServersKeepTheirOwnFigures) {
  ServerGroupSpec fast = server_group(1, 8, 50);
  fast.server.ssd_write_gbps = 2;
  Cluster cluster({server_group(1, 1), fast}, 1.25);
  Topology topology(cluster, TopologyParams{});
  EXPECT_THROW(topology.gpu(0, 1), std::out_of_range);
  EXPECT_NO_THROW(topology.gpu(1, 7));
  EXPECT_EQ(topology.link(topology.path(topology.host_memory(1), topology.nic(1))[0]).bandwidth_gbps, 50);
  EXPECT_EQ(topology.link(topology.path(topology.host_memory(1), topology.ssd(1))[0]).bandwidth_gbps, 2);
  // One rack: its uplink carries the sum of both NICs.
  const auto& up = topology.path(topology.host_memory(1), topology.remote_storage());
  EXPECT_EQ(topology.link(up[2]).link_class, "tor_uplink");
  EXPECT_EQ(topology.link(up[2]).bandwidth_gbps, 62.5);
}

TEST(Topology, RemoteSiteSitsBehindItsWanLink) {
  Cluster cluster({server_group(2), server_group(1, 2, 12.5, "edge")}, 1.25);
  TopologyParams params;
  params.sites.push_back(SiteParams{"edge", 0.5, 30});
  Topology topology(cluster, params);
  const auto& path = topology.path(topology.remote_storage(), topology.host_memory(2));
  EXPECT_EQ(classes(topology, path), (std::vector<std::string>{"storage", "wan", "tor_uplink", "tor_port", "nic"}));
  EXPECT_EQ(topology.link(path[1]).bandwidth_gbps, 0.5);
  EXPECT_EQ(topology.path_latency(topology.remote_storage(), topology.host_memory(2)),
            Time::from_ms(1) + Time::from_ms(30) + Time::from_ns(3 * 2000));
  // The main site's servers do not cross the WAN.
  EXPECT_EQ(classes(topology, topology.path(topology.remote_storage(), topology.host_memory(0))),
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
  const auto& path = topology.path(topology.remote_storage(), topology.gpu(0, 0));
  EXPECT_EQ(classes(topology, path), (std::vector<std::string>{"wan", "nic", "pcie"}));
  EXPECT_EQ(topology.path_latency(topology.remote_storage(), topology.gpu(0, 0)), Time::from_ns(501'000));
  EXPECT_EQ(topology.node_kind(node_named(topology, "store")), NodeKind::remote_storage);
}

TEST(Topology, UnreachableNodeThrowsNamingBothEnds) {
  Cluster cluster({server_group(1, 1)}, 1.25);
  CustomBuilder b;
  b.link("host", "gpu", 20);
  Topology topology(cluster, b.params);
  try {
    topology.path(topology.gpu(0, 0), topology.host_memory(0));
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

}  // namespace
}  // namespace slsim
