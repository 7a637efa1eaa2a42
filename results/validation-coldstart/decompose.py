#!/usr/bin/env python3
"""Request by request, what makes the testbed's and slsim's figures differ (issue 16, run 3).

Reads a testbed run (controller_<name>.json: per request arrival / sent / received / prefill
start / first and last token, per instance its phase stamps and its step log) and slsim's run of
the same workload as compare.py leaves it (sim/<name>/requests.csv and timeline.json, whose
`batch` slices are slsim's engine steps, a fast-forwarded run of decode steps as one slice).
Requests are matched by id. Prints, for each workload:

1. warm TTFT, request by request: on the testbed arrival -> read by the instance (controller and
   pipe), -> its prefill step begins (the instance finishing its step, or waiting for KV blocks),
   the prefill step, and the hand-back (first token stamped after the step); on slsim arrival ->
   the prefill step begins and the step (slsim hands back at the step's end). `nbr`: other
   instances stepping during the prefill, time-weighted (2.0: two neighbours stepping throughout);
   `cap`: neighbours capturing CUDA graphs (testbed). Then the medians, and where the p50 falls.
2. the prefill step's stretch under sharing: for requests warm on both sides with the same whole
   number of neighbours stepping, testbed prefill / slsim prefill by that number. slsim stretches
   a step (1 + n) / compute_sharing_efficiency times; if the testbed's steps stretch as much, the
   ratio is the same for every n as for n = 0 (where it compares the two alone).
3. cold requests: those cold on one side only, with their model's instance ready time on each
   side, and every instance start: launch to ready on both sides, and the testbed's phases.
4. TPOT: per request, with the neighbours stepping during its decode (time-weighted) on both sides.

usage: decompose.py [WORKLOAD...] [--measurements DIR...] [--sim DIR]
       (default: every workload with a run in graphs-run7, graphs-run5, graphs-run6 or graphs-run3, the first that holds it, and a
       slsim run in sim/)"""
import argparse
import bisect
import csv
import json
import os
import statistics
import sys
from collections import defaultdict

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(REPO, "kernels", "testbed"))

from serverless import load_run_json, percentile, run_json_path  # noqa: E402

TESTBED_RUNS = os.path.join(REPO, "models", "calibration", "measurements", "h100-sxm", "testbed")
DEFAULT_RUNS = [os.path.join(TESTBED_RUNS, run) for run in ("graphs-run7", "graphs-run5", "graphs-run6", "graphs-run3")]
MATCH_S = 2e-6  # timeline stamps are microseconds with three decimals; requests.csv six decimals of a second


class Occupancy:
    """Step intervals of every instance; how many others step during [a, b), time-weighted."""

    def __init__(self, intervals):  # [(start, end, owner)]
        self.steps = sorted(intervals)
        self.starts = [s[0] for s in self.steps]
        self.longest = max((e - s for s, e, _ in self.steps), default=0)

    def beside(self, owner, a, b):
        if b <= a:
            return 0.0
        total = 0.0
        j = bisect.bisect_left(self.starts, a - self.longest)
        while j < len(self.steps) and self.steps[j][0] < b:
            s, e, o = self.steps[j]
            if o != owner and e > a:
                total += min(e, b) - max(s, a)
            j += 1
        return total / (b - a)


def testbed_side(path):
    run = load_run_json(path)
    insts = run["instances"]
    steps = Occupancy([(s[0], s[1], k) for k, i in enumerate(insts) for s in i.get("steps", [])])
    captures = Occupancy([(i["stamps_s"]["compile"], i["stamps_s"]["graph_capture"], k) for k, i in enumerate(insts)
                          if "compile" in i["stamps_s"] and "graph_capture" in i["stamps_s"]])
    by_start = {k: {round(s[0], 6): s for s in i.get("steps", [])} for k, i in enumerate(insts)}
    out = {}
    for r in run["requests"]:
        rec = {"model": r["model"], "input_tokens": r["input_tokens"], "output_tokens": r["output_tokens"],
               "arrival_s": r["arrival_s"], "cold": r["cold"], "ttft_s": r["first_token_s"] - r["arrival_s"],
               "instance": r["instance"], "first_token_s": r["first_token_s"], "last_token_s": r["last_token_s"]}
        k = r["instance"]
        step = by_start[k].get(round(r["prefill_start_s"], 6))
        if step is not None:
            rec.update(dispatch_s=r["received_s"] - r["arrival_s"], wait_s=r["prefill_start_s"] - r["received_s"],
                       prefill_s=step[1] - step[0], handback_s=r["first_token_s"] - step[1], prefill_seqs=step[3],
                       nbr=steps.beside(k, step[0], step[1]), cap=captures.beside(k, step[0], step[1]))
        if r["output_tokens"] > 1:
            rec["tpot_s"] = (r["last_token_s"] - r["first_token_s"]) / (r["output_tokens"] - 1)
            rec["decode_nbr"] = steps.beside(k, r["first_token_s"], r["last_token_s"])
        out[r["id"]] = rec
    starts = [{"model": i["model"], "tier": i["tier"], "launch_s": i["launch_s"], "ready_s": i["ready_s"],
               "phases_s": i["phases_s"]} for i in insts]
    return out, starts


def slsim_side(folder):
    with open(os.path.join(folder, "timeline.json")) as f:
        events = json.load(f)["traceEvents"]
    batches, starts = defaultdict(list), []
    for e in events:
        if e["ph"] != "X":
            continue
        start, end = e["ts"] / 1e6, (e["ts"] + e["dur"]) / 1e6
        if e["cat"] == "batch":
            batches[(e["pid"], e["tid"])].append((start, end))
        elif e["cat"] == "instance" and e["name"].startswith("loading from"):
            starts.append({"model": e["args"]["model"], "tier": e["name"].split()[-1], "launch_s": start,
                           "ready_s": end, "track": (e["pid"], e["tid"])})
    occupancy = Occupancy([(s, e, t) for t, bs in batches.items() for s, e in bs])
    # A track is one instance slot; the instance of a request is the one of its model loaded last before it.
    ends = {t: {round(e, 6): (s, e) for s, e in bs} for t, bs in batches.items()}
    # The router acts dispatch_latency_s after an arrival: slsim's dispatch, as the testbed's.
    with open(os.path.join(folder, "config.json")) as f:
        dispatch_s = json.load(f).get("router", {}).get("dispatch_latency_s", 0.0)
    out = {}
    with open(os.path.join(folder, "requests.csv"), newline="") as f:
        for row in csv.DictReader(f):
            a = float(row["arrival_s"])
            rec = {"model": row["model"], "arrival_s": a, "cold": row["cold_start"] == "1", "ttft_s": float(row["ttft_s"]),
                   "output_tokens": int(row["output_tokens"])}
            first, last = a + float(row["ttft_s"]), a + float(row["e2e_s"])
            tracks = [s["track"] for s in starts if s["model"] == row["model"] and s["launch_s"] <= max(a, first) + MATCH_S
                      and s["ready_s"] <= first + MATCH_S]
            for track in reversed(tracks):
                step = ends[track].get(round(first, 6)) if track in ends else None
                if step is None:
                    step = next((b for b in batches[track] if abs(b[1] - first) < MATCH_S), None)
                if step is not None:
                    rec.update(dispatch_s=dispatch_s, wait_s=step[0] - a - dispatch_s, prefill_s=step[1] - step[0],
                               handback_s=first - step[1],
                               nbr=occupancy.beside(track, step[0], step[1]))
                    if rec["output_tokens"] > 1:
                        rec["decode_nbr"] = occupancy.beside(track, first, last)
                    break
            if rec["output_tokens"] > 1:
                rec["tpot_s"] = float(row["tpot_s"])
            out[int(row["id"])] = rec
    return out, starts


def ms(x):
    return f"{1e3 * x:7.1f}" if x is not None else "      -"


def warm_ttft(tb, sim):
    print("\n1. warm TTFT (ms), request by request (a request warm on either side)")
    print("  id model         tokens | testbed: TTFT dispatch  wait prefill hand nbr cap | slsim: TTFT  wait prefill nbr")
    for i in sorted(tb):
        t, s = tb[i], sim[i]
        if t["cold"] and s["cold"]:
            continue
        left = (f"{ms(t['ttft_s'])} {ms(t.get('dispatch_s'))} {ms(t.get('wait_s'))} {ms(t.get('prefill_s'))} "
                f"{ms(t.get('handback_s'))} {t.get('nbr', 0):3.1f} {t.get('cap', 0):3.1f}") if not t["cold"] else (
                f"   cold {t['ttft_s']:8.2f} s" + " " * 40)
        right = (f"{ms(s['ttft_s'])} {ms(s.get('wait_s'))} {ms(s.get('prefill_s'))} {s.get('nbr', 0):3.1f}"
                 if not s["cold"] else f"   cold {s['ttft_s']:6.2f} s")
        print(f"  {i:3d} {t['model']:12s} {t['input_tokens']:6d} | {left} | {right}")
    warm_t = [t for t in tb.values() if not t["cold"] and "prefill_s" in t]
    warm_s = [s for s in sim.values() if not s["cold"] and "prefill_s" in s]
    print("  medians over warm requests (ms):")
    for label, key in [("TTFT", "ttft_s"), ("dispatch (arrival -> read)", "dispatch_s"), ("wait for the step", "wait_s"),
                       ("prefill step", "prefill_s"), ("hand-back", "handback_s")]:
        tv = [t[key] for t in warm_t if key in t]
        sv = [s[key] for s in warm_s if key in s]
        print(f"    {label:28s} testbed {ms(statistics.median(tv)) if tv else '      -'}   "
              f"slsim {ms(statistics.median(sv)) if sv else '      -'}")
    both = [i for i in tb if not tb[i]["cold"] and not sim[i]["cold"] and "prefill_s" in tb[i] and "prefill_s" in sim[i]]
    print(f"    over the {len(both)} requests warm on both sides: prefill step testbed "
          f"{ms(statistics.median(tb[i]['prefill_s'] for i in both))} slsim {ms(statistics.median(sim[i]['prefill_s'] for i in both))}; "
          f"neighbours stepping (mean) testbed {statistics.mean(tb[i]['nbr'] for i in both):.2f} "
          f"slsim {statistics.mean(sim[i]['nbr'] for i in both):.2f}")
    for side, recs in (("testbed", tb), ("slsim", sim)):
        vals = sorted(r["ttft_s"] for r in recs.values() if not r["cold"])
        rank = -(-len(vals) // 2)
        p50 = percentile(vals, 50)
        gap = max(range(len(vals) - 1), key=lambda j: vals[j + 1] / vals[j] if rank - 4 <= j < rank + 3 else 0)
        print(f"    {side:8s} {len(vals)} warm, p50 (rank {rank}) {ms(p50)}; ranks {rank - 3}..{rank + 3}: "
              + " ".join(ms(v).strip() for v in vals[rank - 4:rank + 3])
              + f"; widest step near the p50: {ms(vals[gap]).strip()} -> {ms(vals[gap + 1]).strip()}")
    cut = 20e-3
    cross = [i for i in both if (tb[i]["ttft_s"] < cut) != (sim[i]["ttft_s"] < cut)]
    print(f"    warm on both sides and on opposite sides of {1e3 * cut:.0f} ms: " + (", ".join(
        f"{i} ({tb[i]['model']}: testbed {ms(tb[i]['ttft_s']).strip()} ms with {tb[i]['nbr']:.1f} stepping, "
        f"slsim {ms(sim[i]['ttft_s']).strip()} ms with {sim[i]['nbr']:.1f})" for i in cross) or "none"))


def prefill_stretch(tb, sim):
    print("\n2. prefill stretch by neighbours stepping (requests warm on both sides, the same whole number on both)")
    by_n = defaultdict(list)
    for i in tb:
        t, s = tb[i], sim[i]
        if t["cold"] or s["cold"] or "prefill_s" not in t or "prefill_s" not in s or t["cap"] > 0.05:
            continue
        n = round(t["nbr"])
        if abs(t["nbr"] - n) < 0.05 and abs(s["nbr"] - n) < 0.05 and t.get("prefill_seqs") == 1:
            by_n[n].append((t["model"], t["prefill_s"] / s["prefill_s"]))
    for n in sorted(by_n):
        per_model = defaultdict(list)
        for model, r in by_n[n]:
            per_model[model].append(r)
        print(f"    {n} stepping: {len(by_n[n]):2d} requests, testbed / slsim median {statistics.median(r for _, r in by_n[n]):.2f}  ("
              + ", ".join(f"{m} {statistics.median(v):.2f} x{len(v)}" for m, v in sorted(per_model.items())) + ")")


def cold_requests(tb, sim, tb_starts, sim_starts):
    print("\n3. cold requests: testbed %d, slsim %d" % (sum(t["cold"] for t in tb.values()), sum(s["cold"] for s in sim.values())))
    for i in sorted(tb):
        t, s = tb[i], sim[i]
        if t["cold"] == s["cold"]:
            continue

        def ready(starts, at):
            before = [x for x in starts if x["model"] == t["model"] and x["launch_s"] <= at + MATCH_S]
            return before[-1]["ready_s"] if before else None
        tr, sr = ready(tb_starts, t["arrival_s"]), ready(sim_starts, t["arrival_s"])
        print(f"    {i:3d} {t['model']:12s} arrives {t['arrival_s']:7.2f} s: {'cold' if t['cold'] else 'warm'} on the testbed "
              f"(instance ready {tr:.2f} s), {'cold' if s['cold'] else 'warm'} in slsim (ready {sr:.2f} s)")
    print("    instance starts, launch -> ready (s):")
    for k, x in enumerate(tb_starts):
        match = [y for y in sim_starts if y["model"] == x["model"] and abs(y["launch_s"] - x["launch_s"]) < 0.01]
        p = x["phases_s"]
        other = sum(v for key, v in p.items() if key not in ("load", "compile", "graph_capture", "launch_to_ready", "release_to_exit"))
        sim_text = f"slsim {match[0]['ready_s'] - match[0]['launch_s']:6.2f} ({match[0]['tier']})" if match else "slsim: no start then"
        print(f"     {k:2d} {x['model']:12s} {x['launch_s']:7.2f} testbed {x['ready_s'] - x['launch_s']:6.2f} ({x['tier']}: "
              f"load {p.get('load', 0):5.2f}, compile {p.get('compile', 0):5.2f}, capture {p.get('graph_capture', 0):5.2f}, "
              f"rest {other:5.2f})  {sim_text}")


def tpot(tb, sim):
    print("\n4. TPOT (ms) and neighbours stepping during the request's decode (time-weighted)")
    rows = [(i, tb[i], sim[i]) for i in sorted(tb) if "tpot_s" in tb[i] and "tpot_s" in sim[i]]
    for label, pick in (("all", lambda t, s: True), ("warm on both sides", lambda t, s: not t["cold"] and not s["cold"]),
                        ("cold on both sides", lambda t, s: t["cold"] and s["cold"])):
        sel = [(t, s) for _, t, s in rows if pick(t, s)]
        if sel:
            print(f"    {label:20s} {len(sel):3d} requests: TPOT p50 testbed {ms(percentile([t['tpot_s'] for t, _ in sel], 50))} "
                  f"slsim {ms(percentile([s['tpot_s'] for _, s in sel], 50))}; neighbours stepping (mean) testbed "
                  f"{statistics.mean(t.get('decode_nbr', 0) for t, _ in sel):.2f} slsim {statistics.mean(s.get('decode_nbr', 0) for _, s in sel):.2f}")
    worst = sorted(rows, key=lambda r: -abs(r[2]["tpot_s"] / r[1]["tpot_s"] - 1))[:12]
    print("    largest differences: id model cold (testbed/slsim) TPOT testbed slsim, neighbours testbed slsim")
    for i, t, s in sorted(worst):
        print(f"     {i:3d} {t['model']:12s} {int(t['cold'])}/{int(s['cold'])} {ms(t['tpot_s'])} {ms(s['tpot_s'])}  "
              f"{t.get('decode_nbr', 0):4.2f} {s.get('decode_nbr', 0):4.2f}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("workloads", nargs="*", default=["conv120-ttl0", "conv120-ttl30", "conv120-ttl300",
                                                     "conv360-ttl0", "conv360-ttl30", "conv360-ttl300"])
    ap.add_argument("--measurements", nargs="+", default=DEFAULT_RUNS)
    ap.add_argument("--sim", default=os.path.join(HERE, "sim"))
    args = ap.parse_args()
    for name in args.workloads:
        tb_path = next((p for p in (run_json_path(d, f"controller_{name}") for d in args.measurements) if p), None)
        sim_dir = os.path.join(args.sim, name)
        if not tb_path or not os.path.exists(os.path.join(sim_dir, "timeline.json")):
            print(f"{name}: needs controller_{name}.json in {', '.join(args.measurements)} and {sim_dir}/timeline.json "
                  "(bash results/validation-coldstart/run.sh)", file=sys.stderr)
            continue
        tb, tb_starts = testbed_side(tb_path)
        sim, sim_starts = slsim_side(sim_dir)
        print(f"==== {name}")
        warm_ttft(tb, sim)
        prefill_stretch(tb, sim)
        cold_requests(tb, sim, tb_starts, sim_starts)
        tpot(tb, sim)


if __name__ == "__main__":
    main()
