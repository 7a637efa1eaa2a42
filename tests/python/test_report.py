"""slsim report: one self-contained HTML page from runs and sweeps, written atomically, whose plots
render in a headless browser (chromium-headless-shell, which scripts/setup.sh installs; skipped
with a message where it is absent). ctest runs it with SLSIM_BINARY and SLSIM_SOURCE_DIR."""
import os
import re
import shutil
import subprocess
import tempfile
import unittest
from pathlib import Path

SOURCE = Path(os.environ["SLSIM_SOURCE_DIR"])
BINARY = os.environ["SLSIM_BINARY"]
CONFIG = SOURCE / "tests/testdata/small_replay.json"
BROWSER = shutil.which("chromium-headless-shell")


def slsim(*args):
    return subprocess.run([BINARY, *map(str, args)], capture_output=True, text=True)


class ReportTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.folder = tempfile.TemporaryDirectory(prefix="slsim-report-test-")
        cls.tmp = Path(cls.folder.name)
        for args in (("run", CONFIG, "-o", cls.tmp / "ttl10"),
                     ("run", CONFIG, "-o", cls.tmp / "ttl60", "--set", "policies.keepalive.params.ttl_s=60"),
                     ("sweep", CONFIG, "-o", cls.tmp / "sweep", "-j", 2, "--grid",
                      "policies.keepalive.params.ttl_s=0,60", "--grid", "duration_s=120,240")):
            completed = slsim(*args)
            assert completed.returncode == 0, completed.stderr
        cls.report = cls.tmp / "out" / "report.html"
        cls.made = slsim("report", cls.tmp / "ttl10", cls.tmp / "ttl60", cls.tmp / "sweep", "-o", cls.report)

    @classmethod
    def tearDownClass(cls):
        cls.folder.cleanup()

    def figures(self):
        return int(re.search(r'<meta name="slsim-figures" content="(\d+)">', self.report.read_text()).group(1))

    def test_report_is_one_self_contained_page_of_tables_and_plots(self):
        self.assertEqual(self.made.returncode, 0, self.made.stderr)
        page = self.report.read_text()
        self.assertNotRegex(page, r'<script[^>]+src=', "the page loads a script from elsewhere")
        self.assertIn("Plotly.newPlot", page)
        # Runs: TTFT and E2E CDFs, GPU time, cold-start breakdown, two timelines; the sweep: one
        # figure per numeric parameter and the Pareto front.
        self.assertEqual(self.figures(), 9)
        self.assertIn("<td>ttl10</td>", page)
        self.assertIn("keepalive.ttl_s=60", page)
        self.assertEqual(os.listdir(self.report.parent), ["report.html"], "a temporary file was left")

    def test_the_same_inputs_give_the_same_page(self):
        again = self.tmp / "again.html"
        completed = slsim("report", self.tmp / "ttl10", self.tmp / "ttl60", self.tmp / "sweep", "-o", again)
        self.assertEqual(completed.returncode, 0, completed.stderr)
        self.assertEqual(again.read_bytes(), self.report.read_bytes())

    def test_a_folder_that_is_no_run_is_an_input_error_and_writes_nothing(self):
        out = self.tmp / "bad" / "report.html"
        completed = slsim("report", self.tmp / "ttl10", self.tmp, "-o", out)
        self.assertEqual(completed.returncode, 2)
        self.assertRegex(completed.stderr, r"^slsim report: .*: neither a run folder")
        self.assertFalse(out.exists())

    def test_plots_render_in_a_headless_browser_without_script_errors(self):
        if BROWSER is None:
            self.skipTest("chromium-headless-shell is not installed (scripts/setup.sh installs it); "
                          "the report's rendering is not checked")
        browser = subprocess.run([BROWSER, "--no-sandbox", "--disable-gpu", "--enable-logging=stderr", "--v=0",
                                  "--dump-dom", self.report.resolve().as_uri()],
                                 capture_output=True, text=True, timeout=300)
        self.assertEqual(browser.returncode, 0, browser.stderr[-2000:])
        console = [line for line in browser.stderr.splitlines() if ":CONSOLE" in line]
        self.assertFalse([line for line in console if "Uncaught" in line or "Error" in line], console)
        # Plotly marks a div it has drawn into with js-plotly-plot and fills it with SVG.
        drawn = {}
        for part in browser.stdout.split('<div id="plot-')[1:]:
            number, classes = re.match(r'(\d+)" class="([^"]*)"', part).groups()
            drawn[int(number)] = "js-plotly-plot" in classes and '<svg class="main-svg"' in part
        self.assertEqual(drawn, {n: True for n in range(1, self.figures() + 1)})

if __name__ == "__main__":
    unittest.main()
