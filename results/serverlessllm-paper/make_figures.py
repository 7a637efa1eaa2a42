#!/usr/bin/env python3
"""Reads run.sh's outputs (loading_points/, runs/e2e, runs/scheduler, runs/causes) and writes
paper_figures.json ({figure: {series: {x: y}}}) and the plots loading.png, e2e_latency.png and
scheduler_ablation.png beside this script."""
import csv
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "../../scripts"))
import plot  # noqa: E402  (its pyplot() imports matplotlib, its save() writes reproducible files)

FORMATS = ["sllm", "safetensors", "torch"]
TIERS = {"lru": "dram", "none": "ssd"}  # the DRAM cache policy decides where the second load reads
SYSTEMS = ["serverlessllm", "ray-serve-cache", "ray-serve", "kserve"]
SCHEDULERS = ["serverlessllm", "locality", "preemption", "shepherd"]
MODELS = ["opt-6.7b", "opt-13b", "opt-30b"]  # the scheduler ablation
E2E_MODELS = MODELS + ["llama-2-7b", "llama-2-13b", "falcon-7b"]
DATASETS = ["gsm8k", "sharegpt"]


def summary(run):
    with open(os.path.join(HERE, "runs", run, "summary.json")) as f:
        return json.load(f)


def loading():
    """{profile/tier/format: {model: load_s}} from the second request of each sweep point."""
    series = {}
    points = os.path.join(HERE, "loading_points")
    with open(os.path.join(points, "sweep.csv"), newline="") as f:
        for point in csv.DictReader(f):
            with open(os.path.join(points, point["point"], "requests.csv"), newline="") as r:
                second = sorted(csv.DictReader(r), key=lambda x: float(x["arrival_s"]))[1]
            key = "/".join([point["cluster.server_groups.0.profile"].replace("serverlessllm-testbed-", ""),
                            second["load_tier"], point["loader.format"]])
            series.setdefault(key, {})[point["models.0.name"]] = round(float(second["load_s"]), 3)
    return series


def plot_loading(series):
    models = list(next(iter(series.values())).keys())
    panels = sorted({k.rsplit("/", 1)[0] for k in series})
    fig, axes = plot.pyplot().subplots(1, len(panels), figsize=(4.5 * len(panels), 4))
    width = 0.8 / len(FORMATS)
    for ax, panel in zip(axes, panels):
        for k, fmt in enumerate(FORMATS):
            values = [series[f"{panel}/{fmt}"][m] for m in models]
            ax.bar([i + (k - 1) * width for i in range(len(models))], values, width, label=fmt)
        ax.set_xticks(range(len(models)), models, rotation=45, fontsize="small")
        ax.set_yscale("log")
        ax.set_title(f"{panel.split('/')[0]}: from {panel.split('/')[1].upper()}", fontsize="small")
        ax.grid(True, axis="y", which="both", alpha=0.3)
    axes[0].set_ylabel("checkpoint load time (s)")
    axes[0].legend(fontsize="small")
    fig.tight_layout()
    plot.save(fig, os.path.join(HERE, "loading.png"))


def e2e():
    figure = {}
    for metric, key in [("mean", "e2e_s"), ("ttft_mean", "ttft_s")]:
        for system in SYSTEMS:
            figure[f"{system}/{metric}"] = {
                f"{m}/{d}": round(summary(f"e2e/{system}-{m}-{d}")[key]["mean"], 2) for m in E2E_MODELS for d in DATASETS}
    for system in SYSTEMS:
        figure[f"{system}/p99"] = {
            f"{m}/{d}": round(summary(f"e2e/{system}-{m}-{d}")["e2e_s"]["p99"], 1) for m in E2E_MODELS for d in DATASETS}
    return figure


def plot_e2e(figure):
    xs = [f"{m}/{d}" for m in E2E_MODELS for d in DATASETS]
    fig, axes = plot.pyplot().subplots(2, 1, figsize=(12, 8))
    width = 0.8 / len(SYSTEMS)
    for ax, metric, title in [(axes[0], "mean", "mean end-to-end latency (s)"), (axes[1], "ttft_mean", "mean TTFT (s)")]:
        for k, system in enumerate(SYSTEMS):
            ax.bar([i + (k - 1.5) * width for i in range(len(xs))], [figure[f"{system}/{metric}"][x] for x in xs],
                   width, label=system)
        ax.set_xticks(range(len(xs)), xs, rotation=30, fontsize="small")
        ax.set_yscale("log")
        ax.set_title(f"{title}, 0.5 req/s, Gamma CV 8", fontsize="small")
        ax.grid(True, axis="y", which="both", alpha=0.3)
    axes[0].legend(fontsize="small")
    fig.tight_layout()
    plot.save(fig, os.path.join(HERE, "e2e_latency.png"))


def scheduler():
    figure = {}
    rates = ["0.25", "0.5", "1", "2"]
    for system in SCHEDULERS:
        for model in MODELS:
            for metric, pick in [("mean", lambda s: s["e2e_s"]["mean"]), ("p99", lambda s: s["e2e_s"]["p99"])]:
                figure[f"{system}/{model}/{metric}"] = {
                    r: round(pick(summary(f"scheduler/{system}-{model}-r{r}")), 2) for r in rates}
            # Victims restarted (their requests start again from scratch) and moved live.
            for series, method in [("restarts", "preempt"), ("live_migrations", "live-token")]:
                figure[f"{system}/{model}/{series}"] = {
                    r: summary(f"scheduler/{system}-{model}-r{r}")["migrations"]["by_method"].get(method, 0)
                    for r in rates}
    return figure


def plot_scheduler(figure):
    # Top row: mean end-to-end latency; bottom row: victims restarted (symlog: most are 0).
    fig, axes = plot.pyplot().subplots(2, len(MODELS), figsize=(4.5 * len(MODELS), 7.5))
    for column, model in enumerate(MODELS):
        for row, (series, title) in enumerate([("mean", "mean end-to-end latency (s)"),
                                               ("restarts", "victims restarted")]):
            ax = axes[row][column]
            for system in SCHEDULERS:
                points = figure[f"{system}/{model}/{series}"]
                ax.plot([float(r) for r in points], list(points.values()), marker="o", label=system)
            ax.set_xscale("log", base=2)
            if series == "mean":
                ax.set_yscale("log")
            else:
                ax.set_yscale("symlog", linthresh=1)
                most = max(max(figure[f"{system}/{model}/{series}"].values()) for system in SCHEDULERS)
                ax.set_ylim(-0.3, max(10, 2 * most))  # an all-zero panel still shows 0 to 10
            ax.set_xlabel("request rate (req/s, all replicas)")
            ax.set_title(f"{model}, GSM8K: {title}", fontsize="small")
            ax.grid(True, which="both", alpha=0.3)
    axes[0][0].legend(fontsize="small")
    fig.tight_layout()
    plot.save(fig, os.path.join(HERE, "scheduler_ablation.png"))


def causes():
    figure = {}
    for run in sorted(os.listdir(os.path.join(HERE, "runs", "causes"))):
        s = summary(f"causes/{run}")
        figure[run] = {"e2e_mean_s": round(s["e2e_s"]["mean"], 2), "e2e_p99_s": round(s["e2e_s"]["p99"], 1),
                       "ttft_mean_s": round(s["ttft_s"]["mean"], 2), "remote_loads": s["loads_by_tier"]["remote"]}
    return figure


def main():
    figures = {"loading_s": loading(), "e2e_latency_s": e2e(), "scheduler_ablation_s": scheduler(),
               "causes_opt-6.7b_gsm8k": causes()}
    with open(os.path.join(HERE, "paper_figures.json"), "w") as f:
        json.dump(figures, f, indent=1, sort_keys=True)
        f.write("\n")
    plot_loading(figures["loading_s"])
    plot_e2e(figures["e2e_latency_s"])
    plot_scheduler(figures["scheduler_ablation_s"])


if __name__ == "__main__":
    main()
