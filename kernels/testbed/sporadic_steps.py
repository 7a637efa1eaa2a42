#!/usr/bin/env python3
"""An engine step back to back against the same step now and then (issue 16).

The graph-captured profile is fitted on engine.py's step times, each the mean of a step repeated
back to back. A serving instance at the validation's load steps now and then: its lone batch-1
prefills took the benchmark's time plus about 1 ms for opt-1.3b and 0.9x the benchmark plus
1.5-3 ms for the larger models (testbed run 7). This measures both patterns on one engine per
model: each batch-1 prefill size and a batch-1 decode step
  back_to_back  the median over trials of the mean of --iters calls, a host sync after each
                (engine.py's step_ms)
  sporadic      per idle gap in --gap-ms, the median of --calls single calls, each after that
                gap of idle host and GPU (and the SM clock NVML reads just before the call,
                where pynvml imports: an idle H100 lowers its clocks)
  request       per gap, a request as an instance serves one: after the gap, a 448-token
                prefill and then --request-decodes decode steps, each synced as the service
                loop does; the median over --calls of the prefill and of the mean decode step,
                against the decode back to back (engine.py's step_ms)
  values        a 448-token prefill and a decode step back to back with the weights the
                testbed's instances served on: the benchmark's (normal(0, 0.02), norm gains 1),
                norm gains normal(0, 0.02) as well (run 7's images), all NaN (runs 1-6's
                random-byte images): whether the values multiplied change the step times
Writes per model, shape and gap both medians, their ratio and every sporadic call's time.

usage: python3 kernels/testbed/sporadic_steps.py --out FILE [--models M,...] [--gap-ms 10,500]
"""
import argparse
import json
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import torch  # noqa: E402

import engine as eng  # noqa: E402
from scheduling import Sequence, padded_prefill_tokens, prefill_token_buckets  # noqa: E402

PROMPTS = [128, 448, 1152, 2048]
REQUEST_PROMPT = 448  # a captured bucket (PROMPTS)
DECODE_CONTEXT = REQUEST_PROMPT  # the request's decode steps and the back-to-back ones at one context


def sm_clock_reader():
    """A function returning the SM clock in MHz, or None where NVML is not importable."""
    try:
        import pynvml
        pynvml.nvmlInit()
        # NVML numbers every GPU of the host; CUDA only the visible ones.
        visible = os.environ.get("CUDA_VISIBLE_DEVICES", "").split(",")
        cuda_index = torch.cuda.current_device()
        nvml_index = int(visible[cuda_index]) if cuda_index < len(visible) and visible[cuda_index].isdigit() else cuda_index
        handle = pynvml.nvmlDeviceGetHandleByIndex(nvml_index)
    except Exception:  # noqa: BLE001 - the clock is a diagnostic; the times stand without it
        return lambda: None

    def read():
        try:
            return pynvml.nvmlDeviceGetClockInfo(handle, pynvml.NVML_CLOCK_SM)
        except Exception:  # noqa: BLE001 - as above
            return None
    return read


def sporadic_calls(fn, calls, gap_s, sm_clock):
    """[(wall ms, SM MHz before the call)] of single calls, each after gap_s of idle."""
    fn()
    torch.cuda.synchronize()
    out = []
    for _ in range(calls):
        time.sleep(gap_s)
        mhz = sm_clock()
        t0 = time.perf_counter()
        fn()
        torch.cuda.synchronize()
        out.append(((time.perf_counter() - t0) * 1e3, mhz))
    return out


def measure(name, args, sm_clock):
    buckets = prefill_token_buckets(4096)
    sizes = sorted({padded_prefill_tokens(p, buckets) for p in PROMPTS})
    e, _ = eng.start_engine(name, "compile", capture_sizes=[1], prefill_buckets=sizes, max_model_len=4096)
    rows = []
    next_id = [0]

    def sequence(tokens):
        s = Sequence(next_id[0], tokens, max_new_tokens=1 << 30)
        next_id[0] += 1
        e.blocks.allocate(s.seq_id, tokens)
        return s

    shapes = [("prefill", p) for p in PROMPTS] + [("decode", DECODE_CONTEXT)]
    for kind, tokens in shapes:
        seqs = [sequence(tokens)]
        if kind == "decode":
            seqs[0].generated = 1
            e.blocks.append(seqs[0].seq_id, seqs[0].context)
        step = (lambda: e.prefill(seqs)) if kind == "prefill" else (lambda: e.decode(seqs))
        back = eng.timed_ms(step, iters=args.iters, trials=args.trials)
        for gap_ms in args.gap_ms:
            calls = sporadic_calls(step, args.calls, gap_ms / 1e3, sm_clock)
            spor = statistics.median(ms for ms, _ in calls)
            clocks = [mhz for _, mhz in calls if mhz is not None]
            row = {"model": name, "kind": kind, "batch": 1, "tokens": tokens, "gap_ms": gap_ms,
                   "back_to_back_ms": back, "sporadic_ms": spor, "sporadic_over_back_to_back": spor / back,
                   "sporadic_calls_ms": [round(ms, 4) for ms, _ in calls],
                   "sm_clock_mhz_before_call": statistics.median(clocks) if clocks else None}
            print(json.dumps({k: v for k, v in row.items() if k != "sporadic_calls_ms"}), flush=True)
            rows.append(row)
        e.blocks.free(seqs[0].seq_id)
    decode_back_to_back = next(r["back_to_back_ms"] for r in rows if r["kind"] == "decode")
    prompt = [sequence(REQUEST_PROMPT)]
    for gap_ms in args.gap_ms:
        calls = [request_ms(e, prompt, args.request_decodes, gap_ms / 1e3) for _ in range(args.calls)]
        decode = statistics.median(d for _, d in calls)
        row = {"model": name, "kind": "request", "batch": 1, "tokens": REQUEST_PROMPT, "gap_ms": gap_ms,
               "decodes": args.request_decodes, "prefill_ms": statistics.median(p for p, _ in calls),
               "decode_mean_ms": decode, "decode_back_to_back_ms": decode_back_to_back,
               "decode_over_back_to_back": decode / decode_back_to_back,
               "calls_ms": [[round(p, 4), round(d, 4)] for p, d in calls]}
        print(json.dumps({k: v for k, v in row.items() if k != "calls_ms"}), flush=True)
        rows.append(row)
    rows += values_rows(e, name, sequence, args)
    e.release()
    return rows


def values_rows(e, name, sequence, args):
    """Back-to-back steps under the weight values of each testbed run's images (the last
    variant leaves the engine's weights NaN)."""
    prompt = [sequence(REQUEST_PROMPT)]
    decoding = [sequence(DECODE_CONTEXT)]
    decoding[0].generated = 1
    e.blocks.append(decoding[0].seq_id, decoding[0].context)
    norms = [t for n, t in e.w.t.items() if "norm" in n.split(".")[-2:][0]]
    variants = [("benchmark: norm gains 1", lambda: None),
                ("norm gains normal(0, 0.02) (run 7)", lambda: [t.normal_(0, 0.02) for t in norms]),
                ("all NaN (runs 1-6)", lambda: e.w.flat.fill_(float("nan")))]
    rows = []
    for variant, apply in variants:
        apply()
        torch.cuda.synchronize()
        row = {"model": name, "kind": "values", "variant": variant,
               f"prefill_{REQUEST_PROMPT}_ms": eng.timed_ms(lambda: e.prefill(prompt), iters=args.iters,
                                                            trials=args.trials),
               f"decode_{DECODE_CONTEXT}_ms": eng.timed_ms(lambda: e.decode(decoding), iters=args.iters,
                                                          trials=args.trials)}
        print(json.dumps(row), flush=True)
        rows.append(row)
    return rows


def request_ms(e, seqs, decodes, gap_s):
    """(prefill ms, mean decode step ms) of one request served after gap_s of idle."""
    time.sleep(gap_s)
    t0 = time.perf_counter()
    e.prefill(seqs)
    t1 = time.perf_counter()
    seqs[0].generated = 1
    e.blocks.append(seqs[0].seq_id, seqs[0].context)
    for _ in range(decodes):
        e.decode(seqs)
    t2 = time.perf_counter()
    seqs[0].generated = 0
    return (t1 - t0) * 1e3, (t2 - t1) * 1e3 / decodes


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", required=True)
    ap.add_argument("--models", default="opt-1.3b,opt-6.7b,llama-2-7b,llama-3.1-8b")
    ap.add_argument("--gap-ms", type=lambda v: [float(g) for g in v.split(",")], default=[10.0, 500.0])
    ap.add_argument("--calls", type=int, default=5)
    ap.add_argument("--request-decodes", type=int, default=64)
    ap.add_argument("--iters", type=int, default=5)
    ap.add_argument("--trials", type=int, default=5)
    args = ap.parse_args()
    doc = {"program": "kernels/testbed/sporadic_steps.py",
           "environment": eng.environment(" ".join(["python3"] + sys.argv)),
           "config": {"gap_ms": args.gap_ms, "calls": args.calls, "iters": args.iters, "trials": args.trials,
                      "weights": "random normal(0, 0.02), norms 1 (engine.start_engine)"},
           "rows": []}
    # As engine.py: several models' compiled ops in one process exceed dynamo's default cache.
    torch._dynamo.config.cache_size_limit = 64
    sm_clock = sm_clock_reader()
    with torch.inference_mode():
        for name in args.models.split(","):
            doc["rows"] += measure(name, args, sm_clock)
            with open(args.out + ".tmp", "w") as f:
                json.dump(doc, f, indent=1)
            os.replace(args.out + ".tmp", args.out)


if __name__ == "__main__":
    main()
