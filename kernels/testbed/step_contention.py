#!/usr/bin/env python3
"""How a testbed instance's decode steps slow down beside the other instances on its GPU, from
a controller run's per-step log (controller_<name>.json, instances[].steps: [start_s, end_s,
kind, sequences, context]).

Each decode step of at most --max-batch sequences is classed by what the other instances were
doing meanwhile: stepping themselves (serving), or, when none was stepping, the start-up phase
each was in at the step's midpoint (from its phase stamps). Prints and writes (--out) the median
and p90 step time per model, batch size and class, and each class's ratio to the same model and
batch size with nothing else on the card.

With several controller files, --pooled prints instead each class group's mean step time over
the same model's median alone (serving neighbours: 1 or 2+ stepping; a neighbour capturing CUDA
graphs and none stepping; other start-up phases only), pooled over models and runs: the mean is
what a step's throughput sees, and the figures slsim's compute sharing takes
(compute_sharing_efficiency = 2 / the "1 stepping" mean, graph_capture_compute_share from the
capture mean).

With --check-sharing, slsim's sharing model applied to the files' own decode steps
(sharing_check: each file on its own, its times alone and sharing figures from all). With
--slicing, the line a decode step's time beside one stepping neighbour follows in its time alone,
pooled over the files (slicing_fit).

usage: step_contention.py CONTROLLER_JSON... [--out FILE] [--max-batch N] [--min-steps N]
       [--pooled | --slicing | --check-sharing [--by-model]]"""
import argparse
import bisect
import json
import statistics
from collections import defaultdict

from serverless import load_run_json

PHASES = ["interpreter", "import_torch", "cuda_context", "engine_setup", "kv_reserve", "load", "compile",
          "graph_capture", "warm_up"]


def phase_at(instance, t):
    """The start-up phase an instance is in at t (a phase's stamp marks its end), 'exiting' after
    its release, None while serving, idle or not yet launched."""
    if t < instance["launch_s"]:
        return None
    stamps = instance.get("stamps_s", {})
    for phase in PHASES:
        if phase in stamps and t < stamps[phase]:
            return phase
    released = instance.get("released_s")
    if released is not None and released <= t < (instance.get("exit_s") or float("inf")):
        return "exiting"
    return None


class StepIndex:
    """Every step of a run's instances by start time, to find the steps of the others that
    overlap an interval without a scan."""

    def __init__(self, instances):
        self.steps = sorted((s[0], s[1], k) for k, inst in enumerate(instances) for s in inst.get("steps", []))
        self.starts = [s[0] for s in self.steps]
        self.longest = max((s[1] - s[0] for s in self.steps), default=0)

    def beside(self, k, a, b):
        """(other instance, seconds of overlap) for each step of an instance other than k that
        overlaps [a, b]."""
        j = bisect.bisect_left(self.starts, a - self.longest)
        while j < len(self.steps) and self.steps[j][0] < b:
            start, end, other = self.steps[j]
            if other != k and end > a:
                yield other, min(b, end) - max(a, start)
            j += 1


def alone_times(*by_classes, min_steps=20):
    """Per (model, batch size), the median step time with nothing else on the card over the
    given classify() results together; only where at least min_steps steps were alone."""
    alone = defaultdict(list)
    for by_class in by_classes:
        for (model, seqs, cls), ms in by_class.items():
            if cls == "alone":
                alone[(model, seqs)] += ms
    return {key: statistics.median(ms) for key, ms in alone.items() if len(ms) >= min_steps}


def classify(run, max_batch):
    instances = run["instances"]
    index = StepIndex(instances)
    by_class = defaultdict(list)
    for k, inst in enumerate(instances):
        for start, end, kind, seqs, _ in inst.get("steps", []):
            if kind != "decode" or seqs > max_batch:
                continue
            serving = {other for other, _ in index.beside(k, start, end)}
            if serving:
                cls = f"{min(len(serving), 2)}{'+' if len(serving) >= 2 else ''} stepping"
            else:
                mid = (start + end) / 2
                phases = sorted({p for j, o in enumerate(instances) if j != k for p in [phase_at(o, mid)] if p})
                cls = "+".join(phases) if phases else "alone"
            by_class[(inst["model"], seqs, cls)].append((end - start) * 1e3)
    return by_class


def group_of(cls):
    if "stepping" in cls:
        return cls
    if "graph_capture" in cls:
        return "capture (none stepping)"
    return "alone" if cls == "alone" else "other start-up phases"


def pooled(runs, max_batch):
    """Each class group's step times over the same model's median alone, pooled over the runs
    (controller runs as loaded): {group: [ratio, ...]}."""
    ratios = defaultdict(list)
    for run in runs:
        by_class = classify(run, max_batch)
        alone = alone_times(by_class)
        for (model, seqs, cls), ms in by_class.items():
            if (model, seqs) in alone:
                ratios[group_of(cls)] += [x / alone[(model, seqs)] for x in ms]
    return ratios


def sharing_params(runs, max_batch=1):
    """The server profile's compute_sharing_efficiency and graph_capture_compute_share from the
    runs' pooled means (docs/decisions.md: 2 / the "1 stepping" mean, and the capture mean x the
    efficiency - 1); None where the runs lack either class."""
    ratios = pooled(runs, max_batch)
    if not ratios.get("1 stepping") or not ratios.get("capture (none stepping)"):
        return None
    efficiency = 2 / statistics.mean(ratios["1 stepping"])
    return {"compute_sharing_efficiency": round(efficiency, 3),
            "graph_capture_compute_share": round(max(0.0, statistics.mean(ratios["capture (none stepping)"]) * efficiency - 1), 3)}


def slicing_fit(runs, max_batch=2):
    """Decode step time beside exactly one stepping neighbour against the same model and batch
    size alone (median, at least 20 steps): the least-squares line t = slope x alone + intercept
    over every such step of the runs. Processor sharing at efficiency e gives slope 2 / e and no
    intercept; time slicing makes a short step also wait out its neighbour's slice, which the
    intercept measures. None where fewer than two alone times occur."""
    xs, ys = [], []
    for run in runs:
        by_class = classify(run, max_batch)
        alone = alone_times(by_class)
        for (model, seqs, cls), ms in by_class.items():
            if cls == "1 stepping" and (model, seqs) in alone:
                xs += [alone[(model, seqs)]] * len(ms)
                ys += ms
    if len(set(xs)) < 2:
        return None
    mx, my = statistics.mean(xs), statistics.mean(ys)
    slope = sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sum((x - mx) ** 2 for x in xs)
    return {"slope": round(slope, 3), "intercept_ms": round(my - slope * mx, 3), "steps": len(xs)}


def sharing_check(runs, params, max_batch=2, alone_runs=None, by_model=False):
    """slsim's compute sharing applied to the runs' own decode steps: each step of a model and
    batch size with a time alone (median over the alone steps of `alone_runs`, default the runs; a
    keep-alive 0 run has none, its folder's other runs do; at least 20) is predicted as
    that time x (1 + others stepping + capture_share x others capturing) / efficiency, the others
    stepping time-weighted over the step and the captures at its midpoint (x 1 with neither).
    Returns the measured over the predicted sum per class (alone, capture-only, stepping,
    stepping+capture) and over all: 1 where the model explains the steps it is given. With
    by_model, the stepping class is split by the step's model and its number of distinct stepping
    neighbours (1, 2, 3+): whether short or long steps fare differently beside several others."""
    alone = alone_times(*(classify(run, max_batch) for run in alone_runs or runs))
    sums = defaultdict(lambda: [0.0, 0.0])
    for run in runs:
        instances = run["instances"]
        index = StepIndex(instances)
        for k, inst in enumerate(instances):
            for start, end, kind, seqs, _ in inst.get("steps", []):
                time_alone = alone.get((inst["model"], seqs))
                if kind != "decode" or seqs > max_batch or time_alone is None or end <= start:
                    continue
                stepping = sum(overlap for _, overlap in index.beside(k, start, end)) / (end - start)
                mid = (start + end) / 2
                capturing = sum(1 for j, o in enumerate(instances) if j != k and phase_at(o, mid) == "graph_capture")
                if stepping < 0.05 and not capturing:
                    cls, predicted = "alone", time_alone
                else:
                    cls = ("capture-only" if stepping < 0.05 else "stepping") + ("+capture" if capturing and stepping >= 0.05 else "")
                    predicted = time_alone * (1 + stepping + params["graph_capture_compute_share"] * capturing) / \
                        params["compute_sharing_efficiency"]
                keys = [cls, "all"]
                if by_model and cls == "stepping":
                    neighbours = len({other for other, _ in index.beside(k, start, end)})
                    keys.append(f"{inst['model']} beside {min(neighbours, 3)}{'+' if neighbours >= 3 else ''}")
                for key in keys:
                    sums[key][0] += (end - start) * 1e3
                    sums[key][1] += predicted
    return {key: round(measured / predicted, 3) for key, (measured, predicted) in sorted(sums.items())}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("controller_json", nargs="+")
    ap.add_argument("--pooled", action="store_true")
    ap.add_argument("--slicing", action="store_true", help="with several files too: slicing_fit over them")
    ap.add_argument("--check-sharing", action="store_true",
                    help="sharing_check of the files with their own sharing_params (with several files too)")
    ap.add_argument("--by-model", action="store_true",
                    help="with --check-sharing: the stepping class per model and number of neighbours")
    ap.add_argument("--out")
    ap.add_argument("--max-batch", type=int, default=2)
    ap.add_argument("--min-steps", type=int, default=20)
    args = ap.parse_args()
    if args.check_sharing:
        runs = [load_run_json(path) for path in args.controller_json]
        params = sharing_params(runs)
        for path, run in zip(args.controller_json, runs):
            print(path, json.dumps(sharing_check([run], params, args.max_batch, alone_runs=runs,
                                                 by_model=args.by_model)))
        return
    if args.slicing:
        print(json.dumps(slicing_fit([load_run_json(path) for path in args.controller_json], args.max_batch)))
        return
    if args.pooled:
        runs = [load_run_json(path) for path in args.controller_json]
        for group, r in sorted(pooled(runs, args.max_batch).items()):
            print(f"{group:26} {len(r):6} steps  mean x{statistics.mean(r):.2f}  p50 x{statistics.median(r):.2f}")
        return
    if len(args.controller_json) > 1:
        ap.error("several controller files go with --pooled")
    run = load_run_json(args.controller_json[0])
    by_class = classify(run, args.max_batch)
    rows = []
    for (model, seqs, cls), ms in sorted(by_class.items()):
        if len(ms) < args.min_steps:
            continue
        alone = by_class.get((model, seqs, "alone"), [])
        ms.sort()
        row = {"model": model, "batch": seqs, "beside": cls, "steps": len(ms), "p50_ms": round(statistics.median(ms), 3),
               "p90_ms": round(ms[int(0.9 * (len(ms) - 1))], 3)}
        if len(alone) >= args.min_steps:
            row["p50_over_alone"] = round(row["p50_ms"] / statistics.median(alone), 3)
        rows.append(row)
        print(f"{model:13} b{seqs} {cls:42} {len(ms):5} steps  p50 {row['p50_ms']:6.2f} ms  p90 {row['p90_ms']:6.2f} ms"
              + (f"  x{row['p50_over_alone']:.2f}" if "p50_over_alone" in row else ""))
    if args.out:
        with open(args.out, "w") as f:
            json.dump({"program": "kernels/testbed/step_contention.py", "source": args.controller_json[0],
                       "max_batch": args.max_batch, "rows": rows}, f, indent=1)
            f.write("\n")


if __name__ == "__main__":
    main()
