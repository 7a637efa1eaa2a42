#!/usr/bin/env python3
"""Times a real transformer forward pass on the GPU, for comparing with the
simulator's latency model (the comparison itself is a later step).

For each model, a decoder is built in PyTorch from the catalogue architecture
(models/llm/<name>.json, architecture.*; a built-in table where the file is
missing) with random fp16 weights, and the script records
  - prefill: one forward pass over batch × prompt tokens (eager, causal SDPA,
    K/V written into a preallocated cache, logits for the last token only, as a
    serving engine computes them), and
  - decode step: one token for each of `batch` sequences attending to `context`
    cached tokens, captured once in a CUDA graph and replayed (as vLLM runs
    decode), logits for every sequence.
Times are CUDA-event medians over trials. Writes one JSON file.

usage: measure_transformer.py --out FILE [--models opt-6.7b,llama-2-7b,llama-3.1-8b]
                              [--decode 1x512,8x2048,...] [--prefill 1x512,...]
"""
import argparse
import datetime
import json
import math
import os
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# Used only where models/llm/<name>.json is absent; same keys as the catalogue.
BUILTIN = {
    "opt-6.7b": dict(layers=32, hidden_size=4096, attention_heads=32, kv_heads=32, head_dim=128,
                     ffn_size=16384, ffn_kind="mlp", vocab_size=50272),
    "llama-2-7b": dict(layers=32, hidden_size=4096, attention_heads=32, kv_heads=32, head_dim=128,
                       ffn_size=11008, ffn_kind="gated", vocab_size=32000),
    "llama-3.1-8b": dict(layers=32, hidden_size=4096, attention_heads=32, kv_heads=8, head_dim=128,
                         ffn_size=14336, ffn_kind="gated", vocab_size=128256),
}


def load_arch(name):
    path = os.path.join(REPO, "models", "llm", name + ".json")
    if os.path.exists(path):
        with open(path) as f:
            return json.load(f)["architecture"], path
    return BUILTIN[name], "built-in table in scripts/measure_transformer.py"


def rotate_half(x):
    x1, x2 = x.chunk(2, dim=-1)
    return torch.cat((-x2, x1), dim=-1)


class Layer(nn.Module):
    def __init__(self, a):
        super().__init__()
        self.gated = a["ffn_kind"] == "gated"
        h, d = a["hidden_size"], a["head_dim"]
        self.hq, self.hkv, self.d = a["attention_heads"], a["kv_heads"], d
        bias = not self.gated  # OPT has biases; LLaMA has none
        self.qkv = nn.Linear(h, (self.hq + 2 * self.hkv) * d, bias=bias)
        self.o = nn.Linear(self.hq * d, h, bias=bias)
        if self.gated:
            self.norm1, self.norm2 = nn.RMSNorm(h), nn.RMSNorm(h)
            self.gate_up = nn.Linear(h, 2 * a["ffn_size"], bias=False)
            self.down = nn.Linear(a["ffn_size"], h, bias=False)
        else:
            self.norm1, self.norm2 = nn.LayerNorm(h), nn.LayerNorm(h)
            self.fc1 = nn.Linear(h, a["ffn_size"])
            self.fc2 = nn.Linear(a["ffn_size"], h)

    def forward(self, x, k_cache, v_cache, start, rope):
        b, s, _ = x.shape
        y = self.norm1(x)
        q, k, v = self.qkv(y).split([self.hq * self.d, self.hkv * self.d, self.hkv * self.d], dim=-1)
        q = q.view(b, s, self.hq, self.d).transpose(1, 2)
        k = k.view(b, s, self.hkv, self.d).transpose(1, 2)
        v = v.view(b, s, self.hkv, self.d).transpose(1, 2)
        if rope is not None:
            cos, sin = rope
            q = q * cos + rotate_half(q) * sin
            k = k * cos + rotate_half(k) * sin
        k_cache[:, :, start:start + s] = k
        v_cache[:, :, start:start + s] = v
        keys, values = k_cache[:, :, :start + s], v_cache[:, :, :start + s]
        o = F.scaled_dot_product_attention(q, keys, values, is_causal=s > 1,
                                           enable_gqa=self.hq != self.hkv)
        x = x + self.o(o.transpose(1, 2).reshape(b, s, self.hq * self.d))
        y = self.norm2(x)
        if self.gated:
            g, u = self.gate_up(y).chunk(2, dim=-1)
            y = self.down(F.silu(g) * u)
        else:
            y = self.fc2(F.relu(self.fc1(y)))
        return x + y


class Decoder(nn.Module):
    def __init__(self, a):
        super().__init__()
        self.a = a
        self.embed = nn.Embedding(a["vocab_size"], a["hidden_size"])
        self.pos = None if a["ffn_kind"] == "gated" else nn.Embedding(a.get("max_context", 2048) + 2,
                                                                        a["hidden_size"])
        self.layers = nn.ModuleList(Layer(a) for _ in range(a["layers"]))
        self.norm = nn.RMSNorm(a["hidden_size"]) if a["ffn_kind"] == "gated" else nn.LayerNorm(a["hidden_size"])
        self.lm_head = nn.Linear(a["hidden_size"], a["vocab_size"], bias=False)

    def rope(self, positions):
        d = self.a["head_dim"]
        inv = 1.0 / (10000.0 ** (torch.arange(0, d, 2, device=positions.device, dtype=torch.float32) / d))
        ang = positions.float()[:, None] * inv[None, :]
        emb = torch.cat((ang, ang), dim=-1)
        return emb.cos().to(torch.float16)[None, None], emb.sin().to(torch.float16)[None, None]

    def forward(self, tokens, caches, start, last_only):
        s = tokens.shape[1]
        positions = torch.arange(start, start + s, device=tokens.device)
        x = self.embed(tokens)
        rope = None
        if self.pos is None:
            rope = self.rope(positions)
        else:
            x = x + self.pos(positions % self.pos.num_embeddings)[None]
        for layer, (kc, vc) in zip(self.layers, caches):
            x = layer(x, kc, vc, start, rope)
        x = self.norm(x[:, -1:] if last_only else x)
        return self.lm_head(x)


def make_caches(a, batch, length):
    shape = (batch, a["kv_heads"], length, a["head_dim"])
    return [(torch.empty(shape, device="cuda", dtype=torch.float16).normal_(0, 1),
             torch.empty(shape, device="cuda", dtype=torch.float16).normal_(0, 1)) for _ in range(a["layers"])]


def median_ms(fn, iters, trials, warmup=3):
    for _ in range(warmup):
        fn()
    torch.cuda.synchronize()
    per = []
    for _ in range(trials):
        s, e = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        s.record()
        for _ in range(iters):
            fn()
        e.record()
        e.synchronize()
        per.append(s.elapsed_time(e) / iters)
    return sorted(per)[len(per) // 2]


def pairs(s):
    return [tuple(int(v) for v in p.split("x")) for p in s.split(",") if p]


def kv_bytes(a, batch, length):
    return 2 * a["layers"] * batch * a["kv_heads"] * length * a["head_dim"] * 2


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--models", default="opt-6.7b,llama-2-7b,llama-3.1-8b")
    ap.add_argument("--prefill", type=pairs, default=pairs("1x128,1x512,1x2048,4x512,8x1024"),
                    help="batch x prompt tokens")
    ap.add_argument("--decode", type=pairs, default=pairs("1x512,1x2048,8x512,8x2048,32x512,32x2048,64x1024"),
                    help="batch x context tokens")
    ap.add_argument("--trials", type=int, default=5)
    a = ap.parse_args()
    torch.manual_seed(0)
    free_bytes = torch.cuda.mem_get_info()[0]
    props = torch.cuda.get_device_properties(0)
    models = []
    for name in a.models.split(","):
        arch, source = load_arch(name)
        with torch.device("cuda"):
            model = Decoder(arch).to(torch.float16)
        for p in model.parameters():
            p.data.normal_(0, 0.02)  # random weights of a plausible scale (no overflow in fp16)
        model.eval()
        weight_bytes = sum(p.numel() * p.element_size() for p in model.parameters())
        entry = {"model": name, "architecture": arch, "architecture_source": source,
                 "weight_bytes": weight_bytes, "prefill": [], "decode": []}
        print(f"{name}: {weight_bytes / 1e9:.2f} GB of weights")
        with torch.inference_mode():
            for batch, prompt in a.prefill:
                caches = make_caches(arch, batch, prompt)
                tokens = torch.randint(0, arch["vocab_size"], (batch, prompt), device="cuda")
                ms = median_ms(lambda: model(tokens, caches, 0, True), iters=5, trials=a.trials)
                print(f"  prefill batch {batch:3d} prompt {prompt:5d}: {ms:8.2f} ms")
                entry["prefill"].append({"batch": batch, "prompt_tokens": prompt, "ms": ms,
                                         "mode": "eager"})
                del caches
                torch.cuda.empty_cache()
            for batch, context in a.decode:
                need = kv_bytes(arch, batch, context + 1)
                if need > 0.8 * (torch.cuda.mem_get_info()[0]):
                    print(f"  decode batch {batch} context {context}: skipped, KV cache {need / 1e9:.1f} GB")
                    continue
                caches = make_caches(arch, batch, context + 1)
                tokens = torch.randint(0, arch["vocab_size"], (batch, 1), device="cuda")
                step = lambda: model(tokens, caches, context, False)
                stream = torch.cuda.Stream()
                stream.wait_stream(torch.cuda.current_stream())
                with torch.cuda.stream(stream):
                    for _ in range(2):  # warm up allocator and library handles before capture
                        step()
                torch.cuda.current_stream().wait_stream(stream)
                graph = torch.cuda.CUDAGraph()
                with torch.cuda.graph(graph):
                    step()
                ms = median_ms(graph.replay, iters=20, trials=a.trials)
                print(f"  decode  batch {batch:3d} context {context:5d}: {ms:8.3f} ms")
                entry["decode"].append({"batch": batch, "context_tokens": context, "ms": ms,
                                        "mode": "cuda_graph", "kv_cache_bytes": need})
                del graph, caches
                torch.cuda.empty_cache()
        models.append(entry)
        del model
        torch.cuda.empty_cache()

    doc = {
        "program": "scripts/measure_transformer.py",
        "environment": {
            "gpu": props.name,
            "sm_count": props.multi_processor_count,
            "memory_bytes": props.total_memory,
            "free_bytes_at_start": free_bytes,
            "torch": torch.__version__,
            "cuda_runtime": torch.version.cuda,
            "driver": os.environ.get("SLSIM_DRIVER", "unknown"),
            "date_utc": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "command": " ".join([os.path.basename(sys.executable)] + sys.argv),
        },
        "config": {
            "dtype": "float16",
            "weights": "random normal(0, 0.02)",
            "attention": "torch.nn.functional.scaled_dot_product_attention on a contiguous cache",
            "prefill": "eager, causal, K/V written to the cache, logits of the last token only",
            "decode": "one token per sequence, CUDA graph replay, logits of every sequence",
            "statistic": "median over trials of the mean time per call (CUDA events)",
        },
        "models": models,
    }
    with open(a.out + ".tmp", "w") as f:
        json.dump(doc, f, indent=1)
    os.replace(a.out + ".tmp", a.out)


if __name__ == "__main__":
    main()
