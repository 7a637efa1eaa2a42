#!/usr/bin/env python3
"""Compares the measuring programs' JSON with their PyTorch baselines and the
issue's targets. Reads a folder written by scripts/gpu_measure.sh, writes
targets.json there and prints a table.

Targets:
  paged attention: ≥ 90% of SDPA's bandwidth (contiguous cache, same shape) for
                   batch ≥ 8 and context ≥ 2048; ≤ 1.2× SDPA's time at batch 1.
  loader cold:     ≥ 90% of the disk's O_DIRECT sequential read bandwidth, and
                   ≥ 1.3× faster than safetensors load_file(device="cuda").
  loader warm:     ≥ 80% of pinned host→device bandwidth, and ≥ 5× faster than
                   safetensors warm (page cache).
usage: summarize.py FOLDER
"""
import glob
import json
import os
import sys


def median(xs):
    xs = sorted(xs)
    return xs[len(xs) // 2]


def disk_gbytes_per_s(baselines):
    """The disk's O_DIRECT bandwidth in a loader_bench file: the better of one reader and the
    loader's number of readers (older files have only the one-reader figure)."""
    return max(baselines["disk_direct_read_one_reader_16MiB_GBps"],
               baselines.get("disk_direct_read_parallel_16MiB_GBps", 0.0))


def main():
    folder = sys.argv[1]
    rows = []

    for pa_path in sorted(glob.glob(os.path.join(folder, "pa_*.json"))):
        label = os.path.basename(pa_path)[3:-5]
        sdpa_path = os.path.join(folder, f"sdpa_{label}.json")
        if not os.path.exists(sdpa_path):
            continue
        pa = json.load(open(pa_path))
        sdpa = {(r["batch"], r["context"]): r for r in json.load(open(sdpa_path))["results"]}
        for r in pa["results"]:
            s = sdpa.get((r["batch"], r["context"]))
            if s is None:
                continue
            row = {"target": "paged_attention", "config": label, "batch": r["batch"], "context": r["context"],
                   "splits": r["splits"], "ours_us": r["us"], "sdpa_us": s["us"], "ours_GBps": r["GBps"],
                   "sdpa_GBps": s["GBps"]}
            if r["batch"] >= 8 and r["context"] >= 2048:
                row["criterion"] = "bandwidth >= 0.9 x SDPA"
                row["value"] = r["GBps"] / s["GBps"]
                row["met"] = row["value"] >= 0.9
            elif r["batch"] == 1:
                row["criterion"] = "time <= 1.2 x SDPA"
                row["value"] = r["us"] / s["us"]
                row["met"] = row["value"] <= 1.2
            rows.append(row)

    for lpath in sorted(glob.glob(os.path.join(folder, "loader_*.json"))):
        model = os.path.basename(lpath)[7:-5]
        ld = json.load(open(lpath))
        spath = os.path.join(folder, f"safetensors_{model}.json")
        st = json.load(open(spath)) if os.path.exists(spath) else None
        loads = ld["loads"]
        fast_cold = median([l["seconds"] for l in loads if l["loader"] == "sllm_fast" and l["state"] == "cold"])
        fast_warm = median([l["seconds"] for l in loads if l["loader"] == "sllm_fast_from_pinned_dram"])
        nbytes = ld["config"]["checkpoint_bytes"]
        disk = disk_gbytes_per_s(ld["baselines"])
        h2d = ld["baselines"]["pinned_h2d_GBps_1GiB"]
        base = {"target": "loader", "config": model, "checkpoint_bytes": nbytes}
        rows.append({**base, "criterion": "cold GB/s >= 0.9 x O_DIRECT sequential read",
                     "ours_s": fast_cold, "ours_GBps": nbytes / fast_cold / 1e9, "baseline_GBps": disk,
                     "value": nbytes / fast_cold / 1e9 / disk, "met": nbytes / fast_cold / 1e9 >= 0.9 * disk})
        rows.append({**base, "criterion": "warm GB/s >= 0.8 x pinned H2D", "ours_s": fast_warm,
                     "ours_GBps": nbytes / fast_warm / 1e9, "baseline_GBps": h2d,
                     "value": nbytes / fast_warm / 1e9 / h2d, "met": nbytes / fast_warm / 1e9 >= 0.8 * h2d})
        if st is not None:
            st_cold = median([l["seconds"] for l in st["loads"] if l["state"] == "cold"])
            st_warm = median([l["seconds"] for l in st["loads"] if l["state"] == "warm"])
            rows.append({**base, "criterion": "cold >= 1.3x faster than safetensors", "ours_s": fast_cold,
                         "baseline_s": st_cold, "value": st_cold / fast_cold, "met": st_cold / fast_cold >= 1.3})
            rows.append({**base, "criterion": "warm >= 5x faster than safetensors", "ours_s": fast_warm,
                         "baseline_s": st_warm, "value": st_warm / fast_warm, "met": st_warm / fast_warm >= 5.0})

    with open(os.path.join(folder, "targets.json"), "w") as f:
        json.dump({"program": "kernels/baselines/summarize.py", "rows": rows}, f, indent=1)
    for r in rows:
        if "criterion" not in r:
            continue
        what = f"{r['target']:15s} {r['config']:22s}"
        if r["target"] == "paged_attention":
            what += f" b={r['batch']:<3d} L={r['context']:<5d} ours {r['ours_us']:8.1f} us {r['ours_GBps']:7.0f} GB/s" \
                    f" sdpa {r['sdpa_us']:8.1f} us {r['sdpa_GBps']:7.0f} GB/s"
        print(f"{what:110s} {r['criterion']:45s} {r['value']:6.2f} {'MET' if r['met'] else 'not met'}")


if __name__ == "__main__":
    main()
