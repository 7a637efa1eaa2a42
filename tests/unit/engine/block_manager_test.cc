#include "sim/engine/block_manager.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <vector>

#include "sim/core/random.h"

namespace slsim {
namespace {

constexpr int64_t kBlockSize = 4;
constexpr int64_t kMaxTokens = 16;  // what the contiguous allocator reserves: 4 blocks

class BlockManagerTest : public testing::TestWithParam<KvAllocatorKind> {
 protected:
  std::unique_ptr<BlockManager> make(int64_t blocks) { return make_block_manager(GetParam(), blocks, kBlockSize); }
  bool paged() const { return GetParam() == KvAllocatorKind::paged; }
};

TEST_P(BlockManagerTest, AdmitTakesThePromptsBlocksOrTheWholeReservation) {
  auto m = make(20);
  m->admit(1, 6, kMaxTokens, {});
  EXPECT_EQ(m->blocks_held(1), paged() ? 2 : 4);
  EXPECT_EQ(m->free_blocks(), paged() ? 18 : 16);
  EXPECT_EQ(m->stored_tokens(), 6);
  m->audit();
}

TEST_P(BlockManagerTest, AppendTakesABlockOnlyWhenTheLastIsFull) {
  auto m = make(20);
  m->admit(1, 4, kMaxTokens, {});
  EXPECT_EQ(m->blocks_to_append(1), paged() ? 1 : 0);
  m->append(1);
  EXPECT_EQ(m->blocks_held(1), paged() ? 2 : 4);
  EXPECT_EQ(m->blocks_to_append(1), 0);
  for (int i = 0; i < 3; ++i) m->append(1);
  EXPECT_EQ(m->tokens(1), 8);
  EXPECT_EQ(m->blocks_held(1), paged() ? 2 : 4);
  EXPECT_EQ(m->stored_tokens(), 8);
  m->audit();
}

TEST_P(BlockManagerTest, ForkSharesBlocksAndCopiesTheLastPartialOneOnWrite) {
  auto m = make(20);
  m->admit(1, 6, kMaxTokens, {});  // one full block, one with 2 of 4 slots
  EXPECT_EQ(m->blocks_to_fork(1), paged() ? 0 : 4);
  m->fork(1, 2);
  EXPECT_EQ(m->used_blocks(), paged() ? 2 : 8);
  EXPECT_EQ(m->stored_tokens(), paged() ? 6 : 12);
  EXPECT_EQ(m->unshared_blocks(), paged() ? 4 : 8);
  // The child writes into the shared partial block: it gets its own copy; the parent, now
  // the only holder of the original, writes in place.
  EXPECT_EQ(m->blocks_to_append(2), paged() ? 1 : 0);
  m->append(2);
  EXPECT_EQ(m->used_blocks(), paged() ? 3 : 8);
  EXPECT_EQ(m->blocks_to_append(1), 0);
  m->append(1);
  EXPECT_EQ(m->used_blocks(), paged() ? 3 : 8);
  EXPECT_EQ(m->stored_tokens(), paged() ? 4 + 3 + 3 : 14);
  m->audit();
}

TEST_P(BlockManagerTest, FreeingEverySequenceReturnsEveryBlock) {
  auto m = make(20);
  m->admit(1, 6, kMaxTokens, {});
  m->fork(1, 2);
  m->append(2);
  m->free(1);
  m->audit();
  m->free(2);
  EXPECT_EQ(m->free_blocks(), 20);
  EXPECT_EQ(m->stored_tokens(), 0);
  m->audit();
}

TEST_P(BlockManagerTest, AFreedSequenceIdStartsAgainWithAnEmptyTable) {
  auto m = make(20);
  m->admit(1, 6, kMaxTokens, {});
  m->append(1);
  m->free(1);
  EXPECT_FALSE(m->holds(1));
  m->admit(1, 2, kMaxTokens, {});
  EXPECT_EQ(m->tokens(1), 2);
  EXPECT_EQ(m->blocks_held(1), paged() ? 1 : 4);
  EXPECT_EQ(m->free_blocks(), paged() ? 19 : 16);
  m->audit();
}

// Per-block state grows with the blocks taken: a manager the size of the largest int32 capacity
// is built, used and audited without touching its untaken blocks (it would need 2^31 of each).
TEST_P(BlockManagerTest, UntakenBlocksCostNothing) {
  auto m = make(INT32_MAX);
  EXPECT_EQ(m->free_blocks(), INT32_MAX);
  m->admit(1, 6, kMaxTokens, {});
  m->admit(2, 6, kMaxTokens, {});
  m->free(1);
  m->admit(3, 6, kMaxTokens, {});
  EXPECT_EQ(m->used_blocks(), paged() ? 4 : 8);
  EXPECT_EQ(m->free_blocks(), INT32_MAX - m->used_blocks());
  m->audit();
}

TEST_P(BlockManagerTest, SwapMovesEachDistinctBlockOnceAndKeepsSharing) {
  auto m = make(20);
  m->admit(1, 6, kMaxTokens, {});
  m->fork(1, 2);
  const std::vector<SeqId> group = {1, 2};
  const int64_t used = m->used_blocks();
  EXPECT_EQ(m->swap_out(group), used);
  EXPECT_EQ(m->free_blocks(), 20);
  EXPECT_EQ(m->host_blocks(), used);
  m->audit();
  EXPECT_EQ(m->blocks_to_swap_in(group), used);
  m->swap_in(group);
  EXPECT_EQ(m->used_blocks(), used);
  EXPECT_EQ(m->host_blocks(), 0);
  EXPECT_EQ(m->tokens(2), 6);
  EXPECT_EQ(m->stored_tokens(), paged() ? 6 : 12);
  m->audit();
}

TEST_P(BlockManagerTest, CachedPrefixBlocksAreSharedAcrossRequests) {
  auto m = make(20);
  const std::vector<uint64_t> prefix = {7, 8};
  m->admit(1, 10, kMaxTokens, prefix);
  EXPECT_EQ(m->cached_prefix_blocks(10, prefix), paged() ? 2 : 0);
  EXPECT_EQ(m->blocks_to_admit(10, kMaxTokens, prefix), paged() ? 1 : 4);
  m->admit(2, 10, kMaxTokens, prefix);
  EXPECT_EQ(m->used_blocks(), paged() ? 4 : 8);
  m->free(1);
  m->free(2);
  // The cache holds blocks only while some sequence does.
  EXPECT_EQ(m->cached_prefix_blocks(10, prefix), 0);
  m->audit();
}

// Random admits, appends, forks, swaps and frees: the accounting holds after each, memory
// never exceeds capacity and a paged sequence never holds more than its tokens need.
TEST_P(BlockManagerTest, AccountingIsConservedUnderRandomOperations) {
  auto m = make(64);
  RandomStream random(42);
  std::vector<SeqId> live;
  std::vector<SeqId> swapped;
  SeqId next = 0;
  for (int op = 0; op < 5000; ++op) {
    const uint64_t choice = random.below(6);
    if (choice == 0 || live.empty()) {
      const auto prompt = static_cast<int64_t>(1 + random.below(kMaxTokens - 4));
      const std::vector<uint64_t> prefix = {random.below(3)};
      if (m->blocks_to_admit(prompt, kMaxTokens, prefix) <= m->free_blocks()) {
        m->admit(next, prompt, kMaxTokens, prefix);
        live.push_back(next++);
      }
    } else if (choice <= 2) {
      const SeqId s = live[random.below(live.size())];
      if (m->tokens(s) < kMaxTokens && m->blocks_to_append(s) <= m->free_blocks()) m->append(s);
    } else if (choice == 3) {
      const SeqId s = live[random.below(live.size())];
      if (m->blocks_to_fork(s) <= m->free_blocks()) {
        m->fork(s, next);
        live.push_back(next++);
      }
    } else if (choice == 4) {
      const size_t i = random.below(live.size());
      if (random.below(2) == 0) {
        m->free(live[i]);
      } else {
        const std::vector<SeqId> one = {live[i]};
        m->swap_out(one);
        swapped.push_back(live[i]);
      }
      live.erase(live.begin() + static_cast<std::ptrdiff_t>(i));
    } else if (!swapped.empty()) {
      const std::vector<SeqId> one = {swapped.back()};
      if (m->blocks_to_swap_in(one) <= m->free_blocks()) {
        m->swap_in(one);
        live.push_back(swapped.back());
        swapped.pop_back();
      }
    }
    ASSERT_NO_THROW(m->audit()) << "after operation " << op;
    ASSERT_LE(m->used_blocks(), m->total_blocks());
    for (const SeqId s : live)
      if (paged()) {
        ASSERT_LE(m->blocks_held(s), (m->tokens(s) + kBlockSize - 1) / kBlockSize);
      }
  }
  for (const SeqId s : live) m->free(s);
  for (const SeqId s : swapped) m->free(s);
  EXPECT_EQ(m->free_blocks(), 64);
  EXPECT_EQ(m->host_blocks(), 0);
  m->audit();
}

// A grown sequence holds its appended blocks without ids; a fork must still share them and copy
// only the partial last one when either side writes into it.
TEST_P(BlockManagerTest, AForkOfAGrownSequenceSharesItsBlocksAndCopiesOnlyThePartialLastOne) {
  auto m = make(20);
  m->admit(1, 4, kMaxTokens, {});
  m->append(1, 6);  // 10 tokens: 4 + 4 + 2
  EXPECT_EQ(m->blocks_held(1), paged() ? 3 : 4);
  m->fork(1, 2);
  EXPECT_EQ(m->used_blocks(), paged() ? 3 : 8);
  EXPECT_EQ(m->unshared_blocks(), paged() ? 6 : 8);
  EXPECT_EQ(m->stored_tokens(), paged() ? 10 : 20);
  EXPECT_EQ(m->blocks_to_append(2), paged() ? 1 : 0);
  m->append(2);  // the child copies the shared 2-token block and writes its third token
  EXPECT_EQ(m->blocks_to_append(1), 0);
  m->append(1);  // the parent, alone on the original now, writes in place
  EXPECT_EQ(m->used_blocks(), paged() ? 4 : 8);
  EXPECT_EQ(m->stored_tokens(), paged() ? 4 + 4 + 3 + 3 : 22);
  EXPECT_EQ(m->blocks_held(1), paged() ? 3 : 4);
  EXPECT_EQ(m->blocks_held(2), paged() ? 3 : 4);
  m->audit();
  m->free(1);  // the child still holds the two full blocks
  EXPECT_EQ(m->used_blocks(), paged() ? 3 : 4);
  EXPECT_EQ(m->stored_tokens(), 11);
  m->audit();
  m->free(2);
  EXPECT_EQ(m->free_blocks(), 20);
  EXPECT_EQ(m->stored_tokens(), 0);
  EXPECT_EQ(m->unshared_blocks(), 0);
  m->audit();
}

TEST_P(BlockManagerTest, SwappingAForkedPairKeepsItsSharingAndTheHostCount) {
  auto m = make(20);
  m->admit(1, 4, kMaxTokens, {});
  m->append(1, 6);
  m->fork(1, 2);
  m->append(2);  // paged: two shared full blocks, the parent's 2-token one, the child's 3-token copy
  const std::vector<SeqId> pair = {1, 2};
  EXPECT_EQ(m->swap_out(pair), paged() ? 4 : 8);
  EXPECT_EQ(m->host_blocks(), paged() ? 4 : 8);
  EXPECT_EQ(m->free_blocks(), 20);
  EXPECT_EQ(m->stored_tokens(), 0);
  EXPECT_EQ(m->unshared_blocks(), 0);
  m->audit();
  EXPECT_EQ(m->blocks_to_swap_in(pair), paged() ? 4 : 8);
  m->swap_in(pair);
  EXPECT_EQ(m->used_blocks(), paged() ? 4 : 8);
  EXPECT_EQ(m->host_blocks(), 0);
  EXPECT_EQ(m->stored_tokens(), paged() ? 13 : 21);
  EXPECT_EQ(m->unshared_blocks(), paged() ? 6 : 8);
  EXPECT_EQ(m->blocks_to_append(1), 0);
  EXPECT_EQ(m->blocks_to_append(2), 0);
  m->audit();
  // The child alone: its shared blocks stay on the GPU for the parent and come back as copies.
  const std::vector<SeqId> child = {2};
  EXPECT_EQ(m->swap_out(child), paged() ? 3 : 4);
  EXPECT_EQ(m->used_blocks(), paged() ? 3 : 4);
  EXPECT_EQ(m->host_blocks(), paged() ? 3 : 4);
  EXPECT_EQ(m->stored_tokens(), 10);
  m->audit();
  m->swap_in(child);
  EXPECT_EQ(m->used_blocks(), paged() ? 6 : 8);
  EXPECT_EQ(m->stored_tokens(), 21);
  EXPECT_EQ(m->tokens(2), 11);
  m->audit();
  m->free(1);
  m->free(2);
  EXPECT_EQ(m->free_blocks(), 20);
  EXPECT_EQ(m->host_blocks(), 0);
  m->audit();
}

TEST_P(BlockManagerTest, FreeingASwappedOutForkReturnsItsHostBlocks) {
  auto m = make(20);
  m->admit(1, 6, kMaxTokens, {});
  m->fork(1, 2);
  m->append(2);
  const std::vector<SeqId> pair = {1, 2};
  m->swap_out(pair);
  m->free(1);
  EXPECT_EQ(m->host_blocks(), paged() ? 2 : 4);  // the child's full block and its copy
  m->audit();
  m->free(2);
  EXPECT_EQ(m->host_blocks(), 0);
  EXPECT_EQ(m->free_blocks(), 20);
  m->audit();
}

TEST_P(BlockManagerTest, APrefixCachedPromptGrowsByManyAppends) {
  auto m = make(20);
  const std::vector<uint64_t> prefix = {7, 8};
  m->admit(1, 10, kMaxTokens, prefix);
  m->admit(2, 10, kMaxTokens, prefix);  // paged: two cached blocks shared, a 2-token block each
  EXPECT_EQ(m->used_blocks(), paged() ? 4 : 8);
  EXPECT_EQ(m->stored_tokens(), paged() ? 12 : 20);
  m->append(1, 6);
  for (int i = 0; i < 6; ++i) m->append(2);
  EXPECT_EQ(m->tokens(1), 16);
  EXPECT_EQ(m->tokens(2), 16);
  EXPECT_EQ(m->blocks_held(1), 4);
  EXPECT_EQ(m->used_blocks(), paged() ? 6 : 8);
  EXPECT_EQ(m->stored_tokens(), paged() ? 8 + 8 + 8 : 32);
  EXPECT_EQ(m->unshared_blocks(), 8);
  EXPECT_EQ(m->cached_prefix_blocks(10, prefix), paged() ? 2 : 0);
  m->audit();
  m->free(1);
  EXPECT_EQ(m->cached_prefix_blocks(10, prefix), paged() ? 2 : 0);
  EXPECT_EQ(m->used_blocks(), 4);
  EXPECT_EQ(m->stored_tokens(), 16);
  m->free(2);
  EXPECT_EQ(m->cached_prefix_blocks(10, prefix), 0);
  EXPECT_EQ(m->free_blocks(), 20);
  m->audit();
}

// As above with longer sequences, bulk appends of many tokens, forked groups swapped together
// and several seeds.
TEST_P(BlockManagerTest, AccountingIsConservedUnderRandomBulkOperations) {
  constexpr int64_t kLongMax = 64;  // 16 blocks
  for (uint64_t seed = 1; seed <= 8; ++seed) {
    auto m = make(96);
    RandomStream random(seed);
    std::vector<SeqId> live;
    std::vector<std::vector<SeqId>> swapped;
    SeqId next = 0;
    for (int op = 0; op < 20000; ++op) {
      const uint64_t choice = random.below(8);
      if (choice == 0 || live.empty()) {
        const auto prompt = static_cast<int64_t>(1 + random.below(kLongMax - 8));
        const std::vector<uint64_t> prefix = {random.below(4), 4 + random.below(2), 6 + random.below(2)};
        if (m->blocks_to_admit(prompt, kLongMax, prefix) <= m->free_blocks()) {
          m->admit(next, prompt, kLongMax, prefix);
          live.push_back(next++);
        }
      } else if (choice == 1) {
        const SeqId s = live[random.below(live.size())];
        if (m->tokens(s) < kLongMax && m->blocks_to_append(s) <= m->free_blocks()) m->append(s);
      } else if (choice == 2) {
        const SeqId s = live[random.below(live.size())];
        const int64_t room = kLongMax - m->tokens(s);
        if (room > 0) {
          const auto n = static_cast<int64_t>(1 + random.below(static_cast<uint64_t>(room)));
          const int64_t opened = paged() ? (m->tokens(s) + n + kBlockSize - 1) / kBlockSize - m->blocks_held(s) + 1 : 0;
          if (opened <= m->free_blocks()) m->append(s, n);
        }
      } else if (choice == 3) {
        const SeqId s = live[random.below(live.size())];
        if (m->blocks_to_fork(s) <= m->free_blocks()) {
          m->fork(s, next);
          live.push_back(next++);
        }
      } else if (choice == 4) {
        const size_t i = random.below(live.size());
        m->free(live[i]);
        live.erase(live.begin() + static_cast<std::ptrdiff_t>(i));
      } else if (choice == 5) {
        // Swaps out up to three sequences at once (forks of each other or not).
        std::vector<SeqId> group;
        for (uint64_t k = 1 + random.below(3); k > 0 && !live.empty(); --k) {
          const size_t i = random.below(live.size());
          group.push_back(live[i]);
          live.erase(live.begin() + static_cast<std::ptrdiff_t>(i));
        }
        const int64_t used = m->used_blocks();
        const int64_t host = m->host_blocks();
        const int64_t moved = m->swap_out(group);
        ASSERT_EQ(m->host_blocks(), host + moved);
        ASSERT_GE(used - m->used_blocks(), 0);
        ASSERT_LE(used - m->used_blocks(), moved);
        swapped.push_back(group);
      } else if (choice == 6 && !swapped.empty()) {
        const size_t i = random.below(swapped.size());
        const int64_t needed = m->blocks_to_swap_in(swapped[i]);
        if (needed <= m->free_blocks()) {
          const int64_t used = m->used_blocks();
          m->swap_in(swapped[i]);
          ASSERT_EQ(m->used_blocks(), used + needed);
          live.insert(live.end(), swapped[i].begin(), swapped[i].end());
          swapped.erase(swapped.begin() + static_cast<std::ptrdiff_t>(i));
        }
      } else if (!swapped.empty()) {
        const size_t i = random.below(swapped.size());
        for (const SeqId s : swapped[i]) m->free(s);
        swapped.erase(swapped.begin() + static_cast<std::ptrdiff_t>(i));
      }
      ASSERT_NO_THROW(m->audit()) << "seed " << seed << ", after operation " << op;
      ASSERT_LE(m->used_blocks(), m->total_blocks());
      for (const SeqId s : live)
        if (paged()) {
          ASSERT_EQ(m->blocks_held(s), (m->tokens(s) + kBlockSize - 1) / kBlockSize);
        }
    }
    for (const SeqId s : live) m->free(s);
    for (const auto& group : swapped)
      for (const SeqId s : group) m->free(s);
    EXPECT_EQ(m->free_blocks(), 96);
    EXPECT_EQ(m->stored_tokens(), 0);
    EXPECT_EQ(m->host_blocks(), 0);
    m->audit();
  }
}

INSTANTIATE_TEST_SUITE_P(Allocators, BlockManagerTest,
                         testing::Values(KvAllocatorKind::paged, KvAllocatorKind::contiguous),
                         [](const testing::TestParamInfo<KvAllocatorKind>& info) {
                           return info.param == KvAllocatorKind::paged ? "paged" : "contiguous";
                         });

// Four blocks of 4 tokens. A prompt under prefix ids 10, 11 is freed: with lru retention its two
// blocks stay cached yet count as free, and the same prompt takes them back (2 blocks out of the
// free count, none computed). Freed again (tail first), then a 3-block prompt needs one of them:
// 11's goes, 10's stays. While-referenced forgets both at the first free.
TEST(BlockManager, LruRetentionKeepsFreedPrefixBlocksAsFreeUntilTheirMemoryIsNeeded) {
  PagedBlockManager m(4, kBlockSize, PrefixRetention::lru);
  const std::vector<uint64_t> prefix = {10, 11};
  m.admit(1, 8, kMaxTokens, prefix);
  m.free(1);
  EXPECT_EQ(m.free_blocks(), 4);
  EXPECT_EQ(m.retained_blocks(), 2);
  EXPECT_EQ(m.cached_prefix_blocks(8, prefix), 2);
  EXPECT_EQ(m.blocks_to_admit(8, kMaxTokens, prefix), 2);
  m.admit(2, 8, kMaxTokens, prefix);
  EXPECT_EQ(m.free_blocks(), 2);
  EXPECT_EQ(m.retained_blocks(), 0);
  EXPECT_EQ(m.stored_tokens(), 8);
  m.audit();
  m.free(2);
  m.admit(3, 12, kMaxTokens, std::vector<uint64_t>{20, 21, 22});
  EXPECT_EQ(m.retained_blocks(), 1);
  EXPECT_EQ(m.cached_prefix_blocks(8, std::vector<uint64_t>{10}), 1);
  EXPECT_EQ(m.cached_prefix_blocks(8, std::vector<uint64_t>{0, 11}), 0);
  m.audit();

  PagedBlockManager v0(4, kBlockSize);
  v0.admit(1, 8, kMaxTokens, prefix);
  v0.free(1);
  EXPECT_EQ(v0.cached_prefix_blocks(8, prefix), 0);
}

// Random admissions (prefixes from a few ids), appends, forks, frees and swaps under lru
// retention: the accounting holds after each, and everything freed leaves every block free.
TEST(BlockManager, LruRetentionAccountingIsConservedUnderRandomOperations) {
  PagedBlockManager m(24, kBlockSize, PrefixRetention::lru);
  RandomStream random(7);
  std::vector<SeqId> live;
  std::vector<SeqId> swapped;
  SeqId next = 0;
  for (int op = 0; op < 5000; ++op) {
    const uint64_t choice = random.below(5);
    if (choice == 0 || live.empty()) {
      const auto prompt = static_cast<int64_t>(1 + random.below(kMaxTokens - 4));
      const std::vector<uint64_t> prefix = {random.below(4), 4 + random.below(4), 8 + random.below(4)};
      if (m.blocks_to_admit(prompt, kMaxTokens, prefix) <= m.free_blocks()) {
        m.admit(next, prompt, kMaxTokens, prefix);
        live.push_back(next++);
      }
    } else if (choice == 1) {
      const SeqId s = live[random.below(live.size())];
      if (m.tokens(s) < kMaxTokens && m.blocks_to_append(s) <= m.free_blocks()) m.append(s);
    } else if (choice == 2) {
      const SeqId s = live[random.below(live.size())];
      m.fork(s, next);
      live.push_back(next++);
    } else if (choice == 3) {
      const size_t i = random.below(live.size());
      if (random.below(2) == 0) {
        m.free(live[i]);
      } else {
        m.swap_out(std::vector<SeqId>{live[i]});
        swapped.push_back(live[i]);
      }
      live.erase(live.begin() + static_cast<std::ptrdiff_t>(i));
    } else if (!swapped.empty() && m.blocks_to_swap_in(std::vector<SeqId>{swapped.back()}) <= m.free_blocks()) {
      m.swap_in(std::vector<SeqId>{swapped.back()});
      live.push_back(swapped.back());
      swapped.pop_back();
    }
    ASSERT_NO_THROW(m.audit()) << "after operation " << op;
  }
  for (const SeqId s : live) m.free(s);
  for (const SeqId s : swapped) m.free(s);
  EXPECT_EQ(m.free_blocks(), 24);
  EXPECT_EQ(m.used_blocks(), 0);
  m.audit();
}

TEST(BlockManager, RefusesAForkOntoALiveSequenceAndAnAdmissionWithoutRoom) {
  PagedBlockManager m(4, kBlockSize);
  m.admit(1, 4, kMaxTokens, {});
  EXPECT_THROW(m.fork(1, 1), std::logic_error);
  EXPECT_THROW(m.admit(2, 100, kMaxTokens, {}), std::logic_error);
  EXPECT_NO_THROW(m.audit());
}

}  // namespace
}  // namespace slsim
