#!/usr/bin/env python3
"""systems.json and the plots of results/coldstart-systems/ from run.sh's runs: per workload and
keep-alive, each start-up system's cold starts, cold-start time (start-up + load), TTFT p50/p99,
SLO attainment and GPU-hours, and its change against `full`."""
import csv
import json
import os

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
SYSTEMS = ["full", "medusa", "foundry"]


def metrics(summary):
    gpu_seconds = sum(v for k, v in summary["gpu_seconds"].items() if k != "free")
    return {"cold_starts": summary["cold_starts"],
            "cold_start_s_mean": summary["cold_start_s"]["mean"],
            "ttft_p50_s": summary["ttft_s"]["p50"], "ttft_p99_s": summary["ttft_s"]["p99"],
            "slo_attainment": summary["slo"]["attainment"], "gpu_hours": gpu_seconds / 3600}


def read(path):
    with open(path) as f:
        return json.load(f)


def main():
    out = {}
    with open(os.path.join(HERE, "points", "sweep.csv")) as f:
        for row in csv.DictReader(f):
            ttl = float(row["policies.keepalive.params.ttl_s"])
            summary = read(os.path.join(HERE, "points", row["point"], "summary.json"))
            out.setdefault(f"demo-ttl{ttl:g}", {})[row["policies.startup.name"]] = metrics(summary)
    for workload in ["conv120-ttl0", "conv120-ttl30", "conv120-ttl300"]:
        for system in SYSTEMS:
            summary = read(os.path.join(HERE, "validation", f"{workload}-{system}", "summary.json"))
            out.setdefault(workload, {})[system] = metrics(summary)
    for runs in out.values():
        for system in SYSTEMS[1:]:
            runs[system]["vs_full"] = {k: (runs[system][k] / runs["full"][k] - 1 if runs["full"][k] else None)
                                       for k in ["cold_start_s_mean", "ttft_p50_s", "ttft_p99_s", "gpu_hours"]}
    with open(os.path.join(HERE, "systems.json"), "w") as f:
        json.dump(out, f, indent=2, sort_keys=True)
        f.write("\n")

    workloads = sorted(out, key=lambda w: (not w.startswith("demo"), float(w.split("ttl")[1])))
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.2))
    width = 0.27
    for ax, metric, label in [(axes[0], "cold_start_s_mean", "cold request wait, mean: queue + start-up + load (s)"),
                              (axes[1], "ttft_p99_s", "TTFT p99 (s)")]:
        for i, system in enumerate(SYSTEMS):
            xs = [j + (i - 1) * width for j in range(len(workloads))]
            ax.bar(xs, [out[w][system][metric] for w in workloads], width, label=system)
        ax.set_xticks(range(len(workloads)))
        ax.set_xticklabels(workloads, rotation=30, ha="right", fontsize=8)
        ax.set_ylabel(label)
        ax.grid(axis="y", alpha=0.3)
    axes[0].legend(title="start-up")
    fig.suptitle("Phased start-up: every phase online (full) vs graphs restored (medusa) vs templates (foundry)")
    fig.tight_layout()
    fig.savefig(os.path.join(HERE, "startup_systems.png"), dpi=120)


if __name__ == "__main__":
    main()
