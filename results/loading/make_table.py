#!/usr/bin/env python3
"""Reads the loading sweep (POINTS/sweep.csv and each point's requests.csv) and writes
loading.csv (one row per point: the second request's load), speedups.json (sllm over
safetensors and torch per hardware, model and tier) and loading.png beside this script."""
import csv
import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "../../scripts"))
import plot  # noqa: E402  (its pyplot() imports matplotlib, its save() writes reproducible files)

HERE = os.path.dirname(os.path.abspath(__file__))
FORMATS = ["sllm", "safetensors", "torch"]
HARDWARE = ["h200-gpu-machine", "h100-gpu-machine", "serverlessllm-testbed-a40", "serverlessllm-testbed-a5000"]
TIERS = {"lru": "dram", "none": "ssd"}  # the DRAM cache policy decides where the second load reads


def main(points_dir):
    rows = []
    with open(os.path.join(points_dir, "sweep.csv"), newline="") as f:
        for point in csv.DictReader(f):
            with open(os.path.join(points_dir, point["point"], "requests.csv"), newline="") as r:
                second = sorted(csv.DictReader(r), key=lambda x: float(x["arrival_s"]))[1]
            with open(os.path.join(points_dir, point["point"], "config.json")) as c:
                config = json.load(c)
            model = point["models.0.name"]
            served = next(m for m in config["models"] if m["name"] == model)
            load_s = float(second["load_s"])
            rows.append({"hardware": point["cluster.server_groups.0.profile"], "model": model,
                         "intended_tier": TIERS[point["policies.dram_cache.name"]], "tier": second["load_tier"],
                         "format": point["loader.format"], "tensor_parallel": served["tensor_parallel"],
                         "load_s": f"{load_s:.3f}"})
    with open(os.path.join(HERE, "loading.csv"), "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)

    by = {(r["hardware"], r["model"], r["intended_tier"], r["format"]): r for r in rows}
    speedups = {}
    for (hw, model, tier, fmt), r in sorted(by.items()):
        if fmt != "sllm":
            continue
        entry = {"sllm_s": float(r["load_s"]), "tier": r["tier"]}
        for other in ("safetensors", "torch"):
            o = by[(hw, model, tier, other)]
            entry[f"{other}_s"] = float(o["load_s"])
            entry[f"over_{other}"] = round(float(o["load_s"]) / float(r["load_s"]), 2)
        speedups.setdefault(hw, {}).setdefault(tier, {})[model] = entry
    with open(os.path.join(HERE, "speedups.json"), "w") as f:
        json.dump(speedups, f, indent=2)
        f.write("\n")

    models = sorted({r["model"] for r in rows}, key=lambda m: float(m.split("-")[1].rstrip("b")))
    fig, axes = plot.pyplot().subplots(2, len(HARDWARE), figsize=(4.2 * len(HARDWARE), 7))
    width = 0.8 / len(FORMATS)
    for col, hw in enumerate(HARDWARE):
        for row, tier in enumerate(["dram", "ssd"]):
            ax = axes[row][col]
            for k, fmt in enumerate(FORMATS):
                values = [float(by[(hw, m, tier, fmt)]["load_s"]) for m in models]
                ax.bar([i + (k - 1) * width for i in range(len(models))], values, width, label=fmt)
            for i, m in enumerate(models):
                actual = by[(hw, m, tier, "sllm")]["tier"]
                if actual != tier:  # the checkpoint did not fit that cache: say where it came from
                    top = max(float(by[(hw, m, tier, f)]["load_s"]) for f in FORMATS)
                    ax.annotate(f"from {actual}", (i, top * 1.15), fontsize="x-small", ha="center", va="bottom")
            ax.set_xticks(range(len(models)), models, fontsize="small")
            ax.set_yscale("log")
            ax.set_ylim(0.02, 300)
            ax.set_title(f"{hw}\nfrom {tier.upper()}", fontsize="small")
            ax.grid(True, axis="y", which="both", alpha=0.3)
            if col == 0:
                ax.set_ylabel("checkpoint load time (s)")
    axes[0][0].legend(fontsize="small")
    fig.tight_layout()
    plot.save(fig, os.path.join(HERE, "loading.png"))


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else os.path.join(HERE, "points"))
