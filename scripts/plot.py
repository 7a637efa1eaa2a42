#!/usr/bin/env python3
"""Plots slsim results. Reads the structured outputs of runs (requests.csv, summary.json),
never logs.

  plot.py cdf RUN_DIR... --metric ttft_s -o out.png     latency CDFs of several runs
  plot.py compare RUN_DIR... -o summary.json [--plot p]  key figures of several runs side by side
"""
import argparse
import csv
import json
import os
import sys

try:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
except ImportError:
    # The python3 first on PATH (pyenv, a venv) may lack Debian's matplotlib: use the system one.
    system_python = "/usr/bin/python3"
    if os.path.realpath(sys.executable) != os.path.realpath(system_python) and os.path.exists(system_python):
        os.execv(system_python, [system_python] + sys.argv)
    sys.exit("plot.py: matplotlib is missing; install Debian's python3-matplotlib (scripts/setup.sh does)")

METRIC_LABELS = {"ttft_s": "time to first token (s)", "e2e_s": "end-to-end latency (s)",
                 "tpot_s": "time per output token (s)", "cold_start_s": "cold-start wait (s)"}


def run_label(run_dir):
    return os.path.basename(os.path.normpath(run_dir))


def read_metric(run_dir, metric):
    path = os.path.join(run_dir, "requests.csv")
    if not os.path.exists(path):
        sys.exit(f"plot.py: {path}: no such file (was the run made with output.requests_csv = true?)")
    values = []
    with open(path, newline="") as f:
        for row in csv.DictReader(f):
            if metric not in row:
                sys.exit(f"plot.py: {path}: no column {metric}")
            if row[metric] != "":
                values.append(float(row[metric]))
    return sorted(values)


def save(fig, out):
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    # A fixed date keeps the PNG bytes identical from run to run.
    fig.savefig(out, dpi=120, metadata={"Software": None} if out.endswith(".png") else None)
    plt.close(fig)


def cdf(args):
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for run in args.runs:
        values = read_metric(run, args.metric)
        if not values:
            continue
        n = len(values)
        ax.step(values, [(i + 1) / n for i in range(n)], where="post", label=f"{run_label(run)} (n={n})")
    ax.set_xscale("log" if args.log else "linear")
    ax.set_xlabel(METRIC_LABELS.get(args.metric, args.metric))
    ax.set_ylabel("share of requests")
    ax.set_ylim(0, 1.0)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(loc="lower right")
    if args.title:
        ax.set_title(args.title)
    save(fig, args.output)


def compare(args):
    table = {}
    for run in args.runs:
        with open(os.path.join(run, "summary.json")) as f:
            s = json.load(f)
        table[run_label(run)] = {
            "requests": s["requests"], "completed": s["completed"], "cold_starts": s["cold_starts"],
            "ttft_s": s["ttft_s"], "e2e_s": s["e2e_s"], "gpu_seconds": s["gpu_seconds"],
            "slsim_version": s["slsim_version"],
        }
    with open(args.output + ".tmp", "w") as f:
        json.dump({"runs": table}, f, indent=2)
        f.write("\n")
    os.replace(args.output + ".tmp", args.output)
    if not args.plot:
        return
    labels = list(table)
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4.2))
    bottom = [0.0] * len(labels)
    for state, color in (("busy", "tab:green"), ("idle", "tab:orange"), ("loading", "tab:red")):
        hours = [table[l]["gpu_seconds"][state] / 3600 for l in labels]
        left.bar(labels, hours, bottom=bottom, label=state, color=color)
        bottom = [b + h for b, h in zip(bottom, hours)]
    left.set_ylabel("GPU-hours")
    left.set_title("GPU time by state")
    left.legend()
    right.bar(labels, [table[l]["cold_starts"] for l in labels], color="tab:blue")
    right.set_ylabel("cold starts (requests)")
    right.set_title("Requests that waited for a cold start")
    for ax in (left, right):
        ax.tick_params(axis="x", rotation=20)
    fig.tight_layout()
    save(fig, args.plot)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("cdf", help="latency CDFs of several runs")
    p.add_argument("runs", nargs="+", help="run output folders")
    p.add_argument("--metric", default="ttft_s", choices=sorted(METRIC_LABELS))
    p.add_argument("-o", "--output", required=True, help="PNG (or SVG) file")
    p.add_argument("--log", action="store_true", help="logarithmic latency axis")
    p.add_argument("--title")
    p.set_defaults(func=cdf)
    p = sub.add_parser("compare", help="key figures of several runs side by side")
    p.add_argument("runs", nargs="+")
    p.add_argument("-o", "--output", required=True, help="JSON file")
    p.add_argument("--plot", help="PNG of GPU time by state and cold starts")
    p.set_defaults(func=compare)
    args = parser.parse_args()
    args.func(args)


if __name__ == "__main__":
    main()
