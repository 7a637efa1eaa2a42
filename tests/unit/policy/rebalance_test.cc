#include "sim/policy/rebalance/rebalance.h"

#include <gtest/gtest.h>

#include <vector>

namespace slsim {
namespace {

std::vector<RebalanceMove> plan(const Json& params, const std::vector<InstanceLoad>& loads) {
  RebalancePolicy::Context context;
  const PolicyChoice resolved = rebalance_policies().resolve(PolicyChoice{"llumnix", params}, "policies.rebalance");
  std::vector<RebalanceMove> moves;
  rebalance_policies().make(resolved, context)->plan(loads, moves);
  return moves;
}

// An instance of `capacity` blocks running one request per entry of `blocks` (tokens = 16 per
// block), ids from `first_request`.
InstanceLoad instance(uint32_t id, int64_t capacity, const std::vector<int64_t>& blocks, uint64_t first_request = 0) {
  InstanceLoad l;
  l.instance = InstanceId(id);
  l.capacity_blocks = capacity;
  for (const int64_t b : blocks) {
    l.movable.push_back(MovableRequest{RequestId(first_request++), 16 * b, b});
    l.used_blocks += b;
    ++l.requests;
  }
  return l;
}

}  // namespace

TEST(LlumnixRebalance, KvMovesTheShortestWhileTheSourceStaysAtLeastAsFull) {
  // 60 of 100 blocks against 0: moving 10 leaves 50 vs 10, then 20 leaves 30 vs 30; 30 more
  // would leave 0 vs 60.
  const auto moves = plan({{"threshold", 0.1}}, {instance(0, 100, {30, 10, 20}), instance(1, 100, {})});
  ASSERT_EQ(moves.size(), 1u);
  EXPECT_EQ(moves[0].source, InstanceId(0));
  EXPECT_EQ(moves[0].destination, InstanceId(1));
  EXPECT_EQ(moves[0].requests, (std::vector<RequestId>{RequestId(1), RequestId(2)}));
}

TEST(LlumnixRebalance, LastPicksTheLatestArrivalsThatStillFit) {
  // Request 2 (20 blocks) leaves 40 vs 20; request 1 (10) 30 vs 30; request 0 (30) would invert.
  const auto moves =
      plan({{"threshold", 0.1}, {"pick", "last"}}, {instance(0, 100, {30, 10, 20}), instance(1, 100, {})});
  ASSERT_EQ(moves.size(), 1u);
  EXPECT_EQ(moves[0].requests, (std::vector<RequestId>{RequestId(2), RequestId(1)}));
}

TEST(LlumnixRebalance, KvUsageIsAFractionOfEachInstancesCapacity) {
  // 40 of 100 blocks against 40 of 400: 0.4 vs 0.1 exceeds 0.1 by more than the threshold;
  // a 10-block request leaves 0.3 vs 0.125, a second 0.2 vs 0.15, a third would invert.
  const auto moves = plan({{"threshold", 0.1}}, {instance(0, 100, {10, 10, 10, 10}), instance(1, 400, {40}, 10)});
  ASSERT_EQ(moves.size(), 1u);
  EXPECT_EQ(moves[0].requests.size(), 2u);
}

TEST(LlumnixRebalance, PairsTheMostLoadedWithTheLeastThenTheNextPair) {
  // Requests 4, 3, 1, 0: (4, 0) moves 2; (3, 1) differ by 2 > 1 and move 1.
  const auto moves =
      plan({{"metric", "requests"}, {"threshold", 1}}, {instance(0, 100, {1, 1, 1}, 10), instance(1, 100, {1}, 20),
                                                        instance(2, 100, {1, 1, 1, 1}), instance(3, 100, {})});
  ASSERT_EQ(moves.size(), 2u);
  EXPECT_EQ(moves[0].source, InstanceId(2));
  EXPECT_EQ(moves[0].destination, InstanceId(3));
  EXPECT_EQ(moves[0].requests.size(), 2u);
  EXPECT_EQ(moves[1].source, InstanceId(0));
  EXPECT_EQ(moves[1].destination, InstanceId(1));
  EXPECT_EQ(moves[1].requests.size(), 1u);
}

TEST(LlumnixRebalance, NoMoveWithinTheThreshold) {
  EXPECT_TRUE(
      plan({{"metric", "requests"}, {"threshold", 2}}, {instance(0, 100, {1, 1}), instance(1, 100, {})}).empty());
  EXPECT_TRUE(plan({{"threshold", 0.3}}, {instance(0, 100, {10, 10, 10}), instance(1, 100, {})}).empty());
}

}  // namespace slsim
