"""The slsim Python module (python/slsim): results as dicts and DataFrames, byte for byte the CLI's
files, the CLI's error messages. ctest runs it with PYTHONPATH=<build>/python, SLSIM_BINARY (the
CLI) and SLSIM_SOURCE_DIR."""
import filecmp
import json
import os
import subprocess
import tempfile
import unittest
import warnings
from pathlib import Path

import pandas

import slsim

SOURCE = Path(os.environ["SLSIM_SOURCE_DIR"])
BINARY = os.environ["SLSIM_BINARY"]
CONFIG = SOURCE / "tests/testdata/small_replay.json"
RESULT_FILES = ["config.json", "summary.json", "requests.csv", "timeseries.csv"]


def cli(*args):
    return subprocess.run([BINARY, *map(str, args)], capture_output=True, text=True)


class RunTest(unittest.TestCase):
    def setUp(self):
        self.folder = tempfile.TemporaryDirectory(prefix="slsim-python-test-")
        self.tmp = Path(self.folder.name)

    def tearDown(self):
        self.folder.cleanup()

    def test_run_returns_the_summary_as_a_dict_and_the_tables_as_data_frames(self):
        r = slsim.run(CONFIG)
        self.assertIsNone(r.output)
        self.assertIsInstance(r.summary, dict)
        self.assertIsInstance(r.requests, pandas.DataFrame)
        self.assertIsInstance(r.timeseries, pandas.DataFrame)
        self.assertEqual(len(r.requests), r.summary["completed"])
        self.assertIn("ttft_s", r.requests.columns)
        self.assertIn("time_s", r.timeseries.columns)
        self.assertEqual(r.config["name"], "small-replay")

    def test_run_writes_the_cli_files_byte_for_byte(self):
        overrides = {"policies.keepalive.params.ttl_s": 30, "engine.max_num_batched_tokens": "4096"}
        completed = cli("run", CONFIG, "-o", self.tmp / "cli", "--set", "policies.keepalive.params.ttl_s=30",
                        "--set", "engine.max_num_batched_tokens=4096", "--set", "seed=3")
        self.assertEqual(completed.returncode, 0, completed.stderr)
        r = slsim.run(CONFIG, set=overrides, seed=3, output=self.tmp / "python")
        self.assertEqual(r.output, self.tmp / "python")
        for name in RESULT_FILES:
            self.assertTrue(filecmp.cmp(self.tmp / "cli" / name, self.tmp / "python" / name, shallow=False), name)
        self.assertEqual(r.config["seed"], 3)
        self.assertEqual(r.config["policies"]["keepalive"]["params"]["ttl_s"], 30)

    def test_a_dict_config_reads_relative_paths_from_base_dir(self):
        document = json.loads(CONFIG.read_text())
        from_dict = slsim.run(document, base_dir=CONFIG.parent)
        from_file = slsim.run(CONFIG)
        self.assertEqual(from_dict.summary, from_file.summary)
        pandas.testing.assert_frame_equal(from_dict.requests, from_file.requests)

    def test_input_errors_raise_input_error_with_the_cli_message(self):
        completed = cli("run", CONFIG, "-o", self.tmp / "cli", "--set", "policies.keepalive.name=forever")
        self.assertEqual(completed.returncode, 2)
        with self.assertRaises(slsim.InputError) as raised:
            slsim.run(CONFIG, set={"policies.keepalive.name": "forever"}, output=self.tmp / "python")
        self.assertIsInstance(raised.exception, ValueError)
        self.assertEqual(completed.stderr.strip(), f"slsim run: {raised.exception}")
        self.assertFalse((self.tmp / "python").exists(), "a failed run left an output folder")

    def test_a_bad_value_in_a_dict_config_names_its_json_path(self):
        document = json.loads(CONFIG.read_text())
        document["seed"] = -1
        with self.assertRaisesRegex(slsim.InputError, r"^seed: "):
            slsim.run(document, base_dir=CONFIG.parent)

    def test_validate_returns_the_resolved_config(self):
        resolved = slsim.validate(CONFIG, set={"duration_s": 60})
        printed = cli("validate", CONFIG, "--set", "duration_s=60", "--print")
        self.assertEqual(printed.returncode, 0, printed.stderr)
        self.assertEqual(resolved, json.loads(printed.stdout))

    def test_load_reads_a_finished_run(self):
        slsim.run(CONFIG, output=self.tmp / "run")
        loaded = slsim.load(self.tmp / "run")
        self.assertEqual(loaded.summary["name"], "small-replay")
        with self.assertRaises(slsim.InputError):
            slsim.load(self.tmp)


class SweepTest(unittest.TestCase):
    def setUp(self):
        self.folder = tempfile.TemporaryDirectory(prefix="slsim-python-test-")
        self.tmp = Path(self.folder.name)

    def tearDown(self):
        self.folder.cleanup()

    def test_sweep_returns_sweep_csv_as_the_cli_writes_it(self):
        completed = cli("sweep", CONFIG, "-o", self.tmp / "cli", "-j", 2, "--grid", "seed=1,2",
                        "--zip", "policies.keepalive.params.ttl_s=0,60;duration_s=120,180")
        self.assertEqual(completed.returncode, 0, completed.stderr)
        table = slsim.sweep(CONFIG, grid={"seed": [1, 2]},
                            zip={"policies.keepalive.params.ttl_s": [0, 60], "duration_s": [120, 180]},
                            output=self.tmp / "python", jobs=2)
        self.assertTrue(filecmp.cmp(self.tmp / "cli/sweep.csv", self.tmp / "python/sweep.csv", shallow=False))
        self.assertEqual(len(table), 4)
        self.assertEqual(list(table.columns[:4]),
                         ["point", "seed", "policies.keepalive.params.ttl_s", "duration_s"])
        point = slsim.load(self.tmp / "python" / table.point[0])
        self.assertEqual(point.summary["requests"], table.requests[0])

    def test_a_sweep_of_a_dict_config_without_output_leaves_nothing(self):
        document = json.loads(CONFIG.read_text())
        before = set(Path(tempfile.gettempdir()).glob("slsim-sweep-*"))
        table = slsim.sweep(document, grid={"duration_s": [60, 120]}, base_dir=CONFIG.parent, jobs=1)
        self.assertEqual(list(table.duration_s), [60, 120])
        self.assertEqual(set(Path(tempfile.gettempdir()).glob("slsim-sweep-*")), before)

    def test_an_input_error_in_a_point_raises_input_error_with_the_cli_message(self):
        completed = cli("sweep", CONFIG, "-o", self.tmp / "cli", "-j", 1, "--grid",
                        "workload.sources.0.path=missing.csv")
        self.assertEqual(completed.returncode, 2)
        with self.assertRaises(slsim.InputError) as raised:
            slsim.sweep(CONFIG, grid={"workload.sources.0.path": ["missing.csv"]}, output=self.tmp / "s", jobs=1)
        self.assertIn("missing.csv", str(raised.exception))
        self.assertEqual(completed.stderr.strip(), f"slsim sweep: {raised.exception}")

if __name__ == "__main__":
    warnings.simplefilter("default")
    unittest.main()
