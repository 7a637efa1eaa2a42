#!/usr/bin/env python3
"""Writes the validation workloads: a window of the bundled Azure LLM 2023 conversation
trace, thinned so that one GPU serves it, each request assigned one of four models by a
seeded weighted draw, as canonical CSVs (docs/config.md, "Traces") that both the testbed
controller and slsim read. The keep-alive of each workload is in workloads.json.

usage: make_workloads.py   (writes workloads/*.csv and workloads.json beside this file)"""
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(REPO, "kernels", "testbed"))

from serverless import make_workload, read_azure_window, write_canonical_trace  # noqa: E402

MODELS = ["opt-1.3b", "opt-6.7b", "llama-2-7b", "llama-3.1-8b"]
WEIGHTS = [0.4, 0.3, 0.2, 0.1]  # skewed popularity: the rare models see keep-alive expiries
TRACES = {
    # name: (file, window start s, window s, keep every k-th request)
    "conv120": ("AzureLLMInferenceTrace_conv.csv", 600, 120, 8),
    # The longest window one device call holds (600 s a call, with the build and warm-up).
    "conv360": ("AzureLLMInferenceTrace_conv.csv", 600, 360, 8),
}
WORKLOADS = [  # name, trace, keep-alive s
    ("conv120-ttl0", "conv120", 0),
    ("conv120-ttl30", "conv120", 30),
    ("conv120-ttl300", "conv120", 300),
    ("conv360-ttl0", "conv360", 0),
    ("conv360-ttl30", "conv360", 30),
    ("conv360-ttl300", "conv360", 300),
]


def load_arch_context(model):
    with open(os.path.join(REPO, "models", "llm", model + ".json")) as f:
        return json.load(f)["architecture"]["max_context"]


def main():
    os.makedirs(os.path.join(HERE, "workloads"), exist_ok=True)
    traces = {}
    # The testbed engine holds 4096 tokens; the catalogue's window may be shorter (OPT: 2048).
    windows = {m: min(4096, load_arch_context(m)) for m in MODELS}
    for name, (file, start, duration, keep) in TRACES.items():
        rows = read_azure_window(os.path.join(REPO, "traces", "azure-llm-2023", file), start, duration)
        requests = make_workload(rows, MODELS, WEIGHTS, keep, seed=16, max_model_len=windows, max_batched_tokens=8192)
        path = os.path.join("workloads", name + ".csv")
        write_canonical_trace(os.path.join(HERE, path), requests)
        traces[name] = {"csv": path, "source": f"traces/azure-llm-2023/{file}", "window_start_s": start,
                        "window_s": duration, "keep_every": keep, "requests": len(requests),
                        "per_model": {m: sum(r.model == m for r in requests) for m in MODELS}}
    doc = {"models": MODELS, "weights": WEIGHTS, "seed": 16, "max_tokens_per_model": windows, "traces": traces,
           "workloads": [{"name": n, "trace": t, "ttl_s": ttl} for n, t, ttl in WORKLOADS]}
    with open(os.path.join(HERE, "workloads.json"), "w") as f:
        json.dump(doc, f, indent=1)
        f.write("\n")
    print(json.dumps(traces, indent=1))


if __name__ == "__main__":
    main()
