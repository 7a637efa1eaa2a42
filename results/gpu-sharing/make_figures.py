#!/usr/bin/env python3
"""gpu_sharing.json, gpu_sharing.png and the README's markdown table (printed) from run.sh's runs:
per keep-alive and sharing mode (exclusive, elastic-kv), per number of H100s, SLO attainment,
TTFT and TPOT p50/p99, cold starts; and the GPUs each mode needs: the fewest whose SLO
attainment is within 1 point of exclusive's on 16 GPUs (one GPU per model). Then the same for the
32-model workload (gpu_sharing_32.json, gpu_sharing_32.png, a second table), with model switching
(aegaeon and round-robin) beside, against exclusive on 32 GPUs, and the switches each run made."""
import json
import os

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
MODES = ["exclusive", "elastic"]
TTLS = [60, 600]
CARDS = [1, 2, 3, 4, 5, 6, 8, 10, 12, 14, 16]
HOURS = 1.0  # the workload's window; a run's GPUs are provisioned for it


MODES_32 = ["exclusive", "elastic", "switching", "switching_rr"]
CARDS_32 = [1, 2, 3, 4, 5, 6, 8, 10, 12, 16, 20, 24, 28, 32]
LABELS_32 = {"exclusive": "one model per GPU (exclusive)", "elastic": "elastic KV, weights resident (elastic-kv)",
             "switching": "model switching, Aegaeon's scheduler", "switching_rr": "model switching, round robin 2 s"}


def point(mode, ttl, cards, prefix=""):
    with open(os.path.join(HERE, "runs", f"{prefix}{mode}-ttl{ttl}-gpus{cards}", "summary.json")) as f:
        s = json.load(f)
    switching = s.get("model_switching", {})
    extra = {"switches": switching["switches"], "switched_tb": round(switching["switched_bytes"] / 1e12, 2)} \
        if switching else {}
    return {**extra, "gpus": cards, "gpu_hours": cards * HOURS, "requests": s["requests"], "completed": s["completed"],
            "cold_starts": s["cold_starts"], "slo_attainment": round(s["slo"]["attainment"], 4),
            "ttft_p50_s": round(s["ttft_s"]["p50"], 4), "ttft_p99_s": round(s["ttft_s"]["p99"], 3),
            "tpot_p50_s": round(s["tpot_s"]["p50"], 5), "tpot_p99_s": round(s["tpot_s"]["p99"], 5),
            "preemptions": s["preemptions"]}


def main():
    out = {"slo": {"ttft_s": 5, "tpot_s": 0.1}, "target": "SLO attainment within 0.01 of exclusive on 16 GPUs",
           "keepalive": {}}
    for ttl in TTLS:
        runs = {mode: [point(mode, ttl, c) for c in CARDS] for mode in MODES}
        target = runs["exclusive"][-1]["slo_attainment"] - 0.01
        needed = {mode: next(p for p in runs[mode] if p["slo_attainment"] >= target) for mode in MODES}
        out["keepalive"][f"{ttl}s"] = {
            "runs": runs, "target_attainment": round(target, 4),
            "needed": needed,
            "fewer_gpus": round(1 - needed["elastic"]["gpus"] / needed["exclusive"]["gpus"], 3)}
    with open(os.path.join(HERE, "gpu_sharing.json"), "w") as f:
        json.dump(out, f, indent=1)
        f.write("\n")

    fig, axes = plt.subplots(1, len(TTLS), figsize=(10, 3.8), sharey=True)
    for ax, ttl in zip(axes, TTLS):
        k = out["keepalive"][f"{ttl}s"]
        for mode, style in zip(MODES, ["o-", "s-"]):
            label = "one model per GPU (exclusive)" if mode == "exclusive" else "elastic KV, co-located (elastic-kv)"
            ax.plot(CARDS, [p["slo_attainment"] for p in k["runs"][mode]], style, label=label)
            ax.axvline(k["needed"][mode]["gpus"], color=ax.lines[-1].get_color(), ls=":", lw=1)
        ax.axhline(k["target_attainment"], color="grey", ls="--", lw=0.8)
        ax.set_title(f"keep-alive {ttl} s: {k['fewer_gpus'] * 100:.0f}% fewer GPUs")
        ax.set_xlabel("H100 GPUs")
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("SLO attainment (TTFT 5 s, TPOT 0.1 s)")
    axes[0].legend(loc="lower right", fontsize=8)
    fig.suptitle("16 models at low rates (Azure conv + code / 10): GPUs to reach the one-per-GPU SLO", fontsize=10)
    fig.tight_layout()
    fig.savefig(os.path.join(HERE, "gpu_sharing.png"), dpi=120)

    print("| keep-alive | mode | GPUs needed | GPU-hours | SLO attainment | TTFT p50 / p99 (s) | TPOT p50 / p99 (ms) | cold starts |")
    print("|---|---|---|---|---|---|---|---|")
    for ttl in TTLS:
        k = out["keepalive"][f"{ttl}s"]
        for mode in MODES:
            p = k["needed"][mode]
            print(f"| {ttl} s | {mode} | {p['gpus']} | {p['gpu_hours']:g} | {p['slo_attainment']:.3f} | "
                  f"{p['ttft_p50_s']:.3f} / {p['ttft_p99_s']:.1f} | {p['tpot_p50_s'] * 1e3:.1f} / "
                  f"{p['tpot_p99_s'] * 1e3:.1f} | {p['cold_starts']} |")
        e16 = k["runs"]["elastic"][-1]
        print(f"| {ttl} s | elastic on 16 | 16 | 16 | {e16['slo_attainment']:.3f} | {e16['ttft_p50_s']:.3f} / "
              f"{e16['ttft_p99_s']:.1f} | {e16['tpot_p50_s'] * 1e3:.1f} / {e16['tpot_p99_s'] * 1e3:.1f} | "
              f"{e16['cold_starts']} |")

    many_models()


def many_models():
    out = {"slo": {"ttft_s": 5, "tpot_s": 0.1}, "target": "SLO attainment within 0.01 of exclusive on 32 GPUs",
           "keepalive": {}}
    for ttl in TTLS:
        runs = {mode: [point(mode, ttl, c, "m32-") for c in CARDS_32] for mode in MODES_32}
        target = runs["exclusive"][-1]["slo_attainment"] - 0.01
        needed = {mode: next((p for p in runs[mode] if p["slo_attainment"] >= target), None) for mode in MODES_32}
        out["keepalive"][f"{ttl}s"] = {
            "runs": runs, "target_attainment": round(target, 4), "needed": needed,
            "fewer_gpus": {mode: round(1 - p["gpus"] / needed["exclusive"]["gpus"], 3)
                           for mode, p in needed.items() if p}}
    with open(os.path.join(HERE, "gpu_sharing_32.json"), "w") as f:
        json.dump(out, f, indent=1)
        f.write("\n")

    fig, axes = plt.subplots(1, len(TTLS), figsize=(10, 3.8), sharey=True)
    for ax, ttl in zip(axes, TTLS):
        k = out["keepalive"][f"{ttl}s"]
        for mode, style in zip(MODES_32, ["o-", "s-", "^-", "v--"]):
            ax.plot(CARDS_32, [p["slo_attainment"] for p in k["runs"][mode]], style, label=LABELS_32[mode], ms=4)
            if k["needed"][mode]:
                ax.axvline(k["needed"][mode]["gpus"], color=ax.lines[-1].get_color(), ls=":", lw=1)
        ax.axhline(k["target_attainment"], color="grey", ls="--", lw=0.8)
        ax.set_title(f"keep-alive {ttl} s")
        ax.set_xlabel("H100 GPUs")
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("SLO attainment (TTFT 5 s, TPOT 0.1 s)")
    axes[0].legend(loc="lower right", fontsize=7)
    fig.suptitle("32 models at low rates (Azure conv + code / 10), weights fill 8 cards: GPUs to reach the "
                 "one-per-GPU SLO", fontsize=10)
    fig.tight_layout()
    fig.savefig(os.path.join(HERE, "gpu_sharing_32.png"), dpi=120)

    print()
    print("| keep-alive | mode | GPUs needed | GPU-hours | SLO attainment | TTFT p50 / p99 (s) | TPOT p50 / p99 (ms) "
          "| cold starts | switches |")
    print("|---|---|---|---|---|---|---|---|---|")
    for ttl in TTLS:
        k = out["keepalive"][f"{ttl}s"]
        for mode in MODES_32:
            p = k["needed"][mode]
            if not p:
                best = max(k["runs"][mode], key=lambda q: q["slo_attainment"])
                print(f"| {ttl} s | {mode} | not reached (best {best['slo_attainment']:.3f} on {best['gpus']}) "
                      "| | | | | | |")
                continue
            print(f"| {ttl} s | {mode} | {p['gpus']} | {p['gpu_hours']:g} | {p['slo_attainment']:.3f} | "
                  f"{p['ttft_p50_s']:.3f} / {p['ttft_p99_s']:.1f} | {p['tpot_p50_s'] * 1e3:.1f} / "
                  f"{p['tpot_p99_s'] * 1e3:.1f} | {p['cold_starts']} | {p.get('switches', '')} |")


if __name__ == "__main__":
    main()
