#!/usr/bin/env python3
"""systems.json and the plots of results/coldstart-systems/ from run.sh's runs: per workload and
keep-alive, each start-up system's cold starts, cold-start time (start-up + load), TTFT p50/p99,
SLO attainment and GPU-hours, and its change against `full`; load_sources.json, its plot and
the README's markdown table (printed) for the load sources (tiered, blitzscale) on the demo;
live_scaling.json, its plot and table for blitzscale with live scaling beside them; prewarmed.json,
its plot and table for the three from a pool of pre-initialized runtimes (prewarmed start-up);
burst.json, its plot and table for the three under a burst that overloads the warm instances;
fork.json, its plot and table for DeepServe's fork beside tiered and blitzscale under that burst,
and scale64.json for 63 instances started at once from one;
parallel.json, its plot and table for HydraServe's parallel cold start beside tiered and blitzscale
where checkpoints come from remote storage."""
import csv
import json
import os

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
SYSTEMS = ["full", "medusa", "foundry"]
REBALANCE = ["none", "kv-0.1", "kv-0.05", "requests-2"]


def metrics(summary):
    gpu_seconds = sum(v for k, v in summary["gpu_seconds"].items() if k != "free")
    return {"cold_starts": summary["cold_starts"],
            "cold_start_s_mean": summary["cold_start_s"]["mean"],
            "ttft_p50_s": summary["ttft_s"]["p50"], "ttft_p99_s": summary["ttft_s"]["p99"],
            "slo_attainment": summary["slo"]["attainment"], "gpu_hours": gpu_seconds / 3600}


def pct(new, old):
    return f" ({(new / old - 1) * 100:+.0f}%)".replace("-", "\u2212") if old and abs(new / old - 1) >= 0.005 else ""


def load_sources():
    """The load-source sweep: per host cache, start-up and keep-alive, tiered vs blitzscale."""
    out = {}
    with open(os.path.join(HERE, "load-points", "sweep.csv")) as f:
        for row in csv.DictReader(f):
            caches = "host caches" if int(row["cluster.server_groups.0.server.dram_cache_bytes"]) else "no host caches"
            ttl = float(row["policies.keepalive.params.ttl_s"])
            scenario = f"{caches}, {row['policies.startup.name']} start-up, keep-alive {ttl:g} s"
            summary = read(os.path.join(HERE, "load-points", row["point"], "summary.json"))
            m = metrics(summary)
            m["load_s_mean"] = summary["load_s"]["mean"]
            m["loads_by_tier"] = summary["loads_by_tier"]
            m["compute_network_bytes"] = summary["bytes_by_link_class"].get("compute_port", 0) / 2
            out.setdefault(scenario, {})[row["policies.load_source.name"]] = m
    for runs in out.values():
        runs["blitzscale"]["vs_tiered"] = {
            k: (runs["blitzscale"][k] / runs["tiered"][k] - 1 if runs["tiered"][k] else None)
            for k in ["load_s_mean", "cold_start_s_mean", "ttft_p50_s", "ttft_p99_s", "gpu_hours"]}
    with open(os.path.join(HERE, "load_sources.json"), "w") as f:
        json.dump(out, f, indent=2, sort_keys=True)
        f.write("\n")

    print("| scenario | load source | loads gpu/dram/ssd/remote | load mean | cold wait mean | TTFT p50 | TTFT p99 "
          "| SLO | GPU-h |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for scenario in sorted(out):
        t = out[scenario]["tiered"]
        for name in ["tiered", "blitzscale"]:
            m = out[scenario][name]
            tiers = "/".join(str(m["loads_by_tier"][k]) for k in ["gpu", "dram", "ssd", "remote"])
            row = [scenario if name == "tiered" else "", name, tiers,
                   f"{m['load_s_mean']:.2f} s" + pct(m["load_s_mean"], t["load_s_mean"]),
                   f"{m['cold_start_s_mean']:.2f} s" + pct(m["cold_start_s_mean"], t["cold_start_s_mean"]),
                   f"{m['ttft_p50_s'] * 1000:.0f} ms" + pct(m["ttft_p50_s"], t["ttft_p50_s"]),
                   f"{m['ttft_p99_s']:.2f} s" + pct(m["ttft_p99_s"], t["ttft_p99_s"]),
                   f"{m['slo_attainment'] * 100:.1f}%", f"{m['gpu_hours']:.2f}" + pct(m["gpu_hours"], t["gpu_hours"])]
            print("| " + " | ".join(row) + " |")

    scenarios = sorted(out)
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.8))
    width = 0.4
    for ax, metric, label in [(axes[0], "cold_start_s_mean", "cold request wait, mean (s)"),
                              (axes[1], "ttft_p99_s", "TTFT p99 (s)")]:
        for i, name in enumerate(["tiered", "blitzscale"]):
            xs = [j + (i - 0.5) * width for j in range(len(scenarios))]
            ax.bar(xs, [out[sc][name][metric] for sc in scenarios], width, label=name)
        ax.set_xticks(range(len(scenarios)))
        ax.set_xticklabels(scenarios, rotation=35, ha="right", fontsize=7)
        ax.set_ylabel(label)
        ax.grid(axis="y", alpha=0.3)
    axes[0].legend(title="load source")
    fig.suptitle("Load sources on the demo (two DGX H100): tiers (ServerlessLLM) vs GPUs holding the model (BlitzScale)")
    fig.tight_layout()
    fig.savefig(os.path.join(HERE, "load_sources.png"), dpi=120)


def scenario_of(row, startup=None):
    caches = "host caches" if int(row["cluster.server_groups.0.server.dram_cache_bytes"]) else "no host caches"
    ttl = float(row["policies.keepalive.params.ttl_s"])
    return f"{caches}, {startup or row['policies.startup.name']} start-up, keep-alive {ttl:g} s"


def live_scaling():
    """BlitzScale's live scaling (live-points/) beside load-points' tiered and blitzscale runs."""
    out = {}
    for sweep, names in [("load-points", None), ("live-points", "blitzscale + live")]:
        with open(os.path.join(HERE, sweep, "sweep.csv")) as f:
            for row in csv.DictReader(f):
                summary = read(os.path.join(HERE, sweep, row["point"], "summary.json"))
                m = metrics(summary)
                m["loads_by_tier"] = summary["loads_by_tier"]
                out.setdefault(scenario_of(row), {})[names or row["policies.load_source.name"]] = m
    systems = ["tiered", "blitzscale", "blitzscale + live"]
    for runs in out.values():
        for name in systems[1:]:
            runs[name]["vs_tiered"] = {
                k: (runs[name][k] / runs["tiered"][k] - 1 if runs["tiered"][k] else None)
                for k in ["cold_start_s_mean", "ttft_p50_s", "ttft_p99_s", "gpu_hours"]}
    with open(os.path.join(HERE, "live_scaling.json"), "w") as f:
        json.dump(out, f, indent=2, sort_keys=True)
        f.write("\n")

    print()
    print("| scenario | load source | loads gpu/dram/ssd/remote | cold wait mean | TTFT p50 | TTFT p99 | SLO | GPU-h |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for scenario in sorted(out):
        t = out[scenario]["tiered"]
        for name in systems:
            m = out[scenario][name]
            tiers = "/".join(str(m["loads_by_tier"][k]) for k in ["gpu", "dram", "ssd", "remote"])
            row = [scenario if name == "tiered" else "", name, tiers,
                   f"{m['cold_start_s_mean']:.2f} s" + pct(m["cold_start_s_mean"], t["cold_start_s_mean"]),
                   f"{m['ttft_p50_s'] * 1000:.0f} ms" + pct(m["ttft_p50_s"], t["ttft_p50_s"]),
                   f"{m['ttft_p99_s']:.2f} s" + pct(m["ttft_p99_s"], t["ttft_p99_s"]),
                   f"{m['slo_attainment'] * 100:.1f}%", f"{m['gpu_hours']:.2f}" + pct(m["gpu_hours"], t["gpu_hours"])]
            print("| " + " | ".join(row) + " |")

    scenarios = sorted(out)
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.8))
    width = 0.27
    for ax, metric, label in [(axes[0], "ttft_p99_s", "TTFT p99 (s)"), (axes[1], "slo_attainment", "SLO attainment")]:
        for i, name in enumerate(systems):
            xs = [j + (i - 1) * width for j in range(len(scenarios))]
            ax.bar(xs, [out[sc][name][metric] for sc in scenarios], width, label=name)
        ax.set_xticks(range(len(scenarios)))
        ax.set_xticklabels(scenarios, rotation=35, ha="right", fontsize=7)
        ax.set_ylabel(label)
        ax.grid(axis="y", alpha=0.3)
    axes[0].legend(title="load source")
    fig.suptitle("Live scaling on the demo (two DGX H100): new instances serve while their weights arrive")
    fig.tight_layout()
    fig.savefig(os.path.join(HERE, "live_scaling.png"), dpi=120)


def rebalance():
    """The load-balance runs: the demo under kpa with no rebalancing and Llumnix's; rebalance.json
    and the README's markdown table (printed)."""
    out = {}
    for variant in REBALANCE:
        summary = read(os.path.join(HERE, "rebalance", variant, "summary.json"))
        m = metrics(summary)
        m.update({"tpot_p99_s": summary["tpot_s"]["p99"], "e2e_p99_s": summary["e2e_s"]["p99"],
                  "moves": summary["migrations"]["by_method"].get("rebalance", 0),
                  "requests_moved": summary["migrations"]["requests_moved"],
                  "kv_copied_bytes": summary["migrations"]["bytes_copied"],
                  "pause_p99_s": summary["migrations"]["pause_s"]["p99"]})
        out[variant] = m
    with open(os.path.join(HERE, "rebalance.json"), "w") as f:
        json.dump(out, f, indent=2, sort_keys=True)
        f.write("\n")

    base = out["none"]
    print("| rebalance | moves | requests moved | KV copied | pause p99 | TTFT p50 | TTFT p99 | TPOT p99 | e2e p99 "
          "| SLO | GPU-h |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for variant in REBALANCE:
        m = out[variant]
        name = "none" if variant == "none" else "llumnix, " + variant.replace("-", " ")
        pause = f"{m['pause_p99_s'] * 1000:.1f} ms" if m["pause_p99_s"] is not None else "\u2013"
        row = [name, f"{m['moves']:,}", f"{m['requests_moved']:,}", f"{m['kv_copied_bytes'] / 1e9:.0f} GB", pause,
               f"{m['ttft_p50_s'] * 1000:.1f} ms" + pct(m["ttft_p50_s"], base["ttft_p50_s"]),
               f"{m['ttft_p99_s']:.2f} s" + pct(m["ttft_p99_s"], base["ttft_p99_s"]),
               f"{m['tpot_p99_s'] * 1000:.0f} ms" + pct(m["tpot_p99_s"], base["tpot_p99_s"]),
               f"{m['e2e_p99_s']:.2f} s" + pct(m["e2e_p99_s"], base["e2e_p99_s"]),
               f"{m['slo_attainment'] * 100:.2f}%", f"{m['gpu_hours']:.2f}" + pct(m["gpu_hours"], base["gpu_hours"])]
        print("| " + " | ".join(row) + " |")


def prewarmed():
    """tiered, blitzscale and blitzscale + live from pre-initialized runtimes (prewarm-points/,
    prewarm-live-points/), beside the same three under full and foundry start-up (load-points/,
    live-points/)."""
    out = {}
    for sweep, name in [("prewarm-points", None), ("prewarm-live-points", "blitzscale + live"),
                        ("load-points", None), ("live-points", "blitzscale + live")]:
        with open(os.path.join(HERE, sweep, "sweep.csv")) as f:
            for row in csv.DictReader(f):
                startup = None
                if sweep.startswith("prewarm"):
                    fraction = float(row["policies.startup.params.restore_fraction"])
                    startup = "prewarmed" if fraction == 1 else f"prewarmed (restore {fraction:g})"
                summary = read(os.path.join(HERE, sweep, row["point"], "summary.json"))
                m = metrics(summary)
                m["load_s_mean"] = summary["load_s"]["mean"]
                m["loads_by_tier"] = summary["loads_by_tier"]
                out.setdefault(scenario_of(row, startup), {})[name or row["policies.load_source.name"]] = m
    systems = ["tiered", "blitzscale", "blitzscale + live"]
    keys = ["load_s_mean", "cold_start_s_mean", "ttft_p50_s", "ttft_p99_s", "gpu_hours"]
    for runs in out.values():
        for name in systems[1:]:
            runs[name]["vs_tiered"] = {k: (runs[name][k] / runs["tiered"][k] - 1 if runs["tiered"][k] else None)
                                       for k in keys}
        runs["blitzscale + live"]["vs_blitzscale"] = {
            k: (runs["blitzscale + live"][k] / runs["blitzscale"][k] - 1 if runs["blitzscale"][k] else None)
            for k in keys}
    with open(os.path.join(HERE, "prewarmed.json"), "w") as f:
        json.dump(out, f, indent=2, sort_keys=True)
        f.write("\n")

    print()
    print("| scenario | load source | loads gpu/dram/ssd/remote | load mean | cold wait mean | TTFT p50 | TTFT p99 "
          "| SLO | GPU-h |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    scenarios = sorted(sc for sc in out if "prewarmed" in sc)
    for scenario in scenarios:
        t = out[scenario]["tiered"]
        for name in systems:
            m = out[scenario][name]
            tiers = "/".join(str(m["loads_by_tier"][k]) for k in ["gpu", "dram", "ssd", "remote"])
            row = [scenario if name == "tiered" else "", name, tiers,
                   f"{m['load_s_mean']:.2f} s" + pct(m["load_s_mean"], t["load_s_mean"]),
                   f"{m['cold_start_s_mean']:.2f} s" + pct(m["cold_start_s_mean"], t["cold_start_s_mean"]),
                   f"{m['ttft_p50_s'] * 1000:.0f} ms" + pct(m["ttft_p50_s"], t["ttft_p50_s"]),
                   f"{m['ttft_p99_s']:.2f} s" + pct(m["ttft_p99_s"], t["ttft_p99_s"]),
                   f"{m['slo_attainment'] * 100:.1f}%", f"{m['gpu_hours']:.2f}" + pct(m["gpu_hours"], t["gpu_hours"])]
            print("| " + " | ".join(row) + " |")

    # Each prewarmed scenario beside the start-up it removes the pre-load phases from: full
    # (restore 1) or foundry (restore 0.01).
    pairs = [(sc.replace("prewarmed (restore 0.01)", "foundry") if "restore" in sc else sc.replace("prewarmed", "full"), sc)
             for sc in scenarios]
    labels = [lab for sc in pairs for lab in sc]
    fig, axes = plt.subplots(1, 2, figsize=(13, 5.2))
    width = 0.27
    for ax, metric, label in [(axes[0], "ttft_p99_s", "TTFT p99 (s)"), (axes[1], "slo_attainment", "SLO attainment")]:
        for i, name in enumerate(systems):
            xs = [j + (i - 1) * width for j in range(len(labels))]
            ax.bar(xs, [out[sc][name][metric] for sc in labels], width, label=name)
        ax.set_xticks(range(len(labels)))
        ax.set_xticklabels(labels, rotation=35, ha="right", fontsize=7)
        ax.set_ylabel(label)
        ax.grid(axis="y", alpha=0.3)
    axes[0].set_yscale("log")
    axes[1].set_ylim(0.5, 1)
    axes[0].legend(title="load source")
    fig.suptitle("From a pool of pre-initialized runtimes (prewarmed) vs full and foundry start-up, demo on two DGX H100")
    fig.tight_layout()
    fig.savefig(os.path.join(HERE, "prewarmed.png"), dpi=120)


def change(new, old):
    """new / old − 1; None where either is missing (no cold starts: no mean wait) or old is 0."""
    return new / old - 1 if new is not None and old else None


def burst():
    """The burst (burst-points/, burst-live-points/, burst-lambda-points/): the demo's traces over
    600 s at 3x the rate from one warm instance per model kept throughout, on two and four DGX
    H100, prewarmed at restore 1 and 0.01, tiered, blitzscale, blitzscale + live and lambdascale;
    burst.json, its plot and table (change against tiered), and each run's TTFT p99 per model."""
    out = {}
    for sweep, name in [("burst-points", None), ("burst-live-points", "blitzscale + live"),
                        ("burst-lambda-points", "lambdascale")]:
        with open(os.path.join(HERE, sweep, "sweep.csv")) as f:
            for row in csv.DictReader(f):
                caches = "host caches" if int(row["cluster.server_groups.0.server.dram_cache_bytes"]) else "no host caches"
                summary = read(os.path.join(HERE, sweep, row["point"], "summary.json"))
                m = metrics(summary)
                m["requests"] = summary["requests"]
                m["loads_by_tier"] = summary["loads_by_tier"]
                m["load_s_mean"] = summary["load_s"]["mean"]
                if "group_loads" in summary:
                    m["group_loads"] = summary["group_loads"]
                m["by_model"] = {model: {"ttft_p99_s": v["ttft_s"]["p99"], "cold_starts": v["cold_starts"]}
                                 for model, v in summary["models"].items()}
                restore = float(row["policies.startup.params.restore_fraction"])
                scenario = f"{row['cluster.server_groups.0.count']} servers, restore {restore:g}, {caches}"
                out.setdefault(scenario, {})[name or row["policies.load_source.name"]] = m
    systems = ["tiered", "blitzscale", "blitzscale + live", "lambdascale"]
    keys = ["load_s_mean", "cold_start_s_mean", "ttft_p50_s", "ttft_p99_s", "gpu_hours"]
    for runs in out.values():
        for name in systems[1:]:
            runs[name]["vs_tiered"] = {k: change(runs[name][k], runs["tiered"][k]) for k in keys}
        for name in ["blitzscale + live", "lambdascale"]:
            runs[name]["vs_blitzscale"] = {k: change(runs[name][k], runs["blitzscale"][k]) for k in keys}
    with open(os.path.join(HERE, "burst.json"), "w") as f:
        json.dump(out, f, indent=2, sort_keys=True)
        f.write("\n")

    print()
    print("| scenario | load source | loads gpu/dram/ssd/remote | load mean | cold starts | cold wait mean | TTFT p50 "
          "| TTFT p99 | SLO | GPU-h |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    scenarios = sorted(out)
    for scenario in scenarios:
        t = out[scenario]["tiered"]
        for name in systems:
            m = out[scenario][name]
            tiers = "/".join(str(m["loads_by_tier"][k]) for k in ["gpu", "dram", "ssd", "remote"])
            wait = "–" if m["cold_start_s_mean"] is None else f"{m['cold_start_s_mean']:.2f} s" + pct(
                m["cold_start_s_mean"], t["cold_start_s_mean"] or 0)
            row = [scenario if name == "tiered" else "", name, tiers,
                   f"{m['load_s_mean']:.2f} s" + pct(m["load_s_mean"], t["load_s_mean"]), f"{m['cold_starts']:,}", wait,
                   f"{m['ttft_p50_s'] * 1000:.0f} ms" + pct(m["ttft_p50_s"], t["ttft_p50_s"]),
                   f"{m['ttft_p99_s']:.2f} s" + pct(m["ttft_p99_s"], t["ttft_p99_s"]),
                   f"{m['slo_attainment'] * 100:.1f}%", f"{m['gpu_hours']:.2f}" + pct(m["gpu_hours"], t["gpu_hours"])]
            print("| " + " | ".join(row) + " |")
    for scenario in scenarios:
        for name in systems:
            per_model = ", ".join(f"{model} TTFT p99 {v['ttft_p99_s']:.2f} s, {v['cold_starts']:,} cold"
                                  for model, v in sorted(out[scenario][name]["by_model"].items()))
            print(f"{scenario}, {name}: {out[scenario][name]['requests']:,} requests; {per_model}")
        live = out[scenario]["blitzscale + live"]["vs_blitzscale"]
        print(f"{scenario}, blitzscale + live against blitzscale: TTFT p99 {live['ttft_p99_s'] * 100:+.1f}%, "
              f"GPU-h {live['gpu_hours'] * 100:+.1f}%")
        lam = out[scenario]["lambdascale"]
        groups = lam.get("group_loads", {"groups": 0, "members": 0})
        print(f"{scenario}, lambdascale: {groups['groups']} groups served as pipelines ({groups['members']} "
              f"instances); TTFT p99 tiered / lambdascale {out[scenario]['tiered']['ttft_p99_s'] / lam['ttft_p99_s']:.2f}, "
              f"{lam['vs_blitzscale']['ttft_p99_s'] * 100:+.1f}% against blitzscale; GPU-h against blitzscale "
              f"{lam['vs_blitzscale']['gpu_hours'] * 100:+.1f}%")

    fig, axes = plt.subplots(1, 2, figsize=(13, 5.2))
    width = 0.2
    for ax, metric, label in [(axes[0], "ttft_p99_s", "TTFT p99 (s)"), (axes[1], "slo_attainment", "SLO attainment")]:
        for i, name in enumerate(systems):
            xs = [j + (i - 1.5) * width for j in range(len(scenarios))]
            ax.bar(xs, [out[sc][name][metric] for sc in scenarios], width, label=name)
        ax.set_xticks(range(len(scenarios)))
        ax.set_xticklabels(scenarios, rotation=35, ha="right", fontsize=7)
        ax.set_ylabel(label)
        ax.grid(axis="y", alpha=0.3)
    axes[0].set_yscale("log")
    axes[1].set_ylim(0.5, 1.05)
    axes[1].legend(title="load source", loc="upper right", fontsize=8, ncol=4)
    fig.suptitle("Burst: the demo's traces, first 600 s at 3x the rate, one warm instance per model kept, prewarmed start-up")
    fig.tight_layout()
    fig.savefig(os.path.join(HERE, "burst.png"), dpi=120)


def fork():
    """DeepServe's fork on the burst (fork-points/, fork-slow-points/): tiered, blitzscale and
    deepserve under full start-up and from the prewarmed pool (restore 1 and 0.01), on two and four
    DGX H100, with and without host caches, and deepserve with a 4.5 s fork; fork.json, its plot
    and table (change against blitzscale), and the forks each deepserve run made."""
    out = {}
    for sweep, name in [("fork-points", None), ("fork-slow-points", "deepserve (fork 4.5 s)")]:
        with open(os.path.join(HERE, sweep, "sweep.csv")) as f:
            for row in csv.DictReader(f):
                caches = "host caches" if int(row["cluster.server_groups.0.server.dram_cache_bytes"]) else "no host caches"
                summary = read(os.path.join(HERE, sweep, row["point"], "summary.json"))
                m = metrics(summary)
                m["loads_by_tier"] = summary["loads_by_tier"]
                m["load_s_mean"] = summary["load_s"]["mean"]
                if "forks" in summary:
                    m["forks"] = summary["forks"]
                startup = row["policies.startup.name"]
                if startup == "prewarmed":
                    startup += f" (restore {json.loads(row['policies.startup.params'])['restore_fraction']:g})"
                scenario = f"{row['cluster.server_groups.0.count']} servers, {startup}, {caches}"
                out.setdefault(scenario, {})[name or row["policies.load_source.name"]] = m
    systems = ["tiered", "blitzscale", "deepserve", "deepserve (fork 4.5 s)"]
    keys = ["load_s_mean", "cold_start_s_mean", "ttft_p50_s", "ttft_p99_s", "gpu_hours"]
    for runs in out.values():
        for name in systems[2:]:
            runs[name]["vs_blitzscale"] = {k: change(runs[name][k], runs["blitzscale"][k]) for k in keys}
            runs[name]["vs_tiered"] = {k: change(runs[name][k], runs["tiered"][k]) for k in keys}
    with open(os.path.join(HERE, "fork.json"), "w") as f:
        json.dump(out, f, indent=2, sort_keys=True)
        f.write("\n")

    print()
    print("| scenario | load source | loads gpu/dram/ssd/remote | forks / fallbacks | cold start mean | TTFT p50 "
          "| TTFT p99 | SLO | GPU-h |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    scenarios = sorted(out)
    for scenario in scenarios:
        b = out[scenario]["blitzscale"]
        for name in systems:
            m = out[scenario][name]
            tiers = "/".join(str(m["loads_by_tier"][k]) for k in ["gpu", "dram", "ssd", "remote"])
            forks = f"{m['forks']['forked']} / {m['forks']['fallbacks']}" if "forks" in m else "–"
            row = [scenario if name == "tiered" else "", name, tiers, forks,
                   f"{m['load_s_mean']:.2f} s" + pct(m["load_s_mean"], b["load_s_mean"]),
                   f"{m['ttft_p50_s'] * 1000:.0f} ms" + pct(m["ttft_p50_s"], b["ttft_p50_s"]),
                   f"{m['ttft_p99_s']:.2f} s" + pct(m["ttft_p99_s"], b["ttft_p99_s"]),
                   f"{m['slo_attainment'] * 100:.1f}%", f"{m['gpu_hours']:.2f}" + pct(m["gpu_hours"], b["gpu_hours"])]
            print("| " + " | ".join(row) + " |")

    fig, axes = plt.subplots(1, 3, figsize=(16, 5.4))
    width = 0.2
    for ax, metric, label in [(axes[0], "load_s_mean", "cold start, mean: placement to ready (s)"),
                              (axes[1], "ttft_p99_s", "TTFT p99 (s)"), (axes[2], "slo_attainment", "SLO attainment")]:
        for i, name in enumerate(systems):
            xs = [j + (i - 1.5) * width for j in range(len(scenarios))]
            ax.bar(xs, [out[sc][name][metric] for sc in scenarios], width, label=name)
        ax.set_xticks(range(len(scenarios)))
        ax.set_xticklabels(scenarios, rotation=40, ha="right", fontsize=6)
        ax.set_ylabel(label)
        ax.grid(axis="y", alpha=0.3)
    axes[0].set_yscale("log")
    axes[1].set_yscale("log")
    axes[2].set_ylim(0.5, 1.05)
    axes[0].legend(title="load source", fontsize=7)
    fig.suptitle("Fork from a warm instance (DeepServe) under the burst: the demo's traces, first 600 s at 3x the rate, "
                 "one warm instance per model kept")
    fig.tight_layout()
    fig.savefig(os.path.join(HERE, "fork.png"), dpi=120)


def scale64():
    """DeepServe's "64 instances in seconds" (scale64-points/): 63 instances of llama-3.1-8b started
    at one Knative tick from one warm instance on eight DGX H100; scale64.json and the table of
    the time until the last of them is ready."""
    out = {}
    with open(os.path.join(HERE, "scale64-points", "sweep.csv")) as f:
        for row in csv.DictReader(f):
            summary = read(os.path.join(HERE, "scale64-points", row["point"], "summary.json"))
            params = json.loads(row["policies.load_source.params"])
            name = row["policies.load_source.name"] + (f" (fork {params['fork_s']:g} s)" if params else "")
            out.setdefault(row["policies.startup.name"], {})[name] = {
                "loads": sum(summary["loads_by_tier"].values()), "loads_by_tier": summary["loads_by_tier"],
                "load_s_mean": summary["load_s"]["mean"], "load_s_max": summary["load_s"]["max"],
                "forks": summary.get("forks")}
    with open(os.path.join(HERE, "scale64.json"), "w") as f:
        json.dump(out, f, indent=2, sort_keys=True)
        f.write("\n")
    print()
    print("| start-up | load source | loads gpu/dram/ssd/remote | forks | cold start mean | last ready |")
    print("| --- | --- | --- | --- | --- | --- |")
    for startup in sorted(out):
        for name, m in out[startup].items():
            tiers = "/".join(str(m["loads_by_tier"][k]) for k in ["gpu", "dram", "ssd", "remote"])
            forks = str(m["forks"]["forked"]) if m["forks"] else "–"
            print(f"| {startup} | {name} | {tiers} | {forks} | {m['load_s_mean']:.2f} s | {m['load_s_max']:.2f} s |")


def parallel():
    """HydraServe's parallel cold start (parallel-points/, parallel-hydra-points/): eight DGX H100
    with 25 Gb/s storage NICs behind a 100 GB/s store, no host caches, the demo's traces over
    600 s, full and prewarmed (restore 0.01) start-up; tiered, blitzscale, hydraserve k = 2, 4;
    parallel.json, its plot and table (change against tiered), and the cold-start speed-ups."""
    out = {}
    for sweep in ["parallel-points", "parallel-hydra-points"]:
        with open(os.path.join(HERE, sweep, "sweep.csv")) as f:
            for row in csv.DictReader(f):
                summary = read(os.path.join(HERE, sweep, row["point"], "summary.json"))
                m = metrics(summary)
                m["loads_by_tier"] = summary["loads_by_tier"]
                m["load_s_mean"] = summary["load_s"]["mean"]
                m["load_s_p50"] = summary["load_s"]["p50"]
                m["load_s_by_model"] = {model: v["load_s"]["mean"] for model, v in summary["models"].items()}
                if "parallel_loads" in summary:
                    m["parallel_loads"] = summary["parallel_loads"]
                k = row.get("policies.load_source.params.parallel_servers")
                name = f"hydraserve k={k}" if k else row["policies.load_source.name"]
                startup = row["policies.startup.name"] + (" (restore 0.01)" if row["policies.startup.name"] == "prewarmed"
                                                          else "")
                out.setdefault(startup, {})[name] = m
    systems = ["tiered", "blitzscale", "hydraserve k=2", "hydraserve k=4"]
    keys = ["load_s_mean", "load_s_p50", "cold_start_s_mean", "ttft_p50_s", "ttft_p99_s", "gpu_hours"]
    for runs in out.values():
        for name in systems[1:]:
            runs[name]["vs_tiered"] = {k: change(runs[name][k], runs["tiered"][k]) for k in keys}
            # The paper's figure: how many times lower the cold-start latency (placement to ready).
            runs[name]["load_speedup_vs_tiered"] = runs["tiered"]["load_s_mean"] / runs[name]["load_s_mean"]
    with open(os.path.join(HERE, "parallel.json"), "w") as f:
        json.dump(out, f, indent=2, sort_keys=True)
        f.write("\n")

    print()
    print("| start-up | load source | loads gpu/dram/ssd/remote | parallel / fallbacks | load mean (×) | cold wait mean "
          "| TTFT p50 | TTFT p99 | SLO | GPU-h |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    startups = sorted(out)
    for startup in startups:
        t = out[startup]["tiered"]
        for name in systems:
            m = out[startup][name]
            tiers = "/".join(str(m["loads_by_tier"][k]) for k in ["gpu", "dram", "ssd", "remote"])
            par = f"{m['parallel_loads']['started']} / {m['parallel_loads']['fallbacks']}" if "parallel_loads" in m else "–"
            speedup = f" ({t['load_s_mean'] / m['load_s_mean']:.2f}×)" if name != "tiered" else ""
            row = [startup if name == "tiered" else "", name, tiers, par, f"{m['load_s_mean']:.2f} s" + speedup,
                   f"{m['cold_start_s_mean']:.2f} s" + pct(m["cold_start_s_mean"], t["cold_start_s_mean"]),
                   f"{m['ttft_p50_s'] * 1000:.0f} ms" + pct(m["ttft_p50_s"], t["ttft_p50_s"]),
                   f"{m['ttft_p99_s']:.2f} s" + pct(m["ttft_p99_s"], t["ttft_p99_s"]),
                   f"{m['slo_attainment'] * 100:.1f}%", f"{m['gpu_hours']:.2f}" + pct(m["gpu_hours"], t["gpu_hours"])]
            print("| " + " | ".join(row) + " |")
    for startup in startups:
        for name in systems:
            per_model = ", ".join(f"{model} load mean {v:.2f} s" for model, v in
                                  sorted(out[startup][name]["load_s_by_model"].items()) if v is not None)
            print(f"{startup}, {name}: {per_model}")

    fig, axes = plt.subplots(1, 3, figsize=(15, 4.6))
    width = 0.2
    for ax, metric, label in [(axes[0], "load_s_mean", "cold start, mean: placement to ready (s)"),
                              (axes[1], "ttft_p99_s", "TTFT p99 (s)"), (axes[2], "gpu_hours", "GPU-hours")]:
        for i, name in enumerate(systems):
            xs = [j + (i - 1.5) * width for j in range(len(startups))]
            ax.bar(xs, [out[st][name][metric] for st in startups], width, label=name)
        ax.set_xticks(range(len(startups)))
        ax.set_xticklabels(startups, fontsize=8)
        ax.set_ylabel(label)
        ax.grid(axis="y", alpha=0.3)
    axes[0].legend(title="load source", fontsize=8)
    fig.suptitle("Parallel cold start: 8 DGX H100, 25 Gb/s storage NICs, 100 GB/s store, no host caches, "
                 "the demo's traces over 600 s")
    fig.tight_layout()
    fig.savefig(os.path.join(HERE, "parallel.png"), dpi=120)


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
    load_sources()
    live_scaling()
    rebalance()
    prewarmed()
    burst()
    fork()
    scale64()
    parallel()


if __name__ == "__main__":
    main()
