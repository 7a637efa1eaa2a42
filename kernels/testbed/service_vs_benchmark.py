#!/usr/bin/env python3
"""Steps in service against the engine's benchmark of the same card type (issue 16): the steps
a testbed instance ran with nothing else on the card (no other instance stepping, none in a
start-up phase), from controller runs' step logs, against engine.py's step_ms.

  --prefill   lone batch-1 prefills: service / benchmark by prompt size (the benchmark
              interpolated linearly between its measured batch-1 prompts, at the prompt's
              padded bucket), and the median ratio by the card's idle time before the step
  --decode    lone batch-1 decode steps: the median in service against the benchmark's step_ms
              and graph_ms (its GPU time alone), and by how long the card had been busy (steps
              of any instance less than 2 ms apart form one busy period)

usage: service_vs_benchmark.py --steps ENGINE_STEPS.json[,...] (--prefill | --decode) CONTROLLER_JSON...
"""
import argparse
import bisect
import statistics
from collections import defaultdict

import numpy

from scheduling import padded_prefill_tokens, prefill_token_buckets
from serverless import load_run_json
from step_contention import StepIndex, phase_at

PROMPT_RANGES = [(0, 256), (256, 768), (768, 1536), (1536, 4097)]
IDLE_RANGES_S = [(0, 0.01), (0.01, 0.1), (0.1, 1), (1, 10), (10, float("inf"))]
BUSY_RANGES_S = [(0, 0.02), (0.02, 0.2), (0.2, 1), (1, 3), (3, float("inf"))]
BUSY_GAP_S = 0.002


def lone_steps(run, kind):
    """(model, step, seconds the card was idle before it, seconds its busy period had lasted) for
    each batch-1 step of `kind` with nothing else on the card."""
    instances = run["instances"]
    index = StepIndex(instances)
    every = sorted((s[0], s[1]) for inst in instances for s in inst.get("steps", []))
    ends = sorted(end for _, end in every)
    period_starts = []
    reach = None
    for start, end in every:
        if reach is None or start - reach >= BUSY_GAP_S:
            period_starts.append(start)
        reach = end if reach is None else max(reach, end)
    for k, inst in enumerate(instances):
        for step in inst.get("steps", []):
            start, end, step_kind, seqs = step[:4]
            if step_kind != kind or seqs != 1 or any(True for _ in index.beside(k, start, end)):
                continue
            mid = (start + end) / 2
            if any(phase_at(other, mid) for j, other in enumerate(instances) if j != k):
                continue
            before = bisect.bisect_right(ends, start) - 1
            idle_s = start - ends[before] if before >= 0 else float("inf")
            busy_s = start - period_starts[bisect.bisect_right(period_starts, start) - 1]
            yield inst["model"], step, idle_s, busy_s


def benchmark(files):
    """Per model: {"prefill": [(prompt tokens, step ms)] of batch 1, "decode_step_ms": mean of
    batch-1 decode step_ms, "decode_graph_ms": the same of graph_ms}, the files' means."""
    prefill, step, graph = defaultdict(lambda: defaultdict(list)), defaultdict(list), defaultdict(list)
    for path in files:
        for m in load_run_json(path)["models"]:
            for p in m["prefill"]:
                if p["batch"] == 1:
                    prefill[m["model"]][p["prompt_tokens"]].append(p["step_ms"])
            for d in m["decode"]:
                if d["batch"] == 1 and "step_ms" in d:
                    step[m["model"]].append(d["step_ms"])
                    graph[m["model"]].append(d["graph_ms"])
    return {model: {"prefill": sorted((t, statistics.mean(v)) for t, v in prefill[model].items()),
                    "decode_step_ms": statistics.mean(step[model]) if step[model] else None,
                    "decode_graph_ms": statistics.mean(graph[model]) if graph[model] else None}
            for model in set(prefill) | set(step)}


def in_range(value, ranges):
    """The range holding value; the last range is open above (an instance's first step has no
    idle time before it: infinite)."""
    return next((r for r in ranges if r[0] <= value < r[1]), ranges[-1])


def prefill_report(runs, bench):
    """{model: {"by_prompt": {range: (steps, median ratio)}, "by_idle_s": {range: (steps, median
    ratio)}}}, ratio = service / benchmark at the padded bucket; prompts past the benchmark's
    largest measured prompt are left out (nothing to interpolate)."""
    buckets = prefill_token_buckets(4096)
    ratios = defaultdict(lambda: {"by_prompt": defaultdict(list), "by_idle_s": defaultdict(list)})
    for run in runs:
        for model, step, idle_s, _ in lone_steps(run, "prefill"):
            points = bench.get(model, {}).get("prefill")
            tokens = padded_prefill_tokens(step[4], buckets)
            if not points or tokens is None or tokens > points[-1][0]:
                continue
            ratio = (step[1] - step[0]) * 1e3 / float(numpy.interp(tokens, *zip(*points)))
            ratios[model]["by_prompt"][in_range(tokens, PROMPT_RANGES)].append(ratio)
            ratios[model]["by_idle_s"][in_range(idle_s, IDLE_RANGES_S)].append(ratio)
    return {model: {axis: {r: (len(v), statistics.median(v)) for r, v in sorted(by.items())}
                    for axis, by in axes.items()} for model, axes in ratios.items()}


def decode_report(runs, bench):
    """{model: {"steps", "median_ms", "benchmark_step_ms", "benchmark_graph_ms", "by_busy_s":
    {range: (steps, median ms)}}}."""
    times = defaultdict(lambda: defaultdict(list))
    for run in runs:
        for model, step, _, busy_s in lone_steps(run, "decode"):
            times[model][in_range(busy_s, BUSY_RANGES_S)].append((step[1] - step[0]) * 1e3)
    out = {}
    for model, by_busy in times.items():
        every = [ms for v in by_busy.values() for ms in v]
        out[model] = {"steps": len(every), "median_ms": statistics.median(every),
                      "benchmark_step_ms": bench.get(model, {}).get("decode_step_ms"),
                      "benchmark_graph_ms": bench.get(model, {}).get("decode_graph_ms"),
                      "by_busy_s": {r: (len(v), statistics.median(v)) for r, v in sorted(by_busy.items())}}
    return out


def label(r, unit=""):
    return f"{r[0]:g}-{r[1]:g}{unit}" if r[1] != float("inf") else f">={r[0]:g}{unit}"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("runs", nargs="+", help="controller_<workload>.json(.gz) files")
    ap.add_argument("--steps", required=True, help="engine.py outputs of the same card type, comma separated")
    mode = ap.add_mutually_exclusive_group(required=True)
    mode.add_argument("--prefill", action="store_true")
    mode.add_argument("--decode", action="store_true")
    args = ap.parse_args()
    bench = benchmark(args.steps.split(","))
    runs = [load_run_json(p) for p in args.runs]
    if args.prefill:
        for model, axes in sorted(prefill_report(runs, bench).items()):
            print(model)
            for r, (n, ratio) in axes["by_prompt"].items():
                print(f"  prompt {label(r):>10} tokens  {n:4d} steps  service / benchmark {ratio:.3f}")
            for r, (n, ratio) in axes["by_idle_s"].items():
                print(f"  card idle {label(r, ' s'):>12} before  {n:4d} steps  service / benchmark {ratio:.3f}")
    else:
        for model, d in sorted(decode_report(runs, bench).items()):
            step, graph = (f"{v:.3f} ms" if v is not None else "not measured"
                           for v in (d["benchmark_step_ms"], d["benchmark_graph_ms"]))
            print(f"{model}: {d['steps']} steps, median {d['median_ms']:.3f} ms; benchmark step {step}, "
                  f"graph alone {graph}")
            print("  busy for " + ", ".join(f"{label(r, ' s')}: {ms:.3f} ms ({n})" for r, (n, ms) in d["by_busy_s"].items()))


if __name__ == "__main__":
    main()
