#!/usr/bin/env python3
"""slsim against the serverless testbed: for each workload of workloads.json whose testbed
run exists (controller_<name>.json or .json.gz in the measurement folder), writes the slsim config that
mirrors it (configs/<name>.json), runs slsim (sim/<name>/), and compares per-request metrics
computed the same way on both sides (kernels/testbed/serverless.request_metrics:
nearest-rank percentiles over the completed requests).

Writes comparison.json {workload: {metric: {"measured", "simulated", "error" = (sim - meas) / meas}}}
and cdf_<name>.png (TTFT and E2E, measured against simulated).

usage: compare.py [--slsim PATH] [--measurements DIR...]    (run.sh beside this calls it)"""
import argparse
import csv
import json
import os
import shutil
import statistics
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(REPO, "kernels", "testbed"))

from serverless import load_run_json, request_metrics, run_json_path  # noqa: E402
from step_contention import sharing_params  # noqa: E402

METRICS = ["instance_starts", "cold_starts", "ttft_cold_p50_s", "ttft_cold_p90_s", "ttft_warm_p50_s", "tpot_p50_s", "e2e_p50_s",
           "e2e_p90_s"]
TESTBED_RUNS = os.path.join(REPO, "models", "calibration", "measurements", "h100-sxm", "testbed")
DEFAULT_RUNS = ["graphs-run7", "graphs-run5", "graphs-run6", "graphs-run3"]
GPU_SLICES = 4  # the testbed's card as four GPUs of a quarter of its memory that share its compute (README)


def server_profile(testbed):
    """The slsim server profile of the testbed's card (its environment's GPU name)."""
    gpu = testbed["environment"]["gpu"]
    for key, profile in (("H200", "h200-gpu-machine"), ("H100", "h100-gpu-machine")):
        if key in gpu:
            return profile
    raise SystemExit(f"no slsim server profile for the testbed's GPU {gpu!r}")


def run_calibration_dir(slsim, run_dir, testbed):
    """A calibration folder holding the GPU's profile with the start-up section replaced by the
    run's own in-service medians (run_dir/startup_in_service.json), since start-up differs up to
    2x between machines of one type; None where the run has no such file."""
    startup = os.path.join(run_dir, "startup_in_service.json")
    if not os.path.exists(startup):
        return None
    with open(os.path.join(REPO, "models", "hardware", "servers", server_profile(testbed) + ".json")) as f:
        gpu = json.load(f)["gpu"]
    folder = os.path.join(HERE, "calibration", os.path.basename(os.path.normpath(run_dir)))
    os.makedirs(folder, exist_ok=True)
    profile = os.path.join(folder, gpu + ".json")
    shutil.copyfile(os.path.join(REPO, "models", "calibration", gpu + ".json"), profile)
    subprocess.run([slsim, "calibrate", "--update", profile, "--startup", startup], check=True, stdout=subprocess.DEVNULL)
    return folder


def in_service_disk_gbytes_per_s(runs):
    """The testbed's disk loads as its instances did them in service: the median over the runs'
    instances that loaded from the local disk while no other instance loaded of checkpoint bytes
    over the load phase (pinned pool allocation, O_DIRECT reads, copies to the GPU and the write of
    each chunk into the DRAM cache's file). Where every disk load had another beside it (run 7),
    the median over all of them: loads beside each other keep nearly a lone one's rate
    (run 5: five of six at 1.42-1.49 GB/s, one at 1.16, against 1.58-1.60 alone), bound by their own work, not by the disk (2.87 GB/s).
    None where no disk load exists."""
    lone, every = [], []
    for run in runs:
        spans = [(i["stamps_s"]["kv_reserve"], i["stamps_s"]["load"], i["instance"]) for i in run["instances"]
                 if "kv_reserve" in i["stamps_s"] and "load" in i["stamps_s"]]
        for start, end, k in spans:
            inst = run["instances"][k]
            if inst["tier"] != "ssd" or end <= start:
                continue
            rate = inst["info"]["weight_bytes"] / 1e9 / (end - start)
            every.append(rate)
            if not any(o != k and s < end and e > start for s, e, o in spans):
                lone.append(rate)
    rates = lone or every
    return statistics.median(rates) if rates else None


def in_service_dispatch_s(runs):
    """The testbed's request path before its engine sees a request: the median over the runs'
    warm requests (a ready instance at arrival) of arrival to the worker's read of it (the
    controller's loop, a JSON line over the worker's stdin pipe, its reader thread); None where
    no warm request exists."""
    waits = [r["received_s"] - r["arrival_s"] for run in runs for r in run["requests"]
             if not r.get("cold") and r.get("received_s") is not None]
    return statistics.median(waits) if waits else None


def sim_config(name, workload, trace_csv, testbed, calibration_dir=None, load_gbytes_per_s=None, sharing=None,
               dispatch_s=None):
    """The slsim experiment mirroring one testbed run (paths relative to configs/)."""
    profile = server_profile(testbed)
    with open(os.path.join(REPO, "models", "hardware", "servers", profile + ".json")) as f:
        server = json.load(f)
    with open(os.path.join(REPO, "models", "hardware", "gpus", server["gpu"] + ".json")) as f:
        gpu_memory_bytes = json.load(f)["memory_bytes"]
    # The disk at the rate the testbed's loader reads it alone (startup_phases load_file: 2.83-2.87
    # GB/s on the H100 machine, 2026-12-05), the profile's O_DIRECT figure; each load in service
    # reads below it (it also writes every chunk into the DRAM cache's file), so concurrent loads
    # share the disk only beyond that per-load rate: two loads beside each other on the testbed each
    # kept 1.43-1.49 GB/s in run 5, where a lone load reached 1.59 GB/s.
    disk_gbytes_per_s = server["ssd_read_gbytes_per_s"]
    cfg = {
        "name": name,
        "seed": 1,
        # This checkout's catalogue and calibration, not the one the binary was built with.
        "catalog_dir": os.path.relpath(os.path.join(REPO, "models"), os.path.join(HERE, "configs")),
        "cluster": {
            "server_groups": [{
                "profile": profile, "count": 1,
                "server": {"gpus": GPU_SLICES, "gpus_sharing_compute": GPU_SLICES, "dram_cache_bytes": testbed["config"]["dram_cache_bytes"],
                           "ssd_cache_bytes": 0, "nic_gbytes_per_s": disk_gbytes_per_s},
                "gpu": {"memory_bytes": gpu_memory_bytes // GPU_SLICES},
            }],
            # The testbed's checkpoints start on the local disk; slsim's start in remote storage,
            # which stands in for that disk here (same bandwidth, no SSD cache).
            "remote_storage_gbytes_per_s": disk_gbytes_per_s,
        },
        "models": [{"name": m, "tensor_parallel": 1} for m in workload["models"]],
        "workload": {"sources": [{"kind": "trace", "path": os.path.relpath(trace_csv, os.path.join(HERE, "configs")),
                                  "mapping": {"model_field": "model"}, "assign": "name"}]},
        # vLLM v0: the testbed's engine prefills each admitted prompt in a graph of its own, not in
        # chunks mixed with decodes.
        # The testbed fixes each instance's KV cache (--kv-gb), whatever the model's weights.
        "engine": {"mode": "vllm_v0", "latency_model": "calibrated", "max_num_seqs": 256,
                   "max_num_batched_tokens": 8192, "kv_cache_memory_bytes": testbed["config"]["kv_cache_bytes_per_instance"]},
        "policies": {
            "placement": {"name": "least-loaded"},
            "keepalive": {"name": "fixed", "params": {"ttl_s": testbed["config"]["ttl_s"],
                                                      "keep_checkpoint_in_dram": True}},
            "autoscale": {"name": "on-demand"},
            "dram_cache": {"name": "lru"},
        },
        "output": {"timeseries_interval_s": 0},
    }
    if load_gbytes_per_s is not None:
        cfg["loader"] = {"read_max_gbytes_per_s": load_gbytes_per_s}
    if dispatch_s is not None:
        cfg["router"] = {"dispatch_latency_s": dispatch_s}
    if sharing is not None:
        cfg["cluster"]["server_groups"][0]["server"].update(sharing)
    if calibration_dir is not None:
        cfg["engine"]["calibration_dir"] = os.path.relpath(calibration_dir, os.path.join(HERE, "configs"))
    return cfg


def folder_runs(run_dir):
    """Every controller run of a measurement folder (the runs its startup_in_service.json pools)."""
    return [load_run_json(os.path.join(run_dir, file)) for file in sorted(os.listdir(run_dir))
            if file.startswith("controller_") and file.endswith((".json", ".json.gz"))]


def sim_instance_starts(run_dir):
    with open(os.path.join(run_dir, "summary.json")) as f:
        return sum(json.load(f)["loads_by_tier"].values())


def sim_records(run_dir):
    recs = []
    with open(os.path.join(run_dir, "requests.csv"), newline="") as f:
        for row in csv.DictReader(f):
            a = float(row["arrival_s"])
            recs.append({"id": int(row["id"]), "arrival_s": a, "first_token_s": a + float(row["ttft_s"]), "last_token_s": a + float(row["e2e_s"]),
                         "output_tokens": int(row["output_tokens"]), "cold": row["cold_start"] == "1"})
    return recs


def run_slsim(slsim, cfg, name, timeline=False):
    """Runs slsim on cfg (written to configs/<name>.json) into sim/<name>/; with `timeline`, also
    its step timeline there (timeline.json, which decompose.py reads)."""
    os.makedirs(os.path.join(HERE, "configs"), exist_ok=True)
    path = os.path.join(HERE, "configs", name + ".json")
    with open(path, "w") as f:
        json.dump(cfg, f, indent=1)
        f.write("\n")
    out = os.path.join(HERE, "sim", name)
    command = [slsim, "run", path, "-o", out] + (["--timeline", os.path.join(out, "timeline.json")] if timeline else [])
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
    return sim_records(out), sim_instance_starts(out)


def alone_on_the_gpu(records):
    """Ids of the served requests during whose life (arrival to last token) no other model's
    request was being served: the testbed's instances share one GPU (time-sliced between
    processes), slsim's do not, so only these compare the engine without that contention."""
    done = [r for r in records if r.get("last_token_s") is not None]
    return {r["id"] for r in done
            if not any(o["model"] != r["model"] and o["first_token_s"] - 0.0 < r["last_token_s"]
                       and o["last_token_s"] > r["arrival_s"] for o in done)}


def table(measured, simulated):
    out = {}
    for k in METRICS:
        x, y = measured.get(k), simulated.get(k)
        out[k] = {"measured": x, "simulated": y, "error": (y - x) / x if x not in (None, 0) and y is not None else None}
    return out


def plot_cdfs(name, measured, simulated, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    for ax, (label, fn) in zip(axes, [("TTFT (s)", lambda r: r["first_token_s"] - r["arrival_s"]),
                                      ("E2E latency (s)", lambda r: r["last_token_s"] - r["arrival_s"])]):
        for recs, legend, style in [(measured, "testbed (measured)", "-"), (simulated, "slsim", "--")]:
            vals = sorted(fn(r) for r in recs if r.get("last_token_s") is not None)
            if vals:
                ax.step(vals, [(i + 1) / len(vals) for i in range(len(vals))], where="post", linestyle=style,
                        label=f"{legend} (n={len(vals)})")
        ax.set_xscale("symlog", linthresh=0.1)
        ax.set_xlabel(label)
        ax.set_ylabel("share of requests")
        ax.set_ylim(0, 1.0)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(loc="lower right", fontsize=8)
    fig.suptitle(f"{name}: testbed against slsim")
    fig.tight_layout()
    fig.savefig(path, dpi=120, metadata={"Software": None})
    plt.close(fig)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--slsim", default=os.environ.get("SLSIM_BINARY", os.environ.get(
        "SLSIM", os.path.join(REPO, "build", "release", "sim", "slsim"))))
    ap.add_argument("--measurements", nargs="+", default=[os.path.join(TESTBED_RUNS, run) for run in DEFAULT_RUNS],
                    help="testbed run folders; each workload is taken from the first folder that holds it")
    ap.add_argument("--out", default=os.path.join(HERE, "comparison.json"), help="the comparison's JSON file")
    args = ap.parse_args()
    with open(os.path.join(HERE, "workloads.json")) as f:
        workloads = json.load(f)
    comparison = {}
    for w in workloads["workloads"]:
        name = w["name"]
        paths = [p for p in (run_json_path(d, f"controller_{name}") for d in args.measurements) if p]
        if not paths:
            print(f"{name}: no testbed run in {', '.join(args.measurements)}, skipped", file=sys.stderr)
            continue
        path = paths[0]
        testbed = load_run_json(path)
        trace_csv = os.path.join(HERE, workloads["traces"][w["trace"]]["csv"])
        measured = testbed["requests"]
        calibration = run_calibration_dir(args.slsim, os.path.dirname(path), testbed)
        runs = folder_runs(os.path.dirname(path))
        per_load = in_service_disk_gbytes_per_s(runs)
        # The card's time slicing as the folder's own step logs measured it, as start-up and loads.
        sharing = sharing_params(runs)
        dispatch_s = in_service_dispatch_s(runs)
        simulated, sim_starts = run_slsim(args.slsim, sim_config(name, workloads, trace_csv, testbed, calibration_dir=calibration,
                                                                 load_gbytes_per_s=per_load, sharing=sharing, dispatch_s=dispatch_s),
                                          name, timeline=True)
        m = dict(request_metrics(measured), instance_starts=len(testbed["instances"]))
        comparison[name] = table(m, dict(request_metrics(simulated), instance_starts=sim_starts))
        comparison[name]["load_gbytes_per_s_used"] = per_load
        comparison[name]["compute_sharing_used"] = sharing
        comparison[name]["dispatch_latency_s_used"] = dispatch_s
        alone = alone_on_the_gpu(measured)
        pick = lambda recs: [r for r in recs if r["id"] in alone]  # noqa: E731
        comparison[name + " (requests alone on the GPU)"] = dict(
            table(request_metrics(pick(measured)), request_metrics(pick(simulated))), requests=len(alone))
        plot_cdfs(name, measured, simulated, os.path.join(HERE, f"cdf_{name}.png"))
        print(f"{name}: " + ", ".join(f"{k} {comparison[name][k]['measured']} / {comparison[name][k]['simulated']}" for k in METRICS))
    with open(args.out, "w") as f:
        json.dump(comparison, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()
