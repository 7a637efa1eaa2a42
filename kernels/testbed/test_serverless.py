"""Unit tests of the controller's pure parts (no GPU, no PyTorch):
python3 -m unittest kernels/testbed/test_serverless.py"""
import os
import shutil
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from serverless import (DramCache, Fleet, Request, TraceError, load_run_json, make_workload,  # noqa: E402
                        percentile, read_azure_window, read_canonical_trace, request_metrics, run_json_path,
                        write_canonical_trace)

HEADER = "arrival_s,model,input_tokens,output_tokens,samples,beam_width,prefix_blocks\n"


class TempDir(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp()
        self.addCleanup(shutil.rmtree, self.dir)

    def write(self, text, name="t.csv"):
        path = os.path.join(self.dir, name)
        with open(path, "w") as f:
            f.write(text)
        return path


class CanonicalTrace(TempDir):
    def test_reads_rows_relative_to_the_first_arrival(self):
        path = self.write(HEADER + "10.5,opt-1.3b,100,20,1,1,\n12,llama-3.1-8b,7,1,1,1,\n")
        reqs = read_canonical_trace(path)
        self.assertEqual([(r.request_id, r.arrival_s, r.model, r.input_tokens, r.output_tokens) for r in reqs],
                         [(0, 0.0, "opt-1.3b", 100, 20), (1, 1.5, "llama-3.1-8b", 7, 1)])

    def test_write_then_read_gives_the_same_requests(self):
        reqs = [Request(0, 0.0, "a", 5, 6), Request(1, 2.25, "b", 7, 8)]
        path = os.path.join(self.dir, "w.csv")
        write_canonical_trace(path, reqs)
        self.assertEqual(read_canonical_trace(path), reqs)

    def test_an_earlier_arrival_names_its_line(self):
        path = self.write(HEADER + "5,a,1,1,1,1,\n4,a,1,1,1,1,\n")
        with self.assertRaisesRegex(TraceError, r"t\.csv:3: arrival 4\.0 is earlier"):
            read_canonical_trace(path)

    def test_a_bad_token_count_names_line_and_field(self):
        path = self.write(HEADER + "5,a,x,1,1,1,\n")
        with self.assertRaisesRegex(TraceError, r":2: field input_tokens"):
            read_canonical_trace(path)
        path = self.write(HEADER + "5,a,0,1,1,1,\n")
        with self.assertRaisesRegex(TraceError, r":2: field input_tokens: expected at least 1"):
            read_canonical_trace(path)

    def test_another_header_is_refused(self):
        with self.assertRaisesRegex(TraceError, r":1: expected the header"):
            read_canonical_trace(self.write("TIMESTAMP,ContextTokens,GeneratedTokens\n"))

    def test_several_samples_are_refused(self):
        with self.assertRaisesRegex(TraceError, r"field samples"):
            read_canonical_trace(self.write(HEADER + "0,a,1,1,2,1,\n"))


class AzureWindow(TempDir):
    def test_keeps_the_window_and_shifts_it_to_zero(self):
        path = self.write("TIMESTAMP,ContextTokens,GeneratedTokens\n"
                          "2023-11-16 18:00:00.0000000,10,1\n"   # t = 0
                          "2023-11-16 18:00:05.5000000,20,2\n"   # t = 5.5: in [5, 10)
                          "2023-11-16 18:00:09.9000000,30,3\n"   # t = 9.9: in
                          "2023-11-16 18:00:10.0000000,40,4\n")  # t = 10: out (half-open)
        rows = read_azure_window(path, 5, 5)
        self.assertEqual([(round(t, 6), i, o) for t, i, o in rows], [(0.5, 20, 2), (4.9, 30, 3)])

    def test_workload_thins_caps_and_starts_at_zero(self):
        rows = [(1.0, 100, 10), (2.0, 5000, 10), (3.0, 4000, 500), (4.0, 9000, 1)]
        # keep_every 1; max_model_len 4096: 5000 -> prompt 4095, output 1; 4000 + 500 -> output 96;
        # max_batched_tokens 4095 < 9000 -> 4095, output 1.
        reqs = make_workload(rows, ["m"], [1], 1, seed=0, max_model_len=4096, max_batched_tokens=8192)
        self.assertEqual([(r.arrival_s, r.input_tokens, r.output_tokens) for r in reqs],
                         [(0.0, 100, 10), (1.0, 4095, 1), (2.0, 4000, 96), (3.0, 4095, 1)])
        self.assertEqual(len(make_workload(rows, ["m"], [1], 2, 0, 4096, 8192)), 2)  # rows 0 and 2

    def test_each_model_has_its_own_window(self):
        rows = [(0.0, 3000, 100)]
        # window 2048: prompt 2047, output 1; window 4096: 3000 + 100 fits.
        small = make_workload(rows, ["opt"], [1], 1, 0, {"opt": 2048, "llama": 4096}, 8192)[0]
        large = make_workload(rows, ["llama"], [1], 1, 0, {"opt": 2048, "llama": 4096}, 8192)[0]
        self.assertEqual((small.input_tokens, small.output_tokens), (2047, 1))
        self.assertEqual((large.input_tokens, large.output_tokens), (3000, 100))

    def test_model_draw_is_reproducible_and_follows_the_weights(self):
        rows = [(float(i), 10, 10) for i in range(2000)]
        a = make_workload(rows, ["x", "y"], [0.75, 0.25], 1, seed=5, max_model_len=4096, max_batched_tokens=8192)
        b = make_workload(rows, ["x", "y"], [0.75, 0.25], 1, seed=5, max_model_len=4096, max_batched_tokens=8192)
        self.assertEqual([r.model for r in a], [r.model for r in b])
        share = sum(r.model == "x" for r in a) / len(a)
        self.assertAlmostEqual(share, 0.75, delta=0.04)  # 4 sigma of a binomial(2000, 0.75) share is 0.039


class Routing(unittest.TestCase):
    def test_first_request_starts_an_instance_later_ones_wait_for_it(self):
        fleet = Fleet(ttl_s=30)
        action, inst = fleet.route(Request(0, 0.0, "a", 1, 1), 0.0, "ssd")
        self.assertEqual(action, "start")
        action2, inst2 = fleet.route(Request(1, 1.0, "a", 1, 1), 1.0, "ssd")
        self.assertEqual((action2, inst2), ("wait", inst))
        sent = fleet.ready(inst, 20.0)
        self.assertEqual([r.request_id for r in sent], [0, 1])
        self.assertEqual(fleet.cold, {0, 1})

    def test_a_request_for_a_ready_instance_is_warm(self):
        fleet = Fleet(ttl_s=30)
        _, inst = fleet.route(Request(0, 0.0, "a", 1, 1), 0.0, "ssd")
        fleet.ready(inst, 5.0)
        self.assertEqual(fleet.route(Request(1, 6.0, "a", 1, 1), 6.0, "ssd"), ("send", inst))
        self.assertNotIn(1, fleet.cold)
        self.assertEqual(inst.outstanding, 2)

    def test_models_have_their_own_instances(self):
        fleet = Fleet(ttl_s=30)
        _, a = fleet.route(Request(0, 0.0, "a", 1, 1), 0.0, "ssd")
        action, b = fleet.route(Request(1, 0.0, "b", 1, 1), 0.0, "ssd")
        self.assertEqual(action, "start")
        self.assertIsNot(a, b)


class KeepAlive(unittest.TestCase):
    def test_released_ttl_after_the_last_completion_not_before(self):
        fleet = Fleet(ttl_s=30)
        _, inst = fleet.route(Request(0, 0.0, "a", 1, 1), 0.0, "ssd")
        fleet.ready(inst, 10.0)
        fleet.finished(inst, 12.0)  # idle from 12: expires at 42
        self.assertEqual(fleet.next_expiry_s(), 42.0)
        self.assertEqual(fleet.expired(41.9), [])
        self.assertEqual(fleet.expired(42.0), [inst])
        self.assertEqual(inst.state, "stopping")
        # The model's next request is a cold start on a new instance.
        action, new = fleet.route(Request(1, 50.0, "a", 1, 1), 50.0, "dram")
        self.assertEqual(action, "start")
        self.assertIsNot(new, inst)

    def test_a_busy_instance_is_never_released(self):
        fleet = Fleet(ttl_s=0)
        _, inst = fleet.route(Request(0, 0.0, "a", 1, 1), 0.0, "ssd")
        fleet.ready(inst, 1.0)
        self.assertEqual(fleet.expired(100.0), [])  # request 0 still outstanding
        fleet.finished(inst, 100.0)
        self.assertEqual(fleet.expired(100.0), [inst])  # ttl 0: released as soon as idle

    def test_an_arrival_restarts_the_idle_clock(self):
        fleet = Fleet(ttl_s=10)
        _, inst = fleet.route(Request(0, 0.0, "a", 1, 1), 0.0, "ssd")
        fleet.ready(inst, 1.0)
        fleet.finished(inst, 2.0)
        fleet.route(Request(1, 11.0, "a", 1, 1), 11.0, "ssd")
        fleet.finished(inst, 15.0)
        self.assertEqual(fleet.expired(24.9), [])
        self.assertEqual(fleet.expired(25.0), [inst])

    def test_an_instance_started_with_nothing_pending_idles_from_ready(self):
        fleet = Fleet(ttl_s=5)
        _, inst = fleet.route(Request(0, 0.0, "a", 1, 1), 0.0, "ssd")
        inst.pending.clear()
        fleet.ready(inst, 3.0)
        self.assertEqual(fleet.next_expiry_s(), 8.0)

    def test_a_failed_instance_returns_its_pending_requests(self):
        fleet = Fleet(ttl_s=5)
        _, inst = fleet.route(Request(0, 0.0, "a", 1, 1), 0.0, "ssd")
        self.assertEqual([r.request_id for r in fleet.failed(inst)], [0])
        self.assertEqual(fleet.route(Request(1, 1.0, "a", 1, 1), 1.0, "ssd")[0], "start")


class Cache(unittest.TestCase):
    def test_least_recently_used_leaves_first(self):
        cache = DramCache(capacity_bytes=10)
        self.assertEqual(cache.insert("a", 4), [])
        self.assertEqual(cache.insert("b", 4), [])
        cache.touch("a")  # b is now the least recently used
        self.assertEqual(cache.insert("c", 4), ["b"])
        self.assertTrue(cache.holds("a") and cache.holds("c") and not cache.holds("b"))

    def test_a_checkpoint_larger_than_the_cache_is_not_cached(self):
        cache = DramCache(capacity_bytes=10)
        cache.insert("a", 4)
        self.assertEqual(cache.insert("big", 11), [])
        self.assertFalse(cache.holds("big"))
        self.assertTrue(cache.holds("a"))


class Metrics(unittest.TestCase):
    def test_nearest_rank_percentile(self):
        values = [5, 1, 4, 2, 3]
        self.assertEqual(percentile(values, 50), 3)  # rank ceil(2.5) = 3 of 1..5
        self.assertEqual(percentile(values, 90), 5)  # rank ceil(4.5) = 5
        self.assertEqual(percentile(values, 0), 1)
        self.assertIsNone(percentile([], 50))

    def test_cold_and_warm_ttft_tpot_and_e2e(self):
        recs = [
            # cold: ttft 10, e2e 12, tpot (12 - 10) / (5 - 1) = 0.5
            {"arrival_s": 0, "first_token_s": 10, "last_token_s": 12, "output_tokens": 5, "cold": True},
            # warm: ttft 0.5, e2e 1.5, tpot (2.5 - 1.5) / (3 - 1) = 0.5
            {"arrival_s": 1, "first_token_s": 1.5, "last_token_s": 2.5, "output_tokens": 3, "cold": False},
            # warm, one token: no tpot; ttft = e2e = 0.25
            {"arrival_s": 2, "first_token_s": 2.25, "last_token_s": 2.25, "output_tokens": 1, "cold": False},
            # never finished: counted as a request, not in the latencies
            {"arrival_s": 3, "first_token_s": None, "last_token_s": None, "output_tokens": 4, "cold": True},
        ]
        m = request_metrics(recs)
        self.assertEqual((m["requests"], m["completed"], m["cold_starts"]), (4, 3, 2))
        self.assertEqual((m["ttft_cold_p50_s"], m["ttft_cold_p90_s"]), (10, 10))
        self.assertEqual(m["ttft_warm_p50_s"], 0.25)  # warm ttfts 0.5, 0.25: rank 1 of sorted
        self.assertEqual(m["tpot_p50_s"], 0.5)
        self.assertEqual((m["e2e_p50_s"], m["e2e_p90_s"]), (1.5, 12))  # e2e 12, 1.5, 0.25


class RunJsonTest(TempDir):
    def test_a_compressed_run_reads_as_the_plain_one_and_the_plain_one_is_preferred(self):
        import gzip
        with gzip.open(os.path.join(self.dir, "controller_w.json.gz"), "wt") as f:
            f.write('{"requests": [1, 2]}')
        path = run_json_path(self.dir, "controller_w")
        self.assertTrue(path.endswith("controller_w.json.gz"))
        self.assertEqual(load_run_json(path), {"requests": [1, 2]})
        self.write('{"requests": []}', "controller_w.json")
        self.assertEqual(load_run_json(run_json_path(self.dir, "controller_w")), {"requests": []})
        self.assertIsNone(run_json_path(self.dir, "controller_x"))


class CheckpointImage(unittest.TestCase):
    def test_holds_finite_bf16_weights_of_the_engines_spread_not_random_bytes(self):
        import numpy as np
        from startup_phases import weight_bytes_block
        block = weight_bytes_block(1 << 20)
        self.assertEqual(len(block), 1 << 20)
        # bf16 is the upper half of a float32: widen and read the values back.
        values = (np.frombuffer(block, dtype=np.uint16).astype(np.uint32) << 16).view(np.float32)
        self.assertTrue(np.isfinite(values).all())
        self.assertAlmostEqual(float(values.std()), 0.02, delta=0.001)
        self.assertEqual(block, weight_bytes_block(1 << 20))


if __name__ == "__main__":
    unittest.main()
