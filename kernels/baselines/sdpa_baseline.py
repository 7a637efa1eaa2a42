#!/usr/bin/env python3
"""PyTorch scaled_dot_product_attention decode on a contiguous KV cache: the
baseline pa_bench is judged against. Same shapes, same byte count, same timing
method (CUDA events, median over trials of the mean time per call, rotating over
enough caches to exceed the L2 four times).

usage: sdpa_baseline.py --out FILE --label L --q-heads 32 --kv-heads 32
                        --head-dim 128 --dtype f16 --batches 1,8 --contexts 512,2048
"""
import argparse
import datetime
import json
import math
import os
import sys

import torch
import torch.nn.functional as F


def ints(s):
    return [int(x) for x in s.split(",") if x]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--label", default="")
    ap.add_argument("--q-heads", type=int, default=32)
    ap.add_argument("--kv-heads", type=int, default=32)
    ap.add_argument("--head-dim", type=int, default=128)
    ap.add_argument("--dtype", default="f16", choices=["f16", "bf16"])
    ap.add_argument("--batches", type=ints, default=[1, 8, 32, 64])
    ap.add_argument("--contexts", type=ints, default=[512, 2048, 8192])
    ap.add_argument("--iters", type=int, default=50)
    ap.add_argument("--trials", type=int, default=5)
    a = ap.parse_args()

    dev = torch.device("cuda")
    dtype = torch.float16 if a.dtype == "f16" else torch.bfloat16
    props = torch.cuda.get_device_properties(0)
    l2 = props.L2_cache_size
    elem = 2
    results = []
    print(f"{'config':24s} {'batch':>6s} {'ctx':>6s} {'us':>10s} {'GB/s':>10s}")
    for b in a.batches:
        for L in a.contexts:
            set_bytes = 2 * b * a.kv_heads * L * a.head_dim * elem
            sets = max(1, min(64, math.ceil(4 * l2 / set_bytes)))
            ks = [torch.empty(b, a.kv_heads, L, a.head_dim, device=dev, dtype=dtype).uniform_(-1, 1) for _ in range(sets)]
            vs = [torch.empty_like(k).uniform_(-1, 1) for k in ks]
            q = torch.empty(b, a.q_heads, 1, a.head_dim, device=dev, dtype=dtype).uniform_(-1, 1)
            gqa = a.q_heads != a.kv_heads

            def call(i):
                return F.scaled_dot_product_attention(q, ks[i % sets], vs[i % sets], enable_gqa=gqa)

            for i in range(10):
                call(i)
            torch.cuda.synchronize()
            per_iter = []
            for _ in range(a.trials):
                s, e = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
                s.record()
                for i in range(a.iters):
                    call(i)
                e.record()
                e.synchronize()
                per_iter.append(s.elapsed_time(e) / a.iters)
            ms = sorted(per_iter)[len(per_iter) // 2]
            nbytes = set_bytes + 2 * b * a.q_heads * a.head_dim * elem
            gbytes_per_s = nbytes / (ms * 1e-3) / 1e9
            print(f"{a.label:24s} {b:6d} {L:6d} {ms * 1e3:10.1f} {gbytes_per_s:10.1f}")
            results.append({"batch": b, "context": L, "cache_sets_rotated": sets, "bytes": nbytes,
                            "us": ms * 1e3, "GBps": gbytes_per_s})
            del ks, vs, q
            torch.cuda.empty_cache()

    doc = {
        "program": "sdpa_baseline.py",
        "environment": {
            "gpu": props.name,
            "torch": torch.__version__,
            "cuda_runtime": torch.version.cuda,
            "driver": os.environ.get("SLSIM_DRIVER", "unknown"),
            "date_utc": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "command": " ".join([os.path.basename(sys.executable)] + sys.argv),
        },
        "config": {"label": a.label, "dtype": a.dtype, "q_heads": a.q_heads, "kv_heads": a.kv_heads,
                   "head_dim": a.head_dim, "layout": "contiguous k/v [batch, kv_heads, context, head_dim]",
                   "iters_per_trial": a.iters, "trials": a.trials,
                   "statistic": "median over trials of the mean time per call"},
        "results": results,
    }
    with open(a.out + ".tmp", "w") as f:
        json.dump(doc, f, indent=1)
    os.replace(a.out + ".tmp", a.out)


if __name__ == "__main__":
    main()
