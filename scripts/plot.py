#!/usr/bin/env python3
"""Plots slsim results. Reads the structured outputs of runs (requests.csv, summary.json),
never logs.

  plot.py cdf RUN_DIR... --metric ttft_s -o out.png     latency CDFs of several runs
  plot.py compare RUN_DIR... -o summary.json [--plot p]  key figures of several runs side by side
  plot.py kv RUN_DIR... -o table.json [--plot p]         KV-cache figures of runs named ALLOCATOR[-VARIANT]
  plot.py pareto RUN_DIR... -o table.json [--plot p]     GPU-hours against p99 TTFT, one point per run, Pareto front
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


KV_KEYS = ("kv_cache_utilization", "kv_sharing_savings", "instance_throughput_tokens_per_s", "preemptions",
           "swapped_bytes", "completed", "generated_tokens", "simulated_s", "slsim_version")


def kv(args):
    """Runs are named ALLOCATOR or ALLOCATOR-VARIANT (paged-n4, contiguous-beam6): the table
    and the plot set each variant's allocators side by side; throughput gaps are paged's over
    each other allocator's."""
    table = {}
    for run in args.runs:
        with open(os.path.join(run, "summary.json")) as f:
            s = json.load(f)
        table[run_label(run)] = {k: s[k] for k in KV_KEYS}
    variants, allocators = [], []
    for label in table:
        allocator, _, variant = label.partition("-")
        variant = variant or "basic"
        if variant not in variants:
            variants.append(variant)
        if allocator not in allocators:
            allocators.append(allocator)

    def value(allocator, variant, key):
        row = table.get(allocator if variant == "basic" else f"{allocator}-{variant}")
        return row[key] if row and row[key] is not None else 0.0

    # Requests per second of busy GPU: every run serves the same requests at saturating load.
    def request_rate(allocator, variant):
        seconds = value(allocator, variant, "generated_tokens") / max(value(allocator, variant, "instance_throughput_tokens_per_s"), 1e-12)
        return value(allocator, variant, "completed") / seconds if seconds > 0 else 0.0

    gaps = {f"paged_over_{a}": {v: request_rate("paged", v) / request_rate(a, v) for v in variants if request_rate(a, v) > 0}
            for a in allocators if a != "paged"}
    with open(args.output + ".tmp", "w") as f:
        json.dump({"runs": table, "request_throughput_gap": gaps}, f, indent=2)
        f.write("\n")
    os.replace(args.output + ".tmp", args.output)
    if not args.plot:
        return
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.2))
    x = range(len(variants))
    width = 0.8 / len(allocators)
    for ax, title, of in ((axes[0], "KV cache holding tokens (%)", lambda a, v: value(a, v, "kv_cache_utilization") * 100),
                          (axes[2], "throughput (requests per busy GPU-s)", request_rate)):
        for j, allocator in enumerate(allocators):
            offset = (j - (len(allocators) - 1) / 2) * width
            ax.bar([i + offset for i in x], [of(allocator, v) for v in variants], width, label=allocator)
        ax.set_xticks(list(x), variants)
        ax.set_title(title)
        ax.legend()
    axes[1].bar(list(x), [value("paged", v, "kv_sharing_savings") * 100 for v in variants], color="tab:blue")
    axes[1].set_xticks(list(x), variants)
    axes[1].set_title("paged: KV memory saved by sharing (%)")
    for ax in axes:
        ax.grid(True, axis="y", alpha=0.3)
    fig.tight_layout()
    save(fig, args.plot)


def pareto(args):
    rows = []
    for run in args.runs:
        with open(os.path.join(run, "summary.json")) as f:
            s = json.load(f)
        g = s["gpu_seconds"]
        held = g["busy"] + g["idle"] + g["loading"] + g.get("migrating", 0)
        rows.append({"run": run_label(run), "gpu_hours": held / 3600, "ttft_p99_s": s["ttft_s"]["p99"],
                     "ttft_p50_s": s["ttft_s"]["p50"], "cold_starts": s["cold_starts"],
                     "slo_attainment": s["slo"]["attainment"], "usd": s["cost"]["serverless_usd"],
                     "gpu_seconds": {k: g[k] for k in ("busy", "idle", "loading", "migrating") if k in g}})
    # A run is on the front when no other run is at least as good on both axes and better on one.
    for r in rows:
        r["pareto"] = not any(o["gpu_hours"] <= r["gpu_hours"] and o["ttft_p99_s"] <= r["ttft_p99_s"] and
                              (o["gpu_hours"] < r["gpu_hours"] or o["ttft_p99_s"] < r["ttft_p99_s"]) for o in rows)
    rows.sort(key=lambda r: r["gpu_hours"])
    with open(args.output + ".tmp", "w") as f:
        json.dump({"runs": rows}, f, indent=2)
        f.write("\n")
    os.replace(args.output + ".tmp", args.output)
    if not args.plot:
        return
    fig, ax = plt.subplots(figsize=(8, 5.5))
    families = sorted({r["run"].rsplit("-ka", 1)[0] for r in rows})
    for i, family in enumerate(families):
        pts = [r for r in rows if r["run"].rsplit("-ka", 1)[0] == family]
        ax.scatter([r["gpu_hours"] for r in pts], [r["ttft_p99_s"] for r in pts], label=family, color=f"C{i}", zorder=3)
        for r in pts:
            ax.annotate(r["run"][len(family):].lstrip("-") or r["run"], (r["gpu_hours"], r["ttft_p99_s"]),
                        textcoords="offset points", xytext=(4, 3), fontsize=7)
    front = [r for r in rows if r["pareto"]]
    ax.step([r["gpu_hours"] for r in front], [r["ttft_p99_s"] for r in front], where="post", color="black",
            linestyle="--", label="Pareto front", zorder=2)
    ax.set_yscale("log")
    ax.set_xlabel("GPU-hours held by instances (busy + idle + loading)")
    ax.set_ylabel("p99 time to first token (s)")
    ax.set_title(args.title or "GPU time against tail latency")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
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
    p = sub.add_parser("kv", help="KV-cache utilization, sharing savings and throughput of allocator runs")
    p.add_argument("runs", nargs="+", help="run output folders named ALLOCATOR[-VARIANT]")
    p.add_argument("-o", "--output", required=True, help="JSON table")
    p.add_argument("--plot", help="PNG of utilization, savings and throughput")
    p.set_defaults(func=kv)
    p = sub.add_parser("pareto", help="GPU-hours against p99 TTFT, one point per run, with the Pareto front")
    p.add_argument("runs", nargs="+", help="run output folders named SETTING[-kaTTL]")
    p.add_argument("-o", "--output", required=True, help="JSON table")
    p.add_argument("--plot", help="PNG of the points and the front")
    p.add_argument("--title")
    p.set_defaults(func=pareto)
    args = parser.parse_args()
    args.func(args)


if __name__ == "__main__":
    main()
