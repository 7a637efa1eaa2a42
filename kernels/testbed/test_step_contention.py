"""Unit tests of step_contention's time-slicing figures on a hand-made run (no GPU):
python3 -m unittest kernels/testbed/test_step_contention.py"""
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from step_contention import sharing_check, sharing_params, slicing_fit  # noqa: E402


def steps(start_s, count, step_s, gap_s=0.0):
    return [[start_s + i * (step_s + gap_s), start_s + i * (step_s + gap_s) + step_s, "decode", 1, 100]
            for i in range(count)]


class SharingParams(unittest.TestCase):
    def test_efficiency_is_two_over_the_mean_beside_one_neighbour_and_capture_its_mean_times_that_less_one(self):
        # Instance 0 steps alone at 1 ms (before instance 1 launches), at 1.5 ms while instance 1
        # captures CUDA graphs (1.05-2.0 s) and at 2.2 ms while instance 1 steps (3.0-3.2 s).
        serving = {"model": "m", "launch_s": 0.0, "stamps_s": {},
                   "steps": steps(0.0, 30, 0.001) + steps(1.1, 30, 0.0015) + steps(3.0, 30, 0.0022)}
        stamps = {"interpreter": 1.01, "import_torch": 1.02, "cuda_context": 1.03, "engine_setup": 1.035,
                  "kv_reserve": 1.04, "load": 1.045, "compile": 1.05, "graph_capture": 2.0, "warm_up": 2.0}
        starting = {"model": "n", "launch_s": 1.0, "stamps_s": stamps, "steps": steps(3.0, 40, 0.002, 0.0001)}
        params = sharing_params([{"instances": [serving, starting]}])
        # 2 / 2.2 = 0.909; 1.5 x 0.909 - 1 = 0.364.
        self.assertAlmostEqual(params["compute_sharing_efficiency"], 0.909, places=3)
        self.assertAlmostEqual(params["graph_capture_compute_share"], 0.364, places=3)

    def test_a_run_without_neighbours_gives_none(self):
        alone = {"model": "m", "launch_s": 0.0, "stamps_s": {}, "steps": steps(0.0, 30, 0.001)}
        self.assertIsNone(sharing_params([{"instances": [alone]}]))


class SlicingFit(unittest.TestCase):
    def test_the_line_through_each_models_step_beside_one_neighbour_against_its_step_alone(self):
        # m: 1 ms alone, 3 ms beside n; p: 2 ms alone, 5 ms beside n. Slope (5 - 3) / (2 - 1) = 2,
        # intercept 3 - 2 x 1 = 1 ms: what a slice waited out adds to every step.
        m = {"model": "m", "launch_s": 0.0, "stamps_s": {}, "steps": steps(0.0, 30, 0.001) + steps(3.0, 30, 0.003)}
        p = {"model": "p", "launch_s": 0.0, "stamps_s": {}, "steps": steps(0.5, 30, 0.002) + steps(5.0, 30, 0.005)}
        # n steps only beside them, so it has no time alone and joins no point itself.
        n = {"model": "n", "launch_s": 0.0, "stamps_s": {}, "steps": steps(3.0, 45, 0.002) + steps(5.0, 75, 0.002)}
        fit = slicing_fit([{"instances": [m, p, n]}])
        self.assertAlmostEqual(fit["slope"], 2.0, places=3)
        self.assertAlmostEqual(fit["intercept_ms"], 1.0, places=3)
        self.assertEqual(fit["steps"], 60)

    def test_one_alone_time_gives_none(self):
        m = {"model": "m", "launch_s": 0.0, "stamps_s": {}, "steps": steps(0.0, 30, 0.001) + steps(3.0, 30, 0.003)}
        n = {"model": "n", "launch_s": 0.0, "stamps_s": {}, "steps": steps(3.0, 45, 0.002)}
        self.assertIsNone(slicing_fit([{"instances": [m, n]}]))


class SharingCheck(unittest.TestCase):
    def test_measured_over_predicted_per_class_with_the_neighbours_stepping_time_weighted(self):
        # m: 30 steps of 1 ms alone, then 30 of 2.2 ms while n steps back to back. At efficiency 1
        # and no capture share the model predicts 1 x (1 + 1) / 1 = 2 ms beside n: 2.2 / 2 = 1.1;
        # over all (30 + 66) / (30 + 60) = 1.067. n has no time alone and is not predicted.
        m = {"model": "m", "launch_s": 0.0, "stamps_s": {}, "steps": steps(0.0, 30, 0.001) + steps(3.0, 30, 0.0022)}
        n = {"model": "n", "launch_s": 0.0, "stamps_s": {}, "steps": steps(3.0, 40, 0.002)}
        check = sharing_check([{"instances": [m, n]}], {"compute_sharing_efficiency": 1.0, "graph_capture_compute_share": 0.0})
        self.assertEqual(check, {"all": 1.067, "alone": 1.0, "stepping": 1.1})
        by_model = sharing_check([{"instances": [m, n]}],
                                 {"compute_sharing_efficiency": 1.0, "graph_capture_compute_share": 0.0}, by_model=True)
        self.assertEqual(by_model["m beside 1"], 1.1)


if __name__ == "__main__":
    unittest.main()
