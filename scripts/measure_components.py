#!/usr/bin/env python3
"""Measures on the GPU the parts of a transformer step that the GEMM and
paged-attention tables do not cover, for `slsim calibrate`:

  - prefill attention: causal SDPA of one layer, by batch and prompt length, for
    each catalogue head shape (called exactly as scripts/measure_transformer.py
    calls it: q a transposed view, K/V slices of a contiguous cache);
  - elementwise work of one decoder layer: everything in
    scripts/measure_transformer.py's Layer except its GEMMs and attention (norms,
    rotary, K/V cache writes, the attention output's transpose copy, activation,
    residual adds), by token count, run eagerly (as a prefill runs) and replayed
    from a CUDA graph (as a decode step runs);
  - per-step overhead: the whole Decoder with zero layers (embedding, position,
    final norm, LM head, graph launch or eager launches), at batch 1 (decode,
    graph) and one 128-token prompt (prefill, eager); `slsim calibrate` subtracts
    the LM head GEMM it has measured.

These are component measurements only: the full steps of
scripts/measure_transformer.py are never used to fit them, only to check.

usage: measure_components.py --out FILE [--models opt-6.7b,...]
"""
import argparse
import datetime
import json
import os
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import measure_transformer as mt  # noqa: E402

HEAD_SHAPES = [(32, 32, 128), (32, 8, 128), (64, 8, 128), (40, 40, 128), (32, 32, 64), (64, 64, 128)]
PREFILL_BATCH = [1, 2, 4, 8]
PREFILL_CONTEXT = [64, 128, 256, 512, 1024, 2048, 4096, 8192]
TOKENS = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 8192]
LAYER_REPEAT = 16


def median_us(fn, iters, trials=5, warmup=3):
    return mt.median_ms(fn, iters=iters, trials=trials, warmup=warmup) * 1000.0


def prefill_attention(q_heads, kv_heads, d):
    us = []
    for b in PREFILL_BATCH:
        for s in PREFILL_CONTEXT:
            q = torch.randn(b, s, q_heads, d, device="cuda", dtype=torch.float16).transpose(1, 2)
            kc = torch.randn(b, kv_heads, s, d, device="cuda", dtype=torch.float16)
            vc = torch.randn(b, kv_heads, s, d, device="cuda", dtype=torch.float16)
            keys, values = kc[:, :, :s], vc[:, :, :s]
            fn = lambda: F.scaled_dot_product_attention(q, keys, values, is_causal=True,
                                                        enable_gqa=q_heads != kv_heads)
            us.append(median_us(fn, iters=20))
            del q, kc, vc, keys, values
    torch.cuda.empty_cache()
    return {"q_heads": q_heads, "kv_heads": kv_heads, "head_dim": d, "block_size": 0, "dtype": "f16",
            "batch": PREFILL_BATCH, "context": PREFILL_CONTEXT, "us": us}


class Fixed(nn.Module):
    """Stands in for a GEMM or the attention: returns a preallocated output, no kernel."""

    def __init__(self):
        super().__init__()
        self.out = None

    def forward(self, *args, **kwargs):
        return self.out


def elementwise_layer(arch):
    with torch.device("cuda"):
        layer = mt.Layer(arch).to(torch.float16)
    hq, hkv, d, h, f = arch["attention_heads"], arch["kv_heads"], arch["head_dim"], arch["hidden_size"], arch["ffn_size"]
    gated = arch["ffn_kind"] == "gated"
    names = ["qkv", "o"] + (["gate_up", "down"] if gated else ["fc1", "fc2"])
    fixed = {n: Fixed() for n in names}
    for n, m in fixed.items():
        setattr(layer, n, m)
    sdpa = Fixed()
    rows = {"eager": [], "graph": []}
    real_sdpa = F.scaled_dot_product_attention
    F.scaled_dot_product_attention = sdpa
    try:
        with torch.inference_mode():
            for t in TOKENS:
                b, s = (t, 1) if t <= 256 else (1, t)  # decode batches are t sequences, prompts one sequence
                start = 16 if s == 1 else 0
                outs = {"qkv": (hq + 2 * hkv) * d, "o": h, "gate_up": 2 * f, "down": h, "fc1": f, "fc2": h}
                for n in names:
                    fixed[n].out = torch.randn(b, s, outs[n], device="cuda", dtype=torch.float16)
                sdpa.out = torch.randn(b, hq, s, d, device="cuda", dtype=torch.float16)
                x = torch.randn(b, s, h, device="cuda", dtype=torch.float16)
                kc = torch.randn(b, hkv, start + s, d, device="cuda", dtype=torch.float16)
                vc = torch.randn(b, hkv, start + s, d, device="cuda", dtype=torch.float16)
                rope = None
                if gated:
                    pos = torch.arange(start, start + s, device="cuda")
                    inv = 1.0 / (10000.0 ** (torch.arange(0, d, 2, device="cuda", dtype=torch.float32) / d))
                    ang = pos.float()[:, None] * inv[None, :]
                    emb = torch.cat((ang, ang), dim=-1)
                    rope = (emb.cos().half()[None, None], emb.sin().half()[None, None])

                def run():
                    for _ in range(LAYER_REPEAT):
                        layer(x, kc, vc, start, rope)

                rows["eager"].append(median_us(run, iters=5) / LAYER_REPEAT)
                stream = torch.cuda.Stream()
                stream.wait_stream(torch.cuda.current_stream())
                with torch.cuda.stream(stream):
                    run()
                torch.cuda.current_stream().wait_stream(stream)
                graph = torch.cuda.CUDAGraph()
                with torch.cuda.graph(graph):
                    run()
                rows["graph"].append(median_us(graph.replay, iters=10) / LAYER_REPEAT)
                del graph, x, kc, vc
                torch.cuda.empty_cache()
    finally:
        F.scaled_dot_product_attention = real_sdpa
    del layer
    torch.cuda.empty_cache()
    return rows


def zero_layer_steps(arch):
    a = dict(arch, layers=0)
    with torch.device("cuda"):
        model = mt.Decoder(a).to(torch.float16)
    for p in model.parameters():
        p.data.normal_(0, 0.02)
    out = {}
    with torch.inference_mode():
        tokens = torch.randint(0, a["vocab_size"], (1, 128), device="cuda")
        out["eager_prefill_1x128_us"] = median_us(lambda: model(tokens, [], 0, True), iters=20)
        tok1 = torch.randint(0, a["vocab_size"], (1, 1), device="cuda")
        step = lambda: model(tok1, [], 16, False)
        stream = torch.cuda.Stream()
        stream.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(stream):
            for _ in range(2):
                step()
        torch.cuda.current_stream().wait_stream(stream)
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph):
            step()
        out["graph_decode_batch1_us"] = median_us(graph.replay, iters=50)
    del model
    torch.cuda.empty_cache()
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--models", default="opt-1.3b,opt-6.7b,opt-13b,llama-2-7b,llama-2-13b,llama-3.1-8b")
    a = ap.parse_args()
    torch.manual_seed(0)
    props = torch.cuda.get_device_properties(0)
    doc = {
        "program": "scripts/measure_components.py",
        "environment": {
            "gpu": props.name, "sm_count": props.multi_processor_count, "memory_bytes": props.total_memory,
            "torch": torch.__version__, "cuda_runtime": torch.version.cuda,
            "driver": os.environ.get("SLSIM_DRIVER", "unknown"),
            "date_utc": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "command": " ".join([os.path.basename(sys.executable)] + sys.argv),
        },
        "config": {
            "dtype": "float16",
            "statistic": "median over 5 trials of the mean time per call (CUDA events)",
            "elementwise": f"one Layer of measure_transformer.py with GEMMs and SDPA replaced by preallocated outputs, "
                           f"{LAYER_REPEAT} layers per timed call; tokens <= 256 as that many one-token sequences "
                           f"(decode, 16 cached), larger as one prompt",
        },
        "prefill_attention": [], "elementwise": [], "zero_layer": [],
    }
    for hq, hkv, d in HEAD_SHAPES:
        row = prefill_attention(hq, hkv, d)
        print(f"prefill attention {hq}/{hkv}x{d}: " + " ".join(f"{u:.1f}" for u in row["us"]), flush=True)
        doc["prefill_attention"].append(row)
    for name in a.models.split(","):
        arch, source = mt.load_arch(name)
        rows = elementwise_layer(arch)
        for mode in ("eager", "graph"):
            print(f"elementwise {name} {mode}: " + " ".join(f"{u:.1f}" for u in rows[mode]), flush=True)
            doc["elementwise"].append({"model": name, "hidden_size": arch["hidden_size"], "ffn_size": arch["ffn_size"],
                                      "ffn_kind": arch["ffn_kind"], "mode": mode, "tokens": TOKENS,
                                      "us": rows[mode]})
        z = zero_layer_steps(arch)
        print(f"zero-layer {name}: {z}", flush=True)
        doc["zero_layer"].append(dict(model=name, hidden_size=arch["hidden_size"], vocab_size=arch["vocab_size"], **z))
    with open(a.out + ".tmp", "w") as f:
        json.dump(doc, f, indent=1)
    os.replace(a.out + ".tmp", a.out)


if __name__ == "__main__":
    main()
