#!/usr/bin/env python3
"""Each request's decode window on both sides (issue 16): between its first and last token, the
steps its instance ran, their mean duration and decode batch, and its TPOT; for the requests cold
on both sides, per model and over all, and where the TPOT p50 over every request falls.

slsim's side needs a run whose timeline has every engine step (fast-forwarding writes a run of
decode steps as one slice):
  build/release/sim/slsim run results/validation-coldstart/configs/conv360-ttl0.json -o RUN \\
      --set engine.fast_forward=false --timeline RUN/timeline.json
usage: decode_windows.py CONTROLLER_JSON RUN"""
import argparse
import bisect
import csv
import json
import math
import os
import statistics
import sys
from collections import defaultdict

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(HERE)), "kernels", "testbed"))

from decompose import MATCH_S  # noqa: E402
from serverless import load_run_json  # noqa: E402


def window(steps, first_s, last_s):
    """The (start, end, decode batch or None for a prefill) steps inside [first_s, last_s]."""
    return [s for s in steps if s[0] >= first_s - MATCH_S and s[1] <= last_s + MATCH_S]


def summary(model, cold, tpot_s, steps):
    decodes = [s for s in steps if s[2] is not None]
    return {"model": model, "cold": cold, "tpot_ms": tpot_s * 1e3, "steps": len(steps),
            "step_ms": statistics.mean((s[1] - s[0]) * 1e3 for s in decodes) if decodes else None,
            "batch": statistics.mean(s[2] for s in decodes) if decodes else None}


def testbed_side(path):
    run = load_run_json(path)
    out = {}
    for r in run["requests"]:
        if r["output_tokens"] < 2:
            continue
        steps = [(s[0], s[1], s[3] if s[2] == "decode" else None) for s in run["instances"][r["instance"]]["steps"]]
        tpot = (r["last_token_s"] - r["first_token_s"]) / (r["output_tokens"] - 1)
        out[r["id"]] = summary(r["model"], r["cold"], tpot, window(steps, r["first_token_s"], r["last_token_s"]))
    return out


def slsim_side(folder):
    """A request's instance is the track with a step ending at its first token."""
    with open(os.path.join(folder, "timeline.json")) as f:
        events = json.load(f)["traceEvents"]
    tracks = defaultdict(list)
    for e in events:
        if e.get("ph") == "X" and e.get("cat") == "batch":
            tracks[(e["pid"], e["tid"])].append((e["ts"] / 1e6, (e["ts"] + e["dur"]) / 1e6, e["args"].get("requests")))
    ends = {}
    for track, steps in tracks.items():
        steps.sort()
        ends[track] = [s[1] for s in steps]
    out = {}
    with open(os.path.join(folder, "requests.csv"), newline="") as f:
        for row in csv.DictReader(f):
            if int(row["output_tokens"]) < 2:
                continue
            arrival = float(row["arrival_s"])
            first, last = arrival + float(row["ttft_s"]), arrival + float(row["e2e_s"])
            for track, e in ends.items():
                i = bisect.bisect_left(e, first - MATCH_S)
                if i < len(e) and abs(e[i] - first) < MATCH_S:
                    # slsim's slices do not say prefill from decode: every step counts as decode.
                    out[int(row["id"])] = summary(row["model"], row["cold_start"] == "1", float(row["tpot_s"]),
                                                  window(tracks[track], first, last))
                    break
    return out


def p50_neighbourhood(requests):
    """The nearest-rank TPOT p50 and the five requests either side of it, (ms, model)."""
    ranked = sorted((r["tpot_ms"], r["model"]) for r in requests.values())
    k = math.ceil(0.5 * len(ranked)) - 1
    return ranked[k], ranked[max(0, k - 5):k + 6]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("controller")
    ap.add_argument("run", help="an slsim run folder with requests.csv and a per-step timeline.json")
    args = ap.parse_args()
    tb, sim = testbed_side(args.controller), slsim_side(args.run)
    both = [i for i in tb if i in sim and tb[i]["cold"] and sim[i]["cold"]]
    print(f"{len(both)} requests cold on both sides (testbed | slsim, medians over requests)")
    for model in sorted({tb[i]["model"] for i in both}) + [None]:
        ids = [i for i in both if model is None or tb[i]["model"] == model]
        cells = []
        for key, fmt in (("tpot_ms", "{:.2f}"), ("steps", "{:.0f}"), ("step_ms", "{:.2f}"), ("batch", "{:.2f}")):
            t = [tb[i][key] for i in ids if tb[i][key] is not None]
            s = [sim[i][key] for i in ids if sim[i][key] is not None]
            cells.append(f"{key} {fmt.format(statistics.median(t))} | {fmt.format(statistics.median(s))}")
        ratios = sorted(sim[i]["tpot_ms"] / tb[i]["tpot_ms"] for i in ids)
        print(f"  {model or 'all':13s} {len(ids):3d}: " + "; ".join(cells) +
              f"; slsim / testbed TPOT per request: median {statistics.median(ratios):.2f}")
    for side, requests in (("testbed", tb), ("slsim", sim)):
        (p50, model), near = p50_neighbourhood(requests)
        print(f"  {side:7s} TPOT p50 over {len(requests)} requests {p50:.2f} ms ({model}); ranks around it: "
              + ", ".join(f"{ms:.2f} {m}" for ms, m in near))


if __name__ == "__main__":
    main()
