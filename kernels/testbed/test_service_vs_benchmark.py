"""Unit tests of service_vs_benchmark on hand-made runs (no GPU):
python3 -m unittest kernels/testbed/test_service_vs_benchmark.py"""
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from service_vs_benchmark import decode_report, lone_steps, prefill_report  # noqa: E402


def instance(model, steps, launch_s=0.0):
    return {"model": model, "launch_s": launch_s, "stamps_s": {}, "steps": steps}


class LoneSteps(unittest.TestCase):
    def test_a_step_beside_another_instances_step_is_left_out_and_idle_and_busy_times_are_the_cards(self):
        # m: decode steps 1.000-1.001 and 1.0015-1.0025 (one busy period from 1.000), then one at
        # 2.000 after 0.9975 s of idle; n steps 2.0005-2.0015, beside m's last step.
        m = instance("m", [[1.0, 1.001, "decode", 1, 10], [1.0015, 1.0025, "decode", 1, 11],
                           [2.0, 2.001, "decode", 1, 12]])
        n = instance("n", [[2.0005, 2.0015, "decode", 1, 10]])
        got = [(model, step[0], idle, busy) for model, step, idle, busy in lone_steps({"instances": [m, n]}, "decode")]
        self.assertEqual([g[:2] for g in got], [("m", 1.0), ("m", 1.0015)])
        self.assertEqual(got[0][2], float("inf"))
        self.assertAlmostEqual(got[1][2], 0.0005)
        self.assertAlmostEqual(got[1][3], 0.0015)

    def test_a_step_while_another_instance_starts_up_is_left_out(self):
        starting = instance("n", [], launch_s=0.5)
        starting["stamps_s"] = {"interpreter": 3.0}
        m = instance("m", [[1.0, 1.001, "decode", 1, 10]])
        self.assertEqual(list(lone_steps({"instances": [m, starting]}, "decode")), [])


class Reports(unittest.TestCase):
    def test_a_lone_prefill_is_compared_at_its_padded_bucket(self):
        # A 300-token prompt runs as the 320-token bucket, where the benchmark (3 ms at 256, 4 ms
        # at 512) is 3 + 64 / 256 = 3.25 ms; the step took 6.5 ms: twice that.
        run = {"instances": [instance("m", [[1.0, 1.0065, "prefill", 1, 300]])]}
        bench = {"m": {"prefill": [(256, 3.0), (512, 4.0)]}}
        report = prefill_report([run], bench)["m"]
        self.assertEqual(report["by_prompt"][(256, 768)][0], 1)
        self.assertAlmostEqual(report["by_prompt"][(256, 768)][1], 6.5 / 3.25)

    def test_the_first_step_on_the_card_counts_in_the_longest_idle_range(self):
        # Two lone prefills of one instance: the first has no step before it on the card.
        run = {"instances": [instance("m", [[1.0, 1.0065, "prefill", 1, 300], [5.0, 5.0065, "prefill", 1, 300]])]}
        report = prefill_report([run], {"m": {"prefill": [(256, 3.0), (512, 4.0)]}})["m"]
        self.assertEqual(report["by_idle_s"][(10, float("inf"))][0], 1)
        self.assertEqual(report["by_idle_s"][(1, 10)][0], 1)

    def test_decode_steps_are_grouped_by_how_long_the_card_had_been_busy(self):
        steps = [[1.0 + i * 0.0011, 1.001 + i * 0.0011, "decode", 1, 10] for i in range(30)]
        run = {"instances": [instance("m", steps)]}
        d = decode_report([run], {"m": {"decode_step_ms": 1.2, "decode_graph_ms": 1.1}})["m"]
        self.assertEqual(d["steps"], 30)
        self.assertAlmostEqual(d["median_ms"], 1.0)
        # Steps start 0, 1.1, ..., 31.9 ms into the period: 19 before 20 ms, 11 after.
        self.assertEqual(d["by_busy_s"][(0, 0.02)][0], 19)
        self.assertEqual(d["by_busy_s"][(0.02, 0.2)][0], 11)


if __name__ == "__main__":
    unittest.main()
