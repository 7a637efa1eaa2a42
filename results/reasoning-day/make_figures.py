#!/usr/bin/env python3
"""settings.json, lengths.json and day.png of results/reasoning-day/ from run.sh's runs: per
setting the requests, cold starts, TTFT p50/p99, SLO attainment and GPU-hours (held: busy + idle
+ loading); the replayed requests' mean prompt and output tokens against the means the ServeGen
datasets imply; and a plot of the day's arrival rate and each setting's instances over it."""
import ast
import csv
import glob
import json
import os

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
TRACE = os.path.join(HERE, "..", "..", "traces", "servegen", "reason", "deepseek-r1")
GPUS_PER_INSTANCE = 8
# The settings drawn on the day plot (all are in settings.json).
DRAWN = ["on-demand", "fixed6", "kpa-ka60", "rps-ka60", "predictive-ka60"]
# A run without preemptions or prefix caching, all of whose requests completed: its prefilled
# and generated tokens are the requests' own prompt and output tokens.
LENGTHS_RUN = "fixed8"


def read(path):
    with open(path) as f:
        return json.load(f)


def metrics(summary):
    gpu = summary["gpu_seconds"]
    return {"requests": summary["requests"], "completed": summary["completed"],
            "cold_starts": summary["cold_starts"],
            "ttft_p50_s": summary["ttft_s"]["p50"], "ttft_p99_s": summary["ttft_s"]["p99"],
            "tpot_p50_s": summary["tpot_s"]["p50"],
            "slo_attainment": summary["slo"]["attainment"],
            "gpu_hours": sum(v for k, v in gpu.items() if k != "free") / 3600,
            "gpu_hours_busy": gpu["busy"] / 3600, "gpu_hours_idle": gpu["idle"] / 3600,
            "gpu_hours_loading": gpu["loading"] / 3600}


def trace_rate(rate_scale):
    """The day's summed arrival rate per 600 s window (req/s), scaled as the runs scale it."""
    rates = [0.0] * 144
    for path in glob.glob(os.path.join(TRACE, "chunk-*-trace.csv")):
        with open(path) as f:
            for i, line in enumerate(f.read().split()):
                rates[i] += float(line.split(",")[1]) * rate_scale
    return rates


def dataset_means():
    """The mean prompt and output tokens and reasoning share the datasets imply: each client
    window's PMF means weighted by its expected requests (rate x 600 s), as the replay draws."""
    totals = {"requests": 0.0, "input_tokens": 0.0, "output_tokens": 0.0, "reason_ratio": 0.0}
    for path in glob.glob(os.path.join(TRACE, "chunk-*-trace.csv")):
        dataset = read(path.replace("-trace.csv", "-dataset.json"))
        windows = []  # (start, {field: mean}) of the windows with data
        for start, fields in dataset.items():
            pmfs = {name: ast.literal_eval(literal) for name, literal in fields.items()}
            if any(pmfs.values()):
                windows.append((int(start), {name: sum(v * p for v, p in pmf.items()) for name, pmf in pmfs.items()}))
        windows.sort()
        with open(path) as f:
            for line in f.read().split():
                start, rate = line.split(",")[:2]
                requests = float(rate) * 600
                means = [m for s, m in windows if s <= int(start)] or [windows[0][1]]
                totals["requests"] += requests
                for name in ["input_tokens", "output_tokens", "reason_ratio"]:
                    totals[name] += requests * means[-1][name]
    return {name: totals[name] / totals["requests"] for name in ["input_tokens", "output_tokens", "reason_ratio"]}


def main():
    config = read(os.path.join(HERE, "experiment.json"))
    rate_scale = config["workload"]["sources"][0].get("rate_scale", 1)
    runs = {os.path.basename(d): d for d in glob.glob(os.path.join(HERE, "runs", "*")) if os.path.isdir(d)}
    settings = {name: metrics(read(os.path.join(d, "summary.json"))) for name, d in sorted(runs.items())}
    with open(os.path.join(HERE, "settings.json"), "w") as f:
        json.dump(settings, f, indent=2, sort_keys=True)
        f.write("\n")

    expected = dataset_means()
    summary = read(os.path.join(runs[LENGTHS_RUN], "summary.json"))
    replayed = {"input_tokens": summary["prefilled_tokens"] / summary["completed"],
                "output_tokens": summary["generated_tokens"] / summary["completed"]}
    lengths = {"run": LENGTHS_RUN, "requests": summary["completed"], "datasets": expected, "replayed": replayed,
               "replayed_over_datasets": {k: replayed[k] / expected[k] for k in replayed}}
    with open(os.path.join(HERE, "lengths.json"), "w") as f:
        json.dump(lengths, f, indent=2, sort_keys=True)
        f.write("\n")

    fig, (top, bottom) = plt.subplots(2, 1, figsize=(9, 6), sharex=True)
    rates = trace_rate(rate_scale)
    top.step([i * 600 / 3600 for i in range(144)], rates, where="post", color="tab:blue")
    top.set_ylabel("arrivals (req/s)" if rate_scale == 1 else f"arrivals (req/s, × {rate_scale:g})")
    top.set_title("ServeGen DeepSeek-R1 day on DGX H200 instances (8 GPUs each)")
    top.grid(True, alpha=0.3)
    for name in DRAWN:
        if name not in runs:
            continue
        with open(os.path.join(runs[name], "timeseries.csv")) as f:
            rows = list(csv.DictReader(f))
        hours = [float(r["time_s"]) / 3600 for r in rows]
        instances = [(int(r["gpus_busy"]) + int(r["gpus_idle"]) + int(r["gpus_loading"])) / GPUS_PER_INSTANCE
                     for r in rows]
        # A setting that cannot keep up drains its queue after the day; the plot shows the day.
        label = name if hours[-1] <= 25 else f"{name} (drains until hour {hours[-1]:.0f})"
        bottom.step(hours, instances, where="post", label=label)
    bottom.set_xlim(0, 25)
    bottom.set_xlabel("hour of the day")
    bottom.set_ylabel("instances held (busy, idle or loading)")
    bottom.grid(True, alpha=0.3)
    bottom.legend(fontsize="small")
    fig.tight_layout()
    fig.savefig(os.path.join(HERE, "day.png"), dpi=120)


if __name__ == "__main__":
    main()
