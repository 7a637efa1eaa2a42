#!/usr/bin/env python3
"""Check the model catalogue in models/llm/ against published sizes.

For every models/llm/*.json this script
  1. checks the file against the catalogue schema (every key present, no unknown key,
     types and enumerations right; see models/README.md),
  2. derives the parameter count from the architecture with the same formula the
     simulator uses (MoE, MLA and multi-token-prediction blocks included), and the
     checkpoint size as each class of parameters x its dtype's bytes,
  3. compares them with the published figures (published.parameters and, where not
     null, published.checkpoint_bytes) and with the independent cross-checks listed
     in CROSS_CHECKS below (file sizes shown on the Hugging Face Hub, which are
     rounded to 3 significant figures),
and prints one table. It exits 1 if a file breaks the schema or if any derived
figure is off a published one by more than TOLERANCE (1 %).

Python 3 standard library only. Usage:
    python3 scripts/check_model_catalogue.py [--dir models/llm] [--markdown]
"""

import argparse
import glob
import json
import os
import sys

TOLERANCE = 0.01  # relative; published sizes must match the derivation within 1 %

# mxfp4: 4-bit values with one 8-bit scale per 32, 4.25 bits (docs/decisions.md, issue 19).
DTYPE_BYTES = {"fp16": 2, "bf16": 2, "fp32": 4, "fp8": 1, "int8": 1, "int4": 0.5, "mxfp4": 4.25 / 8}
KV_DTYPES = {"fp16", "bf16", "fp32", "fp8"}

TOP_KEYS = {"name", "hf_id", "source", "architecture", "dtype", "published"}
TOP_OPTIONAL = {"notes", "linear_dtype", "expert_dtype", "kv_dtype"}
ARCH_KEYS = {
    "layers": int, "hidden_size": int, "attention_heads": int, "kv_heads": int,
    "head_dim": int, "ffn_size": int, "ffn_kind": str, "vocab_size": int,
    "max_context": int, "position_embeddings": int, "tied_embeddings": bool,
    "qkv_bias": bool, "out_bias": bool, "mlp_bias": bool, "norm": str,
    "norms_per_layer": int, "qk_norm": bool, "final_norm": bool,
}
ARCH_OPTIONAL = {"extra_params": int, "moe": dict, "mla": dict, "mtp_layers": int}
MOE_KEYS = {"routed_experts": int, "experts_per_token": int, "expert_ffn_size": int}
MOE_OPTIONAL = {"shared_experts": int, "dense_layers_first": int, "router_bias": bool, "expert_skew": (int, float)}
MLA_KEYS = {"kv_lora_rank": int, "qk_rope_head_dim": int, "qk_nope_head_dim": int, "v_head_dim": int}
MLA_OPTIONAL = {"q_lora_rank": int}
PUBLISHED_KEYS = {"checkpoint_bytes", "parameters", "source"}

# Independent size evidence for models whose published.checkpoint_bytes is null:
# the checkpoint file sizes the Hugging Face Hub shows for the official repository,
# summed (each shown to 3 significant figures, so agreement to ~0.5 % is all one can
# ask). Bytes in the shown unit (1 GB = 1e9 bytes).
CROSS_CHECKS = {
    "opt-1.3b": (2.63e9, "facebook/opt-1.3b pytorch_model.bin 2.63 GB (fp16)"),
    "opt-2.7b": (5.3e9, "facebook/opt-2.7b pytorch_model.bin 5.3 GB (fp16)"),
    "opt-6.7b": ((9.96 + 3.36) * 1e9, "facebook/opt-6.7b 2 shards 9.96 + 3.36 GB (fp16)"),
    "opt-13b": ((9.98 + 9.86 + 5.87) * 1e9, "facebook/opt-13b 3 shards 9.98 + 9.86 + 5.87 GB (fp16)"),
    "opt-30b": ((9.79 + 5 * 9.87 + 0.822) * 1e9,
                "facebook/opt-30b 7 shards 9.79 + 5 x 9.87 + 0.822 GB (fp16)"),
    "falcon-7b": ((9.95 + 4.48) * 1e9, "tiiuae/falcon-7b 2 safetensors shards 9.95 + 4.48 GB (bf16)"),
    "falcon-40b": ((8 * 9.51 + 7.58) * 1e9, "tiiuae/falcon-40b 9 safetensors shards 8 x 9.51 + 7.58 GB (bf16)"),
}


def check_schema(path, m):
    """Returns a list of problems (empty if the file fits the schema)."""
    problems = []

    def need(cond, msg):
        if not cond:
            problems.append(msg)

    keys = set(m)
    need(TOP_KEYS <= keys, f"missing keys {sorted(TOP_KEYS - keys)}")
    need(keys <= TOP_KEYS | TOP_OPTIONAL, f"unknown keys {sorted(keys - TOP_KEYS - TOP_OPTIONAL)}")
    for k in ("name", "hf_id", "source"):
        need(isinstance(m.get(k), str) and m.get(k), f"{k} must be a non-empty string")
    need(m.get("name") == os.path.splitext(os.path.basename(path))[0],
         "name must equal the file name without .json")
    for k in ("dtype", "linear_dtype", "expert_dtype"):
        if k == "dtype" or k in m:
            need(m.get(k) in DTYPE_BYTES, f"{k} must be one of {sorted(DTYPE_BYTES)}")
    if "kv_dtype" in m:
        need(m["kv_dtype"] in KV_DTYPES, f"kv_dtype must be one of {sorted(KV_DTYPES)}")
    if "notes" in m:
        need(isinstance(m["notes"], str), "notes must be a string")

    a = m.get("architecture", {})
    if not isinstance(a, dict):
        return problems + ["architecture must be an object"]
    akeys = set(a)
    need(set(ARCH_KEYS) <= akeys, f"architecture: missing keys {sorted(set(ARCH_KEYS) - akeys)}")
    unknown = akeys - set(ARCH_KEYS) - set(ARCH_OPTIONAL)
    need(not unknown, f"architecture: unknown keys {sorted(unknown)}")
    for k, t in {**ARCH_KEYS, **ARCH_OPTIONAL}.items():
        if k in a:
            v = a[k]
            ok = isinstance(v, t) and (t is bool or not isinstance(v, bool))
            need(ok, f"architecture.{k} must be {t.__name__}")
            if ok and t is int:
                need(v >= 0, f"architecture.{k} must be >= 0")
    for block, required, optional in (("moe", MOE_KEYS, MOE_OPTIONAL), ("mla", MLA_KEYS, MLA_OPTIONAL)):
        if isinstance(a.get(block), dict):
            b = a[block]
            need(set(required) <= set(b), f"architecture.{block}: missing keys {sorted(set(required) - set(b))}")
            unknown = set(b) - set(required) - set(optional)
            need(not unknown, f"architecture.{block}: unknown keys {sorted(unknown)}")
            for k, t in {**required, **optional}.items():
                if k in b:
                    need(isinstance(b[k], t) and (t is bool or not isinstance(b[k], bool)) and b[k] >= 0,
                         f"architecture.{block}.{k} must be a non-negative {getattr(t, '__name__', 'number')}")
    if problems:
        return problems
    if "moe" in a:
        need(a["moe"]["experts_per_token"] <= a["moe"]["routed_experts"],
             "architecture.moe.experts_per_token must be at most routed_experts")
        need(a["moe"].get("dense_layers_first", 0) < a["layers"],
             "architecture.moe.dense_layers_first must be below layers")
    need(a["ffn_kind"] in ("mlp", "gated"), "architecture.ffn_kind must be 'mlp' or 'gated'")
    need(a["norm"] in ("layernorm", "rmsnorm"), "architecture.norm must be 'layernorm' or 'rmsnorm'")
    need(a["attention_heads"] % a["kv_heads"] == 0 if a["kv_heads"] else False,
         "attention_heads must be a multiple of kv_heads")
    need(a["layers"] > 0 and a["hidden_size"] > 0 and a["head_dim"] > 0, "sizes must be positive")

    p = m.get("published", {})
    if not isinstance(p, dict):
        return problems + ["published must be an object"]
    pkeys = set(p)
    need(pkeys == PUBLISHED_KEYS, f"published: keys must be exactly {sorted(PUBLISHED_KEYS)}")
    cb = p.get("checkpoint_bytes")
    need(cb is None or (isinstance(cb, int) and not isinstance(cb, bool) and cb > 0),
         "published.checkpoint_bytes must be a positive integer or null")
    pp = p.get("parameters")
    need(isinstance(pp, int) and not isinstance(pp, bool) and pp > 0,
         "published.parameters must be a positive integer")
    need(isinstance(p.get("source"), str) and p.get("source"), "published.source must be a non-empty string")
    return problems


def derive_parameters(a):
    """The simulator's parameter-count formula (models/README.md), split by the dtype each
    class is stored in: (layer matrices, routed experts' matrices, the rest)."""
    h = a["hidden_size"]
    q_out = a["attention_heads"] * a["head_dim"]
    kv_out = a["kv_heads"] * a["head_dim"]
    norm_width = 2 if a["norm"] == "layernorm" else 1  # weight (+ bias)
    up_mats = 2 if a["ffn_kind"] == "gated" else 1      # gate+up or up

    def ffn_weights(width):
        return (up_mats + 1) * h * width                # + down

    def ffn_biases(width):
        return up_mats * width + h if a["mlp_bias"] else 0

    mla = a.get("mla")
    if mla:
        q_head = mla["qk_nope_head_dim"] + mla["qk_rope_head_dim"]
        q_lora = mla.get("q_lora_rank", 0)
        attention = (h * q_lora + q_lora * a["attention_heads"] * q_head if q_lora
                     else h * a["attention_heads"] * q_head)
        attention += h * (mla["kv_lora_rank"] + mla["qk_rope_head_dim"])
        attention += mla["kv_lora_rank"] * a["attention_heads"] * (mla["qk_nope_head_dim"] + mla["v_head_dim"])
        attention += a["attention_heads"] * mla["v_head_dim"] * h
    else:
        attention = h * q_out + 2 * h * kv_out + q_out * h  # q, k, v, o
    small = a["norms_per_layer"] * norm_width * h
    if a["qkv_bias"]:
        small += q_out + 2 * kv_out
    if a["out_bias"]:
        small += h
    if a["qk_norm"]:
        small += 2 * a["head_dim"]
    if mla:
        small += norm_width * (mla.get("q_lora_rank", 0) + mla["kv_lora_rank"])

    moe = a.get("moe")
    moe_layers = a["layers"] - moe.get("dense_layers_first", 0) if moe else 0
    dense_layers = a["layers"] - moe_layers
    linear = a["layers"] * attention + dense_layers * ffn_weights(a["ffn_size"])
    experts = 0
    other = a["layers"] * small + dense_layers * ffn_biases(a["ffn_size"])
    if moe:
        expert = ffn_weights(moe["expert_ffn_size"])
        shared, routed = moe.get("shared_experts", 0), moe["routed_experts"]
        moe_small = (routed + shared) * ffn_biases(moe["expert_ffn_size"]) + routed * h
        if moe.get("router_bias", False):
            moe_small += routed
        linear += moe_layers * shared * expert
        experts += moe_layers * routed * expert
        other += moe_layers * moe_small
    other += a["vocab_size"] * h                     # lm_head (or the tied embedding)
    if not a["tied_embeddings"]:
        other += a["vocab_size"] * h                 # separate input embedding
    other += a["position_embeddings"] * h            # learned positions (0 for rotary)
    if a["final_norm"]:
        other += norm_width * h
    other += a.get("extra_params", 0)
    # Multi-token-prediction modules: a layer of the last kind, eh_proj, 3 norms, embedding + head copies.
    modules = a.get("mtp_layers", 0)
    linear += modules * (attention + 2 * h * h + (moe.get("shared_experts", 0) * expert if moe
                                                  else ffn_weights(a["ffn_size"])))
    experts += modules * (moe["routed_experts"] * expert if moe else 0)
    other += modules * (small + 3 * norm_width * h + 2 * a["vocab_size"] * h +
                        (moe_small if moe else ffn_biases(a["ffn_size"])))
    return linear, experts, other


def checkpoint_bytes(m, split):
    linear_dtype = m.get("linear_dtype", m["dtype"])
    expert_dtype = m.get("expert_dtype", linear_dtype)
    linear, experts, other = split
    return round(linear * DTYPE_BYTES[linear_dtype] + experts * DTYPE_BYTES[expert_dtype] +
                 other * DTYPE_BYTES[m["dtype"]])


def pct(derived, published):
    return 100.0 * (derived - published) / published


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    here = os.path.dirname(os.path.abspath(__file__))
    ap.add_argument("--dir", default=os.path.join(here, "..", "models", "llm"))
    ap.add_argument("--markdown", action="store_true", help="print a Markdown table")
    args = ap.parse_args()

    paths = sorted(glob.glob(os.path.join(args.dir, "*.json")))
    if not paths:
        print(f"no model files in {args.dir}", file=sys.stderr)
        return 1

    failed = False
    rows = []
    for path in paths:
        with open(path) as f:
            m = json.load(f)
        problems = check_schema(path, m)
        if problems:
            failed = True
            for pr in problems:
                print(f"{os.path.basename(path)}: {pr}", file=sys.stderr)
            continue
        a, pub = m["architecture"], m["published"]
        split = derive_parameters(a)
        params = sum(split)
        ckpt = checkpoint_bytes(m, split)
        d_params = pct(params, pub["parameters"])
        d_ckpt = None if pub["checkpoint_bytes"] is None else pct(ckpt, pub["checkpoint_bytes"])
        cross = CROSS_CHECKS.get(m["name"])
        d_cross = None if cross is None else pct(ckpt, cross[0])
        ok = abs(d_params) <= 100 * TOLERANCE and (d_ckpt is None or abs(d_ckpt) <= 100 * TOLERANCE) \
            and (d_cross is None or abs(d_cross) <= 100 * TOLERANCE)
        failed |= not ok
        dtypes = m["dtype"] + "".join(f", {k.split('_')[0]}s {m[k]}" for k in ("linear_dtype", "expert_dtype") if k in m)
        rows.append((m["name"], dtypes, params, pub["parameters"], d_params, ckpt,
                     pub["checkpoint_bytes"], d_ckpt, d_cross, "ok" if ok else "MISMATCH"))

    def f_pct(v):
        if v is None:
            return "-"
        if v == 0:
            return "0"
        return f"{v:+.1e}%" if abs(v) < 1e-3 else f"{v:+.3f}%"

    def f_int(v):
        return "null" if v is None else f"{v:,}"

    head = ("model", "dtype", "derived params", "published params", "diff",
            "derived ckpt bytes", "published ckpt bytes", "diff", "vs Hub file sizes", "check")
    table = [head] + [(r[0], r[1], f_int(r[2]), f_int(r[3]), f_pct(r[4]), f_int(r[5]), f_int(r[6]),
                       f_pct(r[7]), f_pct(r[8]), r[9]) for r in rows]
    if args.markdown:
        print("| " + " | ".join(head) + " |")
        print("|" + "---|" * len(head))
        for r in table[1:]:
            print("| " + " | ".join(r) + " |")
    else:
        widths = [max(len(r[i]) for r in table) for i in range(len(head))]
        for i, r in enumerate(table):
            print("  ".join(c.rjust(w) if j >= 2 else c.ljust(w) for j, (c, w) in enumerate(zip(r, widths))))
            if i == 0:
                print("  ".join("-" * w for w in widths))
    print(f"\n{len(rows)} models checked against published sizes (tolerance {100 * TOLERANCE:g} %); "
          f"'vs Hub file sizes' compares the derived checkpoint with the rounded file sizes in CROSS_CHECKS.")
    if failed:
        print("FAILED", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
