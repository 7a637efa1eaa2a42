"""Unit tests of the testbed's pure bookkeeping (no GPU, no PyTorch):
python3 -m unittest kernels/testbed/test_scheduling.py"""
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from scheduling import (NULL_BLOCK, BlockManager, Scheduler, Sequence,  # noqa: E402
                        padded_batch_size, padded_prefill_tokens, prefill_token_buckets)


class PaddedBatchSize(unittest.TestCase):
    def test_rounds_up_to_the_next_captured_size(self):
        # Captured: 1, 2, 4, 8, 16, ..., 256.
        self.assertEqual(padded_batch_size(1), 1)
        self.assertEqual(padded_batch_size(3), 4)
        self.assertEqual(padded_batch_size(5), 8)
        self.assertEqual(padded_batch_size(17), 24)
        self.assertEqual(padded_batch_size(256), 256)

    def test_larger_than_every_captured_size_is_not_padded(self):
        self.assertIsNone(padded_batch_size(257))


class PrefillBuckets(unittest.TestCase):
    def test_steps_of_64_to_2048_then_256_and_the_window_last(self):
        # 16, 32, then 64..2048 by 64 (32 sizes), then 2304..4096 by 256 (8 sizes): 42.
        buckets = prefill_token_buckets(4096)
        self.assertEqual(buckets[:4], [16, 32, 64, 128])
        self.assertIn(2048, buckets)
        self.assertEqual(buckets[-2:], [3840, 4096])
        self.assertEqual(len(buckets), 42)

    def test_a_window_off_the_grid_is_its_own_last_bucket(self):
        self.assertEqual(prefill_token_buckets(1000)[-2:], [960, 1000])

    def test_a_prompt_is_padded_to_the_next_bucket(self):
        buckets = prefill_token_buckets(4096)
        self.assertEqual(padded_prefill_tokens(1, buckets), 16)
        self.assertEqual(padded_prefill_tokens(1000, buckets), 1024)
        self.assertEqual(padded_prefill_tokens(1025, buckets), 1088)
        self.assertEqual(padded_prefill_tokens(2049, buckets), 2304)
        self.assertIsNone(padded_prefill_tokens(4097, buckets))


class Blocks(unittest.TestCase):
    def test_allocation_skips_the_null_block_and_maps_positions(self):
        blocks = BlockManager(num_blocks=8, block_size=16, watermark=0)
        table = blocks.allocate(seq_id=7, tokens=33)  # 33 tokens: 3 blocks of 16
        self.assertEqual(len(table), 3)
        self.assertNotIn(NULL_BLOCK, table)
        self.assertEqual(blocks.slot(7, 32), (table[2], 0))  # token 32 opens the third block
        self.assertEqual(blocks.slot(7, 17), (table[1], 1))
        self.assertEqual(blocks.num_free(), 7 - 3)

    def test_free_returns_every_block(self):
        blocks = BlockManager(num_blocks=8, block_size=16, watermark=0)
        blocks.allocate(1, 40)
        blocks.free(1)
        self.assertEqual(blocks.num_free(), 7)

    def test_watermark_keeps_blocks_back_from_admission(self):
        # 101 blocks, 1% watermark = 1 block kept free; 100 usable. 99 blocks of 16 tokens
        # leave exactly 1 free; 100 blocks would leave 0 < 1.
        blocks = BlockManager(num_blocks=101, block_size=16)
        self.assertTrue(blocks.can_allocate(99 * 16))
        self.assertFalse(blocks.can_allocate(100 * 16))

    def test_append_grows_by_a_block_at_a_boundary_only(self):
        blocks = BlockManager(num_blocks=8, block_size=16, watermark=0)
        blocks.allocate(1, 16)
        self.assertEqual(len(blocks.append(1, 16)), 1)
        self.assertEqual(len(blocks.append(1, 17)), 2)


class Scheduling(unittest.TestCase):
    def test_prefills_are_admitted_within_the_token_budget_then_decode_together(self):
        blocks = BlockManager(num_blocks=100, block_size=16, watermark=0)
        sched = Scheduler(blocks, max_num_seqs=8, max_num_batched_tokens=1000)
        for i, prompt in enumerate([400, 500, 300]):
            sched.add(Sequence(i, prompt, max_new_tokens=2))
        # 400 + 500 = 900 fit the 1000-token budget; + 300 would not.
        step = sched.schedule()
        self.assertEqual((step.kind, [s.seq_id for s in step.seqs]), ("prefill", [0, 1]))
        sched.complete(step, now_s=1.0)
        # A waiting prompt goes first (prefill-priority, as vLLM v0).
        step = sched.schedule()
        self.assertEqual((step.kind, [s.seq_id for s in step.seqs]), ("prefill", [2]))
        sched.complete(step, now_s=2.0)
        step = sched.schedule()
        self.assertEqual((step.kind, [s.seq_id for s in step.seqs]), ("decode", [0, 1, 2]))
        done = sched.complete(step, now_s=3.0)
        # Each asked for 2 tokens: one from its prefill, one from this decode.
        self.assertEqual(sorted(s.seq_id for s in done), [0, 1, 2])
        self.assertEqual(blocks.num_free(), 99)
        self.assertFalse(sched.has_work())

    def test_sequence_cap_limits_admission(self):
        blocks = BlockManager(num_blocks=100, block_size=16, watermark=0)
        sched = Scheduler(blocks, max_num_seqs=2, max_num_batched_tokens=1000)
        for i in range(3):
            sched.add(Sequence(i, 10, max_new_tokens=5))
        self.assertEqual(len(sched.schedule().seqs), 2)

    def test_first_and_last_token_times_are_recorded(self):
        blocks = BlockManager(num_blocks=10, block_size=16, watermark=0)
        sched = Scheduler(blocks)
        seq = Sequence(0, 10, max_new_tokens=3)
        sched.add(seq)
        for t in (1.0, 2.0, 3.0):
            sched.complete(sched.schedule(), now_s=t)
        self.assertEqual((seq.first_token_s, seq.last_token_s, seq.generated), (1.0, 3.0, 3))

    def test_the_latest_sequence_is_preempted_when_blocks_run_out(self):
        # 5 blocks: null + 4 usable. Two 32-token prompts take 2 blocks each. Their first
        # decode feeds token 32 (context 33), which needs a third block each: none is free,
        # so sequence 1 (admitted last) is preempted and sequence 0 takes its block.
        blocks = BlockManager(num_blocks=5, block_size=16, watermark=0)
        sched = Scheduler(blocks)
        a, b = Sequence(0, 32, max_new_tokens=10), Sequence(1, 32, max_new_tokens=10)
        sched.add(a)
        sched.add(b)
        sched.complete(sched.schedule(), now_s=1.0)
        step = sched.schedule()
        self.assertEqual((step.kind, [s.seq_id for s in step.seqs]), ("decode", [0]))
        self.assertEqual(b.preemptions, 1)
        self.assertEqual(list(sched.waiting), [b])
        self.assertEqual(len(blocks.tables[0]), 3)


if __name__ == "__main__":
    unittest.main()
