#!/usr/bin/env python3
"""A graph-captured serving engine for the testbed, and its step-time measurement.

The engine runs a catalogue model (models/llm/<name>.json, its real shapes, bf16, random
weights held in one flat device buffer, as the project's loader fills it) with
  - a paged KV cache [layers, 2, blocks, kv_heads, 16, head_dim] and block tables
    (scheduling.BlockManager), sized like vLLM's gpu_memory_utilization 0.9;
  - continuous batching with vLLM-v0-like admission (scheduling.Scheduler);
  - prefill of a step's prompts together, as vLLM batches them: their tokens concatenated and
    padded up to a captured token count (scheduling.prefill_token_buckets: 16, 32, 64, every 64
    to 2048, every 256 to the window), one CUDA graph per count, attention by FlashAttention's
    variable-length kernel over the prompts' boundaries (up to MAX_PREFILL_SEQS prompts a
    graph; a step with more prompts or tokens than one graph holds replays several);
  - decode with the project's paged-attention kernel (kernels/paged_attention, through
    pa_capi.cu and ctypes), captured in CUDA graphs at vLLM's padded batch sizes
    (1, 2, 4, 8, 16, ..., 256), one graph per size sharing one memory pool;
  - elementwise work (residual add + norm, rotary, SiLU·mul) fused by torch.compile
    (`--fuse compile`), or unfused eager PyTorch (`--fuse none`), inside every graph.

usage: engine.py --out FILE [--models a,b] [--prefill 1x128,...] [--decode 1x512,...]
                 [--fuse compile|none] [--check]
"""
import argparse
import ctypes
import datetime
import json
import math
import os
import subprocess
import sys
import time

import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)

from model_shapes import is_moe_layer, load_arch, weight_spec  # noqa: E402
from scheduling import (CAPTURE_BATCH_SIZES, NULL_BLOCK, BlockManager, Scheduler,  # noqa: E402,F401 (Scheduler: startup_phases uses engine.Scheduler)
                        Sequence, padded_batch_size, padded_prefill_tokens, prefill_token_buckets)

DTYPE = torch.bfloat16
BLOCK_SIZE = 16
# Prompts one prefill graph takes. The variable-length attention kernel launches its grid for
# this many sequences of the graph's whole token count; the blocks past a sequence's end exit
# at once, a few microseconds a layer at 8.
MAX_PREFILL_SEQS = 8


def environment(command):
    props = torch.cuda.get_device_properties(0)
    try:
        driver = subprocess.run(["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"],
                                capture_output=True, text=True, check=True).stdout.split("\n")[0].strip()
    except (OSError, subprocess.CalledProcessError):
        driver = "unknown"
    return {"gpu": props.name, "sm_count": props.multi_processor_count, "memory_bytes": props.total_memory,
            "driver": driver, "torch": torch.__version__, "cuda_runtime": torch.version.cuda,
            "triton": _version("triton"), "python": sys.version.split()[0],
            "date_utc": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "command": command}


def _version(module):
    try:
        return __import__(module).__version__
    except ImportError:
        return None


# ---------------------------------------------------------------- paged attention kernel

class PagedAttentionKernel:
    """kernels/paged_attention through pa_capi.cu, loaded with ctypes; built with nvcc on first use."""

    def __init__(self, lib_path=None):
        lib_path = lib_path or os.environ.get("SLSIM_PA_LIB") or os.path.join(HERE, "build", "libslsim_pa.so")
        try:
            self.lib = ctypes.CDLL(lib_path)
        except OSError:  # absent, or built against another CUDA: build it here
            lib_path = os.path.join(HERE, "build", f"libslsim_pa_{os.getpid()}.so")
            build(lib_path)
            self.lib = ctypes.CDLL(lib_path)
        i, p = ctypes.c_int, ctypes.c_void_p
        self.lib.slsim_pa_splits.argtypes = [i] * 8
        self.lib.slsim_pa_splits.restype = i
        self.lib.slsim_pa_workspace_bytes.argtypes = [i] * 9
        self.lib.slsim_pa_workspace_bytes.restype = ctypes.c_ulonglong
        self.lib.slsim_pa_run.argtypes = [p] * 6 + [i] * 7 + [ctypes.c_float, i, i, p, p]
        self.lib.slsim_pa_run.restype = i
        self.path = lib_path

    def __call__(self, q, k_cache, v_cache, block_tables, context_lens, max_context_len):
        """q [batch, q_heads, head_dim]; caches [blocks, kv_heads, block_size, head_dim];
        block_tables [batch, max_blocks] int32; context_lens [batch] int32."""
        batch, hq, d = q.shape
        hkv, bs = k_cache.shape[1], k_cache.shape[2]
        nb = block_tables.shape[1]
        bf16 = int(q.dtype == torch.bfloat16)
        splits = self.lib.slsim_pa_splits(batch, hq, hkv, d, bs, nb, max_context_len, bf16)
        if splits == 0:
            raise ValueError(f"paged attention does not support q_heads {hq}, kv_heads {hkv}, head_dim {d}")
        ws_bytes = self.lib.slsim_pa_workspace_bytes(batch, hq, hkv, d, bs, nb, max_context_len, bf16, splits)
        ws = torch.empty(max(ws_bytes, 1), dtype=torch.uint8, device=q.device)
        out = torch.empty_like(q)
        err = self.lib.slsim_pa_run(q.data_ptr(), k_cache.data_ptr(), v_cache.data_ptr(),
                                    block_tables.data_ptr(), context_lens.data_ptr(), out.data_ptr(),
                                    batch, hq, hkv, d, bs, nb, max_context_len, 1.0 / math.sqrt(d), bf16,
                                    splits, ws.data_ptr(), torch.cuda.current_stream().cuda_stream)
        if err != 0:
            raise RuntimeError(f"paged attention launch failed: CUDA error {err}")
        return out


def build(lib_path):
    os.makedirs(os.path.dirname(lib_path), exist_ok=True)
    cmd = ["nvcc", "-O3", "-std=c++17", "-gencode", "arch=compute_90,code=sm_90",
           "-gencode", "arch=compute_90,code=compute_90", "-Xcompiler", "-fPIC", "-shared",
           "-cudart", "shared", "-I" + os.path.join(REPO, "kernels"), os.path.join(HERE, "pa_capi.cu"),
           os.path.join(REPO, "kernels", "paged_attention", "paged_attention.cu"), "-o", lib_path]
    subprocess.run(cmd, check=True)


def torch_paged_attention(q, k_cache, v_cache, block_tables, context_lens):
    """Reference: gathers each sequence's blocks and runs masked SDPA."""
    batch, hq, d = q.shape
    hkv = k_cache.shape[1]
    bt = block_tables.long()
    keys = k_cache[bt].permute(0, 2, 1, 3, 4).reshape(batch, hkv, -1, d)
    values = v_cache[bt].permute(0, 2, 1, 3, 4).reshape(batch, hkv, -1, d)
    mask = torch.arange(keys.shape[2], device=q.device)[None, :] < context_lens[:, None]
    out = F.scaled_dot_product_attention(q[:, :, None, :], keys, values, attn_mask=mask[:, None, None, :],
                                         enable_gqa=hq != hkv)
    return out[:, :, 0, :]


# ---------------------------------------------------------------- elementwise ops

def _norm(x, w, b, eps, rms):
    xf = x.float()
    if rms:
        y = xf * torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + eps)
        return (y * w.float()).to(x.dtype)
    mean = xf.mean(-1, keepdim=True)
    var = (xf - mean).pow(2).mean(-1, keepdim=True)
    y = (xf - mean) * torch.rsqrt(var + eps)
    return (y * w.float() + b.float()).to(x.dtype)


def norm_rms(x, w, eps):
    return _norm(x, w, None, eps, True)


def norm_ln(x, w, b, eps):
    return _norm(x, w, b, eps, False)


def add_norm_rms(residual, x, w, eps):
    r = residual + x
    return r, _norm(r, w, None, eps, True)


def add_norm_ln(residual, x, w, b, eps):
    r = residual + x
    return r, _norm(r, w, b, eps, False)


def rotary(q, k, cos_sin, positions):
    """Neox-style rotary (rotate_half) of q [T, hq, d] and k [T, hkv, d]; returns contiguous q, k."""
    cs = cos_sin[positions]  # [T, d] = cos | sin halves
    half = cs.shape[-1] // 2
    cos, sin = cs[:, None, :half].float(), cs[:, None, half:].float()

    def rot(x):
        x1, x2 = x[..., :half].float(), x[..., half:].float()
        return torch.cat((x1 * cos - x2 * sin, x2 * cos + x1 * sin), dim=-1).to(x.dtype)
    return rot(q), rot(k)


def silu_mul(gu):
    g, u = gu.chunk(2, dim=-1)
    return F.silu(g) * u


class Ops:
    names = ["norm_rms", "norm_ln", "add_norm_rms", "add_norm_ln", "rotary", "silu_mul"]

    def __init__(self, fuse):
        self.fuse = fuse
        for name in self.names:
            fn = globals()[name]
            setattr(self, name, torch.compile(fn, dynamic=True, fullgraph=True) if fuse == "compile" else fn)

    def fall_back(self):
        self.fuse = "none"
        for name in self.names:
            setattr(self, name, globals()[name])


# ---------------------------------------------------------------- weights

class Weights:
    """Every tensor a view into one flat device buffer (256-byte aligned offsets), so a
    checkpoint image loads with one copy per chunk."""

    def __init__(self, arch, device="cuda"):
        align = 128  # elements of bf16: 256 bytes
        self.views_at = []
        offset = 0
        for name, shape in weight_spec(arch):
            self.views_at.append((name, shape, offset))
            offset += (math.prod(shape) + align - 1) // align * align
        self.numel = offset
        self.flat = torch.empty(offset, dtype=DTYPE, device=device)
        self.t = {name: self.flat[o:o + math.prod(s)].view(s) for name, s, o in self.views_at}
        self.bytes = self.flat.numel() * self.flat.element_size()

    def init_random(self, seed=0):
        gen = torch.Generator(device=self.flat.device).manual_seed(seed)
        self.flat.normal_(0, 0.02, generator=gen)
        self.reset_norms()

    def reset_norms(self):
        """Norm gains 1 and biases 0, as a trained model's are near; a checkpoint image of
        normal(0, 0.02) values would otherwise scale every activation by about 0.02."""
        for name, t in self.t.items():
            if "norm" in name.split(".")[-2:][0]:
                t.fill_(1.0 if name.endswith(".w") else 0.0)


# ---------------------------------------------------------------- engine

class Engine:
    def __init__(self, arch_name, max_model_len=4096, gpu_memory_utilization=0.9, max_num_seqs=256,
                 max_num_batched_tokens=8192, fuse="compile", attention="slsim", kv_blocks=None):
        self.name = arch_name
        self.a = load_arch(arch_name)
        a = self.a
        self.hq, self.hkv, self.d, self.h = a["attention_heads"], a["kv_heads"], a["head_dim"], a["hidden_size"]
        self.gated = a["ffn_kind"] == "gated"
        self.rms = a.get("norm", "layernorm") == "rmsnorm"
        self.eps = 1e-5
        # Not capped at the model's max_context: the calibration grid decodes OPT at context
        # 2048 + 1, past its 2,048 learned positions (which then wrap, as in measure_transformer.py).
        self.max_model_len = max_model_len
        self.max_blocks = (self.max_model_len + BLOCK_SIZE - 1) // BLOCK_SIZE
        self.gpu_memory_utilization = gpu_memory_utilization
        self.max_num_seqs = max_num_seqs
        self.max_num_batched_tokens = max_num_batched_tokens
        self.kv_blocks_requested = kv_blocks
        self.ops = Ops(fuse)
        # Outside a graph (a prompt longer than every bucket, the checks' reference) prefill runs
        # eager ops: the compiled ops' per-call dispatch cost 0.2-0.9 ms a layer on the H100.
        # Inside the prefill graphs that dispatch is gone, so they use the compiled ops.
        self.prefill_ops = Ops("none")
        self.prefill_buckets = prefill_token_buckets(self.max_model_len)
        self.prefill_graphs = {}
        self.attention = attention
        self.varlen_repeats_kv = False
        self.pa = PagedAttentionKernel() if attention == "slsim" else None
        self.graphs = {}
        self.timings = {}

    # -- start-up phases (each timed by the caller)
    def allocate_weights(self):
        self.w = Weights(self.a)
        if self.a.get("moe"):
            # Random weights route badly: the residual stream of a random model converges, so a
            # prompt's tokens pick the same few experts (a 128-token prefill of qwen3-30b-a3b ran
            # in 14.5 ms, less than reading every expert once takes). A trained router spreads
            # tokens evenly (its load-balancing loss); fixed random scores per token id and
            # layer, added to the router's logits and far larger than them, do the same here.
            gen = torch.Generator(device="cuda").manual_seed(7)
            self.route_scores = 4 * torch.randn(self.a["vocab_size"], self.a["moe"]["routed_experts"],
                                                generator=gen, device="cuda")
        self.use_rope = not self.a.get("position_embeddings", 0)
        if self.use_rope:
            half = self.d // 2
            inv = 1.0 / (10000.0 ** (torch.arange(0, half, device="cuda", dtype=torch.float32) / half))
            ang = torch.arange(self.max_model_len, device="cuda", dtype=torch.float32)[:, None] * inv[None, :]
            self.cos_sin = torch.cat((ang.cos(), ang.sin()), dim=-1).to(DTYPE)

    def activation_reserve_bytes(self):
        """Peak activations of a max_num_batched_tokens prefill (what vLLM's profile run
        measures), estimated: the widest intermediates of one layer plus the logits."""
        t, a = self.max_num_batched_tokens, self.a
        widest = (self.hq + 2 * self.hkv) * self.d + (3 if self.gated else 2) * a["ffn_size"] + 4 * self.h
        if a.get("moe"):
            m = a["moe"]  # router logits, then top-k rows of input, gate+up, activation and output
            widest = max(widest, m["routed_experts"] + m["experts_per_token"] * (2 * self.h + 3 * m["expert_ffn_size"]))
        return int(1.5 * t * widest * 2 + self.max_num_seqs * a["vocab_size"] * 4) + (256 << 20)

    def kv_block_bytes(self):
        return 2 * self.a["layers"] * self.hkv * BLOCK_SIZE * self.d * 2

    def allocate_kv_cache(self):
        free, total = torch.cuda.mem_get_info()
        used_now = total - free
        budget = int(self.gpu_memory_utilization * total) - used_now - self.activation_reserve_bytes()
        blocks = budget // self.kv_block_bytes()
        if self.kv_blocks_requested:
            blocks = min(blocks, self.kv_blocks_requested)
        if blocks < 2:
            raise RuntimeError(f"{self.name}: no room for a KV cache ({budget / 1e9:.1f} GB left)")
        self.kv = torch.zeros((self.a["layers"], 2, blocks, self.hkv, BLOCK_SIZE, self.d), dtype=DTYPE, device="cuda")
        self.blocks = BlockManager(blocks, BLOCK_SIZE)
        self.kv_cache_bytes = self.kv.numel() * 2
        return blocks

    def warm_up_ops(self):
        """Runs (and, with torch.compile, compiles) each op at two sizes; falls back to
        eager ops if compiling fails."""
        eager = self.prefill_ops
        self.prefill_ops = self.ops  # the warm-up forwards run (and compile) the decode's ops
        try:
            for n in (1, 3, 64):
                self._forward_tokens(n)
            torch.cuda.synchronize()
        except Exception as exc:  # noqa: BLE001 - any compiler failure means: run unfused
            if self.ops.fuse == "none":
                raise
            self.timings["compile_error"] = repr(exc)[:500]
            self.ops.fall_back()
            for n in (1, 3):
                self._forward_tokens(n)
            torch.cuda.synchronize()
        finally:
            self.prefill_ops = eager

    def _forward_tokens(self, n):
        """A prefill of one n-token sequence written into the null block's slots (warm-up only)."""
        tokens = torch.zeros(n, dtype=torch.long, device="cuda")
        positions = torch.arange(n, device="cuda")
        blk = torch.full((n,), NULL_BLOCK, dtype=torch.long, device="cuda")
        off = positions % BLOCK_SIZE
        self.forward(tokens, positions, blk, off, prefill_lens=[n])

    def capture_graphs(self, sizes=CAPTURE_BATCH_SIZES, prefill_buckets=None):
        """Prefill graphs (one sequence of a padded token count each), then one decode graph per
        padded batch size, each set largest first, all in one memory pool (they never run at
        the same time). `prefill_buckets` None: every bucket up to the window."""
        pool = self._capture_prefill_graphs(self.prefill_buckets if prefill_buckets is None else prefill_buckets)
        n = max(sizes)
        self.static = {
            "tokens": torch.zeros(n, dtype=torch.long, device="cuda"),
            "positions": torch.zeros(n, dtype=torch.long, device="cuda"),
            "blk": torch.full((n,), NULL_BLOCK, dtype=torch.long, device="cuda"),
            "off": torch.zeros(n, dtype=torch.long, device="cuda"),
            "tables": torch.zeros((n, self.max_blocks), dtype=torch.int32, device="cuda"),
            "lens": torch.zeros(n, dtype=torch.int32, device="cuda"),
        }
        self.graph_out = {}
        for b in sorted(sizes, reverse=True):
            s = {k: v[:b] for k, v in self.static.items()}
            stream = torch.cuda.Stream()
            stream.wait_stream(torch.cuda.current_stream())
            with torch.cuda.stream(stream):
                self._decode_body(s)  # warm-up: library handles, compiled kernels for this size
            torch.cuda.current_stream().wait_stream(stream)
            g = torch.cuda.CUDAGraph()
            with torch.cuda.graph(g, pool=pool):
                self.graph_out[b] = self._decode_body(s)
            pool = g.pool()
            self.graphs[b] = g
        torch.cuda.synchronize()
        torch.cuda.empty_cache()  # the warm-ups' activations: other instances may share the GPU

    def _capture_prefill_graphs(self, buckets):
        if not buckets:
            return None
        n = max(buckets)
        self.pstatic = {
            "tokens": torch.zeros(n, dtype=torch.long, device="cuda"),
            # A bucket may exceed max_model_len (8 prompts of 1,024 tokens); its warm-up is one
            # sequence, whose positions must stay inside the rotary table.
            "positions": torch.arange(n, device="cuda") % self.max_model_len,
            "blk": torch.full((n,), NULL_BLOCK, dtype=torch.long, device="cuda"),
            "off": torch.arange(n, device="cuda") % BLOCK_SIZE,
            "last": torch.zeros(MAX_PREFILL_SEQS, dtype=torch.long, device="cuda"),
            "cu": torch.zeros(MAX_PREFILL_SEQS + 1, dtype=torch.int32, device="cuda"),
        }
        self.prefill_out = {}
        pool = None
        for t in sorted(buckets, reverse=True):
            self.pstatic["cu"].fill_(t)
            self.pstatic["cu"][0] = 0
            s = {k: v if k in ("last", "cu") else v[:t] for k, v in self.pstatic.items()}
            stream = torch.cuda.Stream()
            stream.wait_stream(torch.cuda.current_stream())
            with torch.cuda.stream(stream):
                self._prefill_body(s)  # warm-up (K/V into the null block)
            torch.cuda.current_stream().wait_stream(stream)
            g = torch.cuda.CUDAGraph()
            with torch.cuda.graph(g, pool=pool):
                self.prefill_out[t] = self._prefill_body(s)
            pool = g.pool()
            self.prefill_graphs[t] = g
        self.prefill_graph_sizes = sorted(self.prefill_graphs)
        return pool

    def _prefill_body(self, s):
        # The prompts back to back, padding after the last one and counted in its sequence (no
        # prompt attends to a later token, so none sees the padding; its K/V go to the null
        # block); sequences past the last prompt are empty.
        t = s["tokens"].shape[0]
        logits = self.forward(s["tokens"], s["positions"], s["blk"], s["off"], prefill_varlen=(s["cu"], t),
                              last_index=s["last"], ops=self.ops)
        return logits, torch.argmax(logits, dim=-1)

    def _decode_body(self, s):
        logits = self.forward(s["tokens"], s["positions"], s["blk"], s["off"], decode=(s["tables"], s["lens"]))
        return logits, torch.argmax(logits, dim=-1)

    # -- the model
    def forward(self, tokens, positions, blk, off, prefill_lens=None, decode=None, last_index=None, ops=None,
                prefill_varlen=None):
        """Tokens flattened over sequences. Prefill: `prefill_lens` lists each sequence's
        tokens (no cached prefix), or `prefill_varlen` gives (cumulative token offsets on the
        device, the longest a sequence may be); decode: (block tables, context lens). Returns
        logits of `last_index` rows (prefill: each sequence's last token) or of every row."""
        w, a = self.w.t, self.a
        if ops is None:
            ops = self.ops if decode is not None else self.prefill_ops
        x = F.embedding(tokens, w["embed"])
        if not self.use_rope:
            rows = w["pos_embed"].shape[0] - 2  # OPT's learned positions start at row 2
            x = x + F.embedding(positions % rows + 2, w["pos_embed"])
        residual = x
        y = ops.norm_rms(x, w["layers.0.norm1.w"], self.eps) if self.rms else \
            ops.norm_ln(x, w["layers.0.norm1.w"], w["layers.0.norm1.b"], self.eps)
        qd, kd = self.hq * self.d, self.hkv * self.d
        for i in range(a["layers"]):
            p = f"layers.{i}."
            qkv = F.linear(y, w[p + "qkv.w"], w.get(p + "qkv.b"))
            q, k, v = qkv.split([qd, kd, kd], dim=-1)
            q, k, v = q.view(-1, self.hq, self.d), k.view(-1, self.hkv, self.d), v.view(-1, self.hkv, self.d)
            if a.get("qk_norm"):
                q, k = ops.norm_rms(q, w[p + "q_norm.w"], self.eps), ops.norm_rms(k, w[p + "k_norm.w"], self.eps)
            if self.use_rope:
                q, k = ops.rotary(q, k, self.cos_sin, positions)
            else:
                q = q.contiguous()
            kc, vc = self.kv[i, 0], self.kv[i, 1]
            kc[blk, :, off] = k
            vc[blk, :, off] = v
            if decode is not None:
                tables, lens = decode
                if self.pa is not None:
                    o = self.pa(q.contiguous(), kc, vc, tables, lens, self.max_model_len)
                else:
                    o = torch_paged_attention(q, kc, vc, tables, lens)
            elif prefill_varlen is not None:
                o = self._varlen_attention(q, k, v, *prefill_varlen)
            else:
                o = self._prefill_attention(q, k, v, prefill_lens)
            o = F.linear(o.reshape(-1, qd), w[p + "o.w"], w.get(p + "o.b"))
            residual, y = (ops.add_norm_rms(residual, o, w[p + "norm2.w"], self.eps) if self.rms else
                           ops.add_norm_ln(residual, o, w[p + "norm2.w"], w[p + "norm2.b"], self.eps))
            if is_moe_layer(a, i):
                m = self._routed_experts(y, p, ops, (tokens + 7919 * i) % a["vocab_size"])
                if p + "gate_up.w" in w:  # shared experts
                    m = m + F.linear(ops.silu_mul(F.linear(y, w[p + "gate_up.w"])), w[p + "down.w"])
            elif self.gated:
                m = F.linear(ops.silu_mul(F.linear(y, w[p + "gate_up.w"])), w[p + "down.w"])
            else:
                m = F.linear(F.relu(F.linear(y, w[p + "fc1.w"], w.get(p + "fc1.b"))), w[p + "fc2.w"], w.get(p + "fc2.b"))
            nxt = f"layers.{i + 1}.norm1" if i + 1 < a["layers"] else "final_norm"
            residual, y = (ops.add_norm_rms(residual, m, w[nxt + ".w"], self.eps) if self.rms else
                           ops.add_norm_ln(residual, m, w[nxt + ".w"], w[nxt + ".b"], self.eps))
        if last_index is not None:
            y = y[last_index]
        return F.linear(y, w.get("lm_head", w["embed"]))

    def _routed_experts(self, y, p, ops, score_rows):
        """Top-k routing and the experts as two grouped GEMMs over the token copies sorted by
        expert (torch._grouped_mm, CUTLASS on sm90), as vLLM's fused MoE computes them; no host
        synchronization, so it runs inside CUDA graphs. Top-k weights renormalized (Qwen3's
        norm_topk_prob); `score_rows` pick the rows of route_scores added to the logits."""
        w, moe = self.w.t, self.a["moe"]
        experts, k = moe["routed_experts"], moe["experts_per_token"]
        logits = F.linear(y, w[p + "router.w"]).float() + self.route_scores[score_rows]
        probs = logits.softmax(dim=-1)
        top_p, top_e = torch.topk(probs, k, dim=-1)
        top_p = top_p / top_p.sum(dim=-1, keepdim=True)
        flat = top_e.view(-1)
        order = torch.argsort(flat, stable=True)
        counts = torch.zeros(experts, dtype=torch.int32, device=y.device).scatter_add_(
            0, flat, torch.ones_like(flat, dtype=torch.int32))
        offs = torch.cumsum(counts, 0, dtype=torch.int32)
        rows = y[order // k]
        gu = torch._grouped_mm(rows, w[p + "experts.gate_up.w"].transpose(-2, -1), offs=offs)
        out = torch._grouped_mm(ops.silu_mul(gu), w[p + "experts.down.w"].transpose(-2, -1), offs=offs)
        unsorted = torch.empty_like(out)
        unsorted[order] = out
        return (unsorted.view(-1, k, self.h).float() * top_p[..., None]).sum(dim=1).to(y.dtype)

    def _varlen_attention(self, q, k, v, cu, max_len):
        """Causal attention within each sequence of the concatenated tokens: FlashAttention-2's
        variable-length kernel (grouped KV heads natively), with device-side offsets, so one
        captured graph serves any split of its token count."""
        q, k, v = (x if x.stride(-1) == 1 else x.contiguous() for x in (q, k, v))
        if self.varlen_repeats_kv:
            k, v = (x.repeat_interleave(self.hq // self.hkv, dim=1) for x in (k, v))
        try:
            return torch.ops.aten._flash_attention_forward(q, k, v, cu, cu, max_len, max_len, 0.0, True, False)[0]
        except RuntimeError:
            # A build whose kernel takes no grouped KV heads: the first call (a capture's warm-up,
            # outside the graph) finds out, and every later one repeats the heads (recorded).
            if self.varlen_repeats_kv or self.hq == self.hkv:
                raise
            self.varlen_repeats_kv = True
            self.timings["varlen_attention"] = "KV heads repeated for the variable-length kernel"
            return self._varlen_attention(q, k, v, cu, max_len)

    def _prefill_attention(self, q, k, v, lens):
        if len(set(lens)) == 1:
            b, s = len(lens), lens[0]
            qq = q.view(b, s, self.hq, self.d).transpose(1, 2)
            kk = k.reshape(b, s, self.hkv, self.d).transpose(1, 2)
            vv = v.reshape(b, s, self.hkv, self.d).transpose(1, 2)
            o = F.scaled_dot_product_attention(qq, kk, vv, is_causal=True, enable_gqa=self.hq != self.hkv)
            return o.transpose(1, 2).reshape(-1, self.hq, self.d)
        outs, start = [], 0
        for s in lens:
            qq = q[start:start + s].transpose(0, 1)[None]
            kk = k[start:start + s].transpose(0, 1)[None]
            vv = v[start:start + s].transpose(0, 1)[None]
            o = F.scaled_dot_product_attention(qq, kk, vv, is_causal=True, enable_gqa=self.hq != self.hkv)
            outs.append(o[0].transpose(0, 1))
            start += s
        return torch.cat(outs)

    # -- steps (host bookkeeping + device work + sampled tokens back on the host)
    def prefill_inputs(self, seqs):
        toks, pos, blk, off, lens, last = [], [], [], [], [], []
        for s in seqs:
            n = s.context
            table = self.blocks.tables[s.seq_id]
            toks += [(s.seq_id * 7919 + j) % self.a["vocab_size"] for j in range(n)]
            pos += range(n)
            blk += [table[j // BLOCK_SIZE] for j in range(n)]
            off += [j % BLOCK_SIZE for j in range(n)]
            lens.append(n)
            last.append(len(toks) - 1)
        t = torch.tensor([toks, pos, blk, off], dtype=torch.long).pin_memory().cuda(non_blocking=True)
        return t[0], t[1], t[2], t[3], lens, torch.tensor(last, device="cuda")

    def prefill(self, seqs):
        return self.prefill_launch(seqs).cpu()

    def prefill_groups(self, seqs):
        """The step's prompts in order, cut into the groups one graph each takes (at most
        MAX_PREFILL_SEQS prompts and the largest captured token count); a prompt longer than
        that is a group of its own, run eagerly."""
        largest = self.prefill_graph_sizes[-1] if self.prefill_graphs else 0
        groups, tokens = [], 0
        for s in seqs:
            if not groups or len(groups[-1]) == MAX_PREFILL_SEQS or tokens + s.context > largest:
                groups.append([])
                tokens = 0
            groups[-1].append(s)
            tokens += s.context
        return groups

    def prefill_launch(self, seqs):
        """The device work of a prefill step (inputs copied, graphs replayed); returns the
        sampled tokens, on the device."""
        out = []
        for group in self.prefill_groups(seqs):
            tokens = sum(s.context for s in group)
            t = padded_prefill_tokens(tokens, self.prefill_graph_sizes) if self.prefill_graphs else None
            if t is None:
                out.append(self.prefill_eager(group))
                continue
            rows, cu, last = self._prefill_host(group, t)
            st = self.pstatic
            for row, name in enumerate(("tokens", "positions", "blk", "off")):
                st[name][:t].copy_(rows[row], non_blocking=True)
            st["cu"].copy_(cu, non_blocking=True)
            st["last"].copy_(last, non_blocking=True)
            self.prefill_graphs[t].replay()
            out.append(self.prefill_out[t][1][:len(group)].clone())  # the next replay overwrites it
        return out[0] if len(out) == 1 else torch.cat(out)

    def prefill_eager(self, seqs):
        tokens, positions, blk, off, lens, last = self.prefill_inputs(seqs)
        logits = self.forward(tokens, positions, blk, off, prefill_lens=lens, last_index=last)
        return torch.argmax(logits, dim=-1)

    def _prefill_host(self, group, t):
        """Pinned host inputs of a group of prompts padded to t tokens: rows (token, position,
        block, offset), the cumulative offsets (the last prompt's sequence runs to t; later
        ones are empty) and each prompt's last row; the same token ids as prefill_inputs."""
        rows = torch.empty((4, t), dtype=torch.long)
        cu = torch.full((MAX_PREFILL_SEQS + 1,), t, dtype=torch.int32)
        last = torch.zeros(MAX_PREFILL_SEQS, dtype=torch.long)
        start = 0
        for i, s in enumerate(group):
            n = s.context
            j = torch.arange(n)
            rows[0, start:start + n] = (s.seq_id * 7919 + j) % self.a["vocab_size"]
            rows[1, start:start + n] = j
            rows[2, start:start + n] = torch.tensor(self.blocks.tables[s.seq_id], dtype=torch.long)[j // BLOCK_SIZE]
            rows[3, start:start + n] = j % BLOCK_SIZE
            cu[i] = start
            start += n
            last[i] = start - 1
        pad = torch.arange(t - start)
        rows[0, start:] = 0
        rows[1, start:] = pad
        rows[2, start:] = NULL_BLOCK
        rows[3, start:] = pad % BLOCK_SIZE
        return rows.pin_memory(), cu.pin_memory(), last.pin_memory()

    def decode(self, seqs):
        n = len(seqs)
        b = padded_batch_size(n, sorted(self.graphs))
        if b is None:
            raise RuntimeError(f"decode batch {n} exceeds the captured sizes")
        rows = [[0] * b for _ in range(5)]  # token, position, block, offset, context (padding: null block)
        table_rows = []
        for r, s in enumerate(seqs):
            pos = s.context - 1
            table = self.blocks.tables[s.seq_id]
            rows[0][r], rows[1][r], rows[2][r] = (s.seq_id + pos) % self.a["vocab_size"], pos, table[pos // BLOCK_SIZE]
            rows[3][r], rows[4][r] = pos % BLOCK_SIZE, s.context
            table_rows.append(table + [0] * (self.max_blocks - len(table)))
        table_rows += [[0] * self.max_blocks] * (b - n)
        host = torch.tensor(rows, dtype=torch.long)
        tables = torch.tensor(table_rows, dtype=torch.int32)
        st = self.static
        st["tokens"][:b].copy_(host[0], non_blocking=True)
        st["positions"][:b].copy_(host[1], non_blocking=True)
        st["blk"][:b].copy_(host[2], non_blocking=True)
        st["off"][:b].copy_(host[3], non_blocking=True)
        st["lens"][:b].copy_(host[4].to(torch.int32), non_blocking=True)
        st["tables"][:b].copy_(tables, non_blocking=True)
        self.graphs[b].replay()
        return self.graph_out[b][1][:n].cpu()

    def step(self, scheduler, now_fn):
        step = scheduler.schedule()
        if step is None:
            return None, []
        (self.prefill if step.kind == "prefill" else self.decode)(step.seqs)
        done = scheduler.complete(step, now_fn())
        return step, done

    def release(self):
        self.prefill_graphs = {}
        for attr in ("graphs", "graph_out", "static", "prefill_out", "pstatic", "kv", "w"):
            if hasattr(self, attr):
                delattr(self, attr)
        torch.cuda.synchronize()
        torch.cuda.empty_cache()


def start_engine(name, fuse, capture_sizes=CAPTURE_BATCH_SIZES, attention="slsim", random_weights=True,
                 prefill_buckets=None, **kw):
    """Builds an engine through its start-up phases; returns it and the seconds of each."""
    t = {}
    t0 = time.perf_counter()
    e = Engine(name, fuse=fuse, attention=attention, **kw)
    e.allocate_weights()
    torch.cuda.synchronize()
    t["allocate_weights_s"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    t["kv_blocks"] = e.allocate_kv_cache()
    torch.cuda.synchronize()
    t["allocate_kv_cache_s"] = time.perf_counter() - t0
    if random_weights:
        e.w.init_random()
        e.kv.normal_(0, 1)  # not zeros: timing on zeros can flatter kernels (METHOD.md)
    t0 = time.perf_counter()
    e.warm_up_ops()
    t["compile_and_warm_ops_s"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    e.capture_graphs(capture_sizes, prefill_buckets)
    t["graph_capture_s"] = time.perf_counter() - t0
    t["fuse"] = e.ops.fuse
    t.update({k: v for k, v in e.timings.items()})
    return e, t


# ---------------------------------------------------------------- checks and measurements

def rel_err(x, ref):
    x, ref = x.double(), ref.double()
    return ((x - ref).norm() / ref.norm()).item()


def check(out, check_models=("llama-3.1-8b", "opt-1.3b")):
    """The kernel against a gathered-SDPA reference, and one engine's decode (graph,
    paged cache written by its prefill) against a prefill over the same tokens."""
    results = []
    pa = PagedAttentionKernel()
    torch.manual_seed(1)
    for hq, hkv, d in [(32, 32, 64), (32, 8, 128), (40, 40, 128)]:
        for batch in (1, 5):
            blocks = 600
            kc = torch.randn(blocks, hkv, BLOCK_SIZE, d, dtype=DTYPE, device="cuda")
            vc = torch.randn_like(kc)
            lens = torch.randint(1, 1500, (batch,), dtype=torch.int32, device="cuda")
            tables = torch.randperm(blocks, device="cuda")[:batch * 94].view(batch, 94).to(torch.int32)
            q = torch.randn(batch, hq, d, dtype=DTYPE, device="cuda")
            err = rel_err(pa(q, kc, vc, tables, lens, 1504), torch_paged_attention(q, kc, vc, tables, lens))
            results.append({"check": "paged_attention_vs_sdpa", "heads": [hq, hkv, d], "batch": batch,
                            "rel_err": err, "ok": err < 1e-2})
    for name in check_models:
        a = load_arch(name)
        a_small = dict(a, layers=2)
        e = Engine(name, fuse="compile", kv_blocks=64)
        e.a = a_small
        e.allocate_weights()
        e.allocate_kv_cache()
        e.w.init_random(seed=3)
        e.warm_up_ops()
        e.capture_graphs([1, 2, 4])
        seqs = [Sequence(i, p, max_new_tokens=4) for i, p in enumerate([37, 16, 70])]
        for s in seqs:
            e.blocks.allocate(s.seq_id, s.context)
        e.prefill(seqs)
        for s in seqs:
            s.generated = 1
            e.blocks.append(s.seq_id, s.context)
        # The decode's logits for position p must equal a fresh prefill's last-token logits over p + 1 tokens.
        e.decode(seqs)
        dec = e.graph_out[4][0][:len(seqs)].clone()
        for r, s in enumerate(seqs):
            m = s.context
            toks = [(s.seq_id * 7919 + j) % a["vocab_size"] for j in range(m - 1)] + [(s.seq_id + m - 1) % a["vocab_size"]]
            tmp_blocks = BlockManager(64, BLOCK_SIZE, watermark=0)
            table = tmp_blocks.allocate(99, m)
            blk = torch.tensor([table[j // BLOCK_SIZE] for j in range(m)], device="cuda")
            kv_saved = e.kv.clone()
            ref = e.forward(torch.tensor(toks, device="cuda"), torch.arange(m, device="cuda"), blk,
                            torch.arange(m, device="cuda") % BLOCK_SIZE, prefill_lens=[m],
                            last_index=torch.tensor([m - 1], device="cuda"))
            e.kv.copy_(kv_saved)
            err = rel_err(dec[r:r + 1], ref)
            results.append({"check": "decode_graph_vs_prefill_logits", "model": name + " (2 layers)",
                            "fuse": e.ops.fuse, "context": m, "rel_err": err, "ok": err < 3e-2})
        # A prefill graph (padded prompt, compiled ops) against the eager prefill of the same prompt.
        for m in (37, 300):
            s = Sequence(100 + m, m, max_new_tokens=1)
            e.blocks.allocate(s.seq_id, m)
            t = padded_prefill_tokens(m, e.prefill_graph_sizes)
            kv_saved = e.kv.clone()
            e.prefill([s])
            graph_logits = e.prefill_out[t][0][:1].clone()
            e.kv.copy_(kv_saved)
            tokens, positions, blk, off, lens, last = e.prefill_inputs([s])
            ref = e.forward(tokens, positions, blk, off, prefill_lens=lens, last_index=last)
            e.kv.copy_(kv_saved)
            e.blocks.free(s.seq_id)
            err = rel_err(graph_logits, ref)
            results.append({"check": "prefill_graph_vs_eager_logits", "model": name + " (2 layers)",
                            "fuse": e.ops.fuse, "prompt": m, "padded_to": t, "rel_err": err, "ok": err < 3e-2})
        # Three prompts in one graph (variable-length attention) against each prompt's own
        # eager prefill (SDPA over that prompt alone).
        prompts = [37, 300, 90]
        group = [Sequence(200 + i, m, max_new_tokens=1) for i, m in enumerate(prompts)]
        for s in group:
            e.blocks.allocate(s.seq_id, s.context)
        t = padded_prefill_tokens(sum(prompts), e.prefill_graph_sizes)
        kv_saved = e.kv.clone()
        e.prefill(group)
        graph_logits = e.prefill_out[t][0][:len(group)].clone()
        e.kv.copy_(kv_saved)
        refs = []
        for s in group:
            tokens, positions, blk, off, lens, last = e.prefill_inputs([s])
            refs.append(e.forward(tokens, positions, blk, off, prefill_lens=lens, last_index=last))
            e.kv.copy_(kv_saved)
        for s in group:
            e.blocks.free(s.seq_id)
        err = rel_err(graph_logits, torch.cat(refs))
        results.append({"check": "batched_prefill_graph_vs_eager_logits", "model": name + " (2 layers)",
                        "fuse": e.ops.fuse, "prompts": prompts, "padded_to": t, "rel_err": err, "ok": err < 3e-2})
        e.release()
    with open(out, "w") as f:
        json.dump(results, f, indent=1)
    for r in results:
        print("check", r)
    return all(r["ok"] for r in results)


def timed_ms(fn, iters, trials):
    """(wall ms per call with a host sync after each, GPU ms per call back to back)."""
    for _ in range(2):
        fn()
    torch.cuda.synchronize()
    walls = []
    for _ in range(trials):
        t0 = time.perf_counter()
        for _ in range(iters):
            fn()
            torch.cuda.synchronize()
        walls.append((time.perf_counter() - t0) * 1e3 / iters)
    return sorted(walls)[len(walls) // 2]


def gpu_ms(fn, iters, trials):
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


def measure_model(name, fuse, prefill_grid, decode_grid, trials):
    sizes = sorted({padded_batch_size(b) for b, _ in decode_grid})
    buckets = prefill_token_buckets(max([4096] + [b * p for b, p in prefill_grid]))
    prefill_sizes = sorted({padded_prefill_tokens(b * p, buckets) for b, p in prefill_grid} - {None})
    e, startup = start_engine(name, fuse, capture_sizes=sizes, prefill_buckets=prefill_sizes, max_model_len=4096)
    entry = {"model": name, "architecture": e.a, "weight_bytes": e.w.bytes, "kv_cache_bytes": e.kv_cache_bytes,
             "kv_blocks": startup["kv_blocks"], "fuse": e.ops.fuse, "startup_in_this_process": startup,
             "prefill": [], "decode": []}
    print(f"{name}: {e.w.bytes / 1e9:.2f} GB weights, {e.kv_cache_bytes / 1e9:.1f} GB KV, fuse {e.ops.fuse}",
          flush=True)
    next_id = [0]

    def make(batch, tokens):
        seqs = []
        for _ in range(batch):
            s = Sequence(next_id[0], tokens, max_new_tokens=1 << 30)
            next_id[0] += 1
            e.blocks.allocate(s.seq_id, tokens)
            seqs.append(s)
        return seqs

    for batch, prompt in prefill_grid:
        seqs = make(batch, prompt)
        step_ms = timed_ms(lambda: e.prefill(seqs), iters=3, trials=trials)
        fwd_ms = gpu_ms(lambda: e.prefill_launch(seqs), iters=3, trials=trials)
        padded = [padded_prefill_tokens(sum(s.context for s in g), e.prefill_graph_sizes)
                  for g in e.prefill_groups(seqs)]
        print(f"  prefill {batch:3d} x {prompt:5d}: step {step_ms:8.2f} ms  graphs {fwd_ms:8.2f} ms "
              f"(graphs of {padded} tokens)", flush=True)
        entry["prefill"].append({"batch": batch, "prompt_tokens": prompt, "graph_tokens": padded,
                                 "step_ms": step_ms, "forward_ms": fwd_ms})
        for s in seqs:
            e.blocks.free(s.seq_id)
    for batch, context in decode_grid:
        if not e.blocks.can_allocate(batch * (context + BLOCK_SIZE)):
            print(f"  decode  {batch:3d} x {context:5d}: skipped, KV cache too small", flush=True)
            entry["decode"].append({"batch": batch, "context_tokens": context, "skipped": "KV cache too small"})
            continue
        seqs = make(batch, context)
        for s in seqs:
            s.generated = 1  # decode feeds position `context`: context + 1 tokens in the cache
            e.blocks.append(s.seq_id, s.context)
        b = padded_batch_size(batch)
        e.decode(seqs)
        step_ms = timed_ms(lambda: e.decode(seqs), iters=10, trials=trials)
        graph_ms = gpu_ms(e.graphs[b].replay, iters=20, trials=trials)
        print(f"  decode  {batch:3d} x {context:5d}: step {step_ms:8.3f} ms  graph {graph_ms:8.3f} ms "
              f"(padded to {b})", flush=True)
        entry["decode"].append({"batch": batch, "context_tokens": context, "padded_batch": b,
                                "step_ms": step_ms, "graph_ms": graph_ms})
        for s in seqs:
            e.blocks.free(s.seq_id)
    e.release()
    return entry


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--models", default="opt-1.3b,opt-6.7b,llama-2-7b,llama-3.1-8b,opt-13b,llama-2-13b")
    ap.add_argument("--prefill", type=pairs, default=pairs("1x128,1x512,1x2048,4x512,8x1024"))
    ap.add_argument("--decode", type=pairs, default=pairs("1x512,1x2048,8x512,8x2048,32x512,32x2048,64x1024"))
    ap.add_argument("--fuse", default="compile", choices=["compile", "none"])
    ap.add_argument("--trials", type=int, default=5)
    ap.add_argument("--check", metavar="FILE", help="run the correctness checks first, writing FILE")
    ap.add_argument("--check-models", default="llama-3.1-8b,opt-1.3b",
                    help="models whose 2-layer engines --check runs (decode graph and prefill graph)")
    args = ap.parse_args()
    torch._dynamo.config.cache_size_limit = 64
    with torch.inference_mode():
        if args.check and not check(args.check, args.check_models.split(",")):
            print("checks failed", file=sys.stderr)
            sys.exit(1)
        models = [measure_model(m, args.fuse, args.prefill, args.decode, args.trials)
                  for m in args.models.split(",") if m]
    doc = {
        "program": "kernels/testbed/engine.py",
        "environment": environment(" ".join(["python3"] + sys.argv)),
        "config": {
            "dtype": "bfloat16", "weights": "random normal(0, 0.02), norms 1",
            "kv_cache": f"paged, block size {BLOCK_SIZE}, [layers, 2, blocks, kv_heads, {BLOCK_SIZE}, head_dim], "
                        "gpu_memory_utilization 0.9, filled with random normal",
            "prefill": "the step's prompts concatenated in one CUDA graph captured at their padded total token "
                       "count (16, 32, 64, every 64 to 2048, every 256 beyond), up to 8 prompts a graph: "
                       "FlashAttention-2 variable-length causal attention (aten._flash_attention_forward), K/V "
                       "written to the paged cache, logits of each prompt's last token, argmax inside the graph",
            # The serving engine's (worker.py: max_model_len 4096), which the profile describes; a
            # grid step past 4,096 tokens (8 x 1,024) ran here as one graph, there as several.
            "prefill_token_buckets": prefill_token_buckets(4096),
            "decode": "the project's paged-attention kernel (kernels/paged_attention), CUDA graph per padded batch "
                      "size, max_model_len 4096, logits of every sequence, argmax inside the graph",
            "fused_elementwise": "torch.compile (inductor, dynamic shapes) of residual add + norm, rotary and "
                                 "SiLU*mul inside the decode and prefill graphs (see each model's `fuse`)",
            "step_ms": "wall time of one engine step: host-side inputs, copies, device work, sampled tokens "
                       "copied back (median over trials of the mean of several steps)",
            "forward_ms / graph_ms": "GPU time of the prefill step's input copies and graph replays (prefill) or "
                                     "of the graph replay (decode), CUDA events around back-to-back calls, "
                                     "median over trials",
        },
        "models": models,
    }
    with open(args.out + ".tmp", "w") as f:
        json.dump(doc, f, indent=1)
    os.replace(args.out + ".tmp", args.out)


if __name__ == "__main__":
    main()
