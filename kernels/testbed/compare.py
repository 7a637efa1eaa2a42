#!/usr/bin/env python3
"""Markdown table: graph-captured engine step times (engine.py) against the eager
transformer measurements (scripts/measure_transformer.py), ratio per shape.

usage: compare.py ENGINE_STEPS.json EAGER.json [EAGER2.json ...]"""
import json
import sys


def main():
    engine = json.load(open(sys.argv[1]))
    eager = {}
    for path in sys.argv[2:]:
        for m in json.load(open(path))["models"]:
            for r in m["prefill"]:
                eager[(m["model"], "prefill", r["batch"], r["prompt_tokens"])] = r["ms"]
            for r in m["decode"]:
                eager[(m["model"], "decode", r["batch"], r["context_tokens"])] = r["ms"]
    print(f"Engine: {engine['environment']['gpu']}, {engine['environment']['date_utc']}; eager: {', '.join(sys.argv[2:])}\n")
    print("| model | phase | batch × tokens | eager ms | engine GPU ms | ratio GPU/eager | engine step ms (wall) | ratio step/eager |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for m in engine["models"]:
        rows = [("prefill", r["batch"], r["prompt_tokens"], r["forward_ms"], r["step_ms"]) for r in m["prefill"]]
        rows += [("decode", r["batch"], r["context_tokens"], r["graph_ms"], r["step_ms"]) for r in m["decode"]
                 if "skipped" not in r]
        for phase, b, t, gpu, step in rows:
            ref = eager.get((m["model"], phase, b, t))
            ratio = f"{gpu / ref:.2f}" if ref else "–"
            sratio = f"{step / ref:.2f}" if ref else "–"
            refs = f"{ref:.2f}" if ref else "–"
            print(f"| {m['model']} | {phase} | {b} × {t} | {refs} | {gpu:.2f} | {ratio} | {step:.2f} | {sratio} |")


if __name__ == "__main__":
    main()
