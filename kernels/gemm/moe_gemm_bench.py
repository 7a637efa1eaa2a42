#!/usr/bin/env python3
"""Times the GEMMs that gemm_bench (cuBLASLt, 16-bit) does not: the routed experts of MoE
models as grouped GEMMs, and fp8 linear layers. Writes one JSON file for
`slsim calibrate --update PROFILE --moe-gemm FILE`.

- grouped: for every MoE model of models/llm/*.json, one GPU's experts (all of them, and the
  1/8 an 8-GPU expert-parallel instance holds) as torch._grouped_mm (CUTLASS grouped GEMM on
  sm90, bf16): gate+up [hidden -> 2 x expert_ffn] and down [expert_ffn -> hidden] over the
  token copies sorted by expert. A point is T tokens routed top-k uniformly at random (k
  distinct experts each, as an unskewed router picks them); the copies that reach the GPU's
  experts are the GEMM's rows (`assignments`). fp8 (e4m3, row-wise scales,
  torch._scaled_grouped_mm) beside bf16 where this PyTorch has it.
- fp8: every linear shape of the committed gemm.json (the catalogue's layers, unsplit) as
  torch._scaled_mm (cuBLASLt fp8 e4m3 x e4m3, per-tensor scales, bf16 output), at the same
  token counts. The activations' quantization is not timed (a serving engine fuses it into
  the preceding norm).
Timing: CUDA events around back-to-back calls, median of trials; weights rotate over copies
of at least 4x the L2 where one copy is smaller.

usage: moe_gemm_bench.py --out FILE [--gemm-shapes models/calibration/measurements/h100-sxm/gemm.json]
"""
import argparse
import glob
import json
import os
import sys

import torch

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(REPO, "kernels", "testbed"))
from engine import environment, gpu_ms  # noqa: E402
TOKENS = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 8192]
EXPERT_PARALLEL = 8
FP8 = torch.float8_e4m3fn


def median_us(fn):
    """GPU time per call: CUDA events around 20 back-to-back calls, median of 5 trials."""
    return 1e3 * gpu_ms(fn, iters=20, trials=5)


def copies_for(bytes_one):
    return max(1, -(-4 * torch.cuda.get_device_properties(0).L2_cache_size // bytes_one))


def moe_shapes():
    """(models sharing the shape, hidden, experts, top-k, expert ffn) of every catalogue MoE."""
    shapes = {}
    for path in sorted(glob.glob(os.path.join(REPO, "models", "llm", "*.json"))):
        with open(path) as f:
            spec = json.load(f)
        a = spec["architecture"]
        m = a.get("moe")
        if not m:
            continue
        key = (a["hidden_size"], m["routed_experts"], m["experts_per_token"], m["expert_ffn_size"])
        shapes.setdefault(key, []).append(spec["name"])
    return [("/".join(models),) + key for key, models in shapes.items()]


def routed_rows(tokens, experts_total, experts_local, k, gen):
    """Group sizes of the copies that reach experts [0, experts_local) when `tokens` tokens
    each pick k distinct experts of experts_total uniformly."""
    picks = torch.rand(tokens, experts_total, generator=gen, device="cuda").topk(k, dim=-1).indices.view(-1)
    picks = picks[picks < experts_local]
    counts = torch.bincount(picks, minlength=experts_local).to(torch.int32)
    return counts


def grouped_points(hidden, ffn, experts_total, experts_local, k, dtype, gen, max_bytes):
    """[(tokens, assignments, gate_up_us, down_us)] for one GPU holding experts_local experts."""
    weight_bytes = experts_local * 3 * hidden * ffn * (1 if dtype == FP8 else 2)
    if weight_bytes > max_bytes:
        return None, f"{weight_bytes / 1e9:.1f} GB of expert weights exceed the {max_bytes / 1e9:.0f} GB allowed"
    n = copies_for(weight_bytes)
    gate_up = [torch.randn(experts_local, 2 * ffn, hidden, device="cuda", dtype=torch.bfloat16) * 0.02
               for _ in range(n)]
    down = [torch.randn(experts_local, hidden, ffn, device="cuda", dtype=torch.bfloat16) * 0.02 for _ in range(n)]
    if dtype == FP8:
        gate_up = [w.to(FP8) for w in gate_up]
        down = [w.to(FP8) for w in down]
        su = torch.ones(experts_local, 2 * ffn, device="cuda", dtype=torch.float32)
        sd = torch.ones(experts_local, hidden, device="cuda", dtype=torch.float32)
    points = []
    for tokens in TOKENS:
        counts = routed_rows(tokens, experts_total, experts_local, k, gen)
        rows = int(counts.sum())
        if rows == 0:
            continue
        offs = torch.cumsum(counts, 0, dtype=torch.int32)
        x = torch.randn(rows, hidden, device="cuda", dtype=torch.bfloat16)
        h = torch.randn(rows, ffn, device="cuda", dtype=torch.bfloat16)
        i = [0]

        def nxt():
            i[0] = (i[0] + 1) % n
            return i[0]
        if dtype == FP8:
            x8, h8 = x.to(FP8), h.to(FP8)
            sx = torch.ones(rows, device="cuda", dtype=torch.float32)

            def up():
                return torch._scaled_grouped_mm(x8, gate_up[nxt()].transpose(-2, -1), sx, su, offs=offs,
                                                out_dtype=torch.bfloat16)

            def dn():
                return torch._scaled_grouped_mm(h8, down[nxt()].transpose(-2, -1), sx, sd, offs=offs,
                                                out_dtype=torch.bfloat16)
        else:
            def up():
                return torch._grouped_mm(x, gate_up[nxt()].transpose(-2, -1), offs=offs)

            def dn():
                return torch._grouped_mm(h, down[nxt()].transpose(-2, -1), offs=offs)
        points.append({"tokens": tokens, "assignments": rows, "gate_up_us": median_us(up), "down_us": median_us(dn)})
    del gate_up, down
    torch.cuda.empty_cache()
    return points, None


def fp8_points(in_features, out_features):
    n = copies_for(in_features * out_features)
    weights = [(torch.randn(out_features, in_features, device="cuda") * 0.02).to(FP8) for _ in range(n)]
    one = torch.ones((), device="cuda", dtype=torch.float32)
    points = []
    for tokens in TOKENS:
        x = torch.randn(tokens, in_features, device="cuda").to(FP8)
        i = [0]

        def mm():
            i[0] = (i[0] + 1) % n
            return torch._scaled_mm(x, weights[i[0]].t(), scale_a=one, scale_b=one, out_dtype=torch.bfloat16)
        try:
            points.append({"tokens": tokens, "us": median_us(mm)})
        except RuntimeError as exc:  # cuBLASLt fp8 wants rows in multiples of 16: time the padded call
            padded = -(-tokens // 16) * 16
            x = torch.randn(padded, in_features, device="cuda").to(FP8)
            points.append({"tokens": tokens, "us": median_us(mm), "padded_tokens": padded,
                           "why": str(exc).split("\n")[0][:200]})
    return points


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--gemm-shapes", default=os.path.join(REPO, "models", "calibration", "measurements", "h100-sxm",
                                                          "gemm.json"))
    ap.add_argument("--max-expert-gb", type=float, default=30, help="skip expert sets larger than this")
    args = ap.parse_args()
    gen = torch.Generator(device="cuda").manual_seed(0)
    doc = {"program": "kernels/gemm/moe_gemm_bench.py",
           "environment": dict(environment(" ".join(["python3"] + sys.argv)),
                               l2_bytes=torch.cuda.get_device_properties(0).L2_cache_size),
           "config": {"tokens": TOKENS, "expert_parallel": EXPERT_PARALLEL,
                      "routing": "top-k of uniform random scores per token (k distinct experts)",
                      "timing": "CUDA events, 20 back-to-back calls, median of 5 trials; weights rotated over "
                                "copies >= 4x L2",
                      "grouped": "torch._grouped_mm (bf16) / torch._scaled_grouped_mm (fp8 e4m3, row-wise scales "
                                 "of 1), weights [experts, out, in] transposed, rows sorted by expert",
                      "fp8": "torch._scaled_mm, e4m3 x e4m3, per-tensor scales, bf16 out; quantization of the "
                             "activations not timed"},
           "grouped": [], "fp8": [], "skipped": []}
    for model, hidden, experts, k, ffn in moe_shapes():
        for local in sorted({experts, max(1, experts // EXPERT_PARALLEL)}, reverse=True):
            for dtype, name in ((torch.bfloat16, "bf16"), (FP8, "fp8")):
                label = f"{model} {local}/{experts} experts {name}"
                try:
                    points, why = grouped_points(hidden, ffn, experts, local, k, dtype, gen,
                                                 args.max_expert_gb * 1e9)
                except (RuntimeError, AttributeError, TypeError) as exc:
                    points, why = None, f"{type(exc).__name__}: {str(exc).splitlines()[0][:300]}"
                    torch.cuda.empty_cache()
                if points is None:
                    print(f"grouped {label}: skipped, {why}", flush=True)
                    doc["skipped"].append({"what": "grouped " + label, "why": why})
                    continue
                print(f"grouped {label}: " + ", ".join(
                    f"{p['tokens']}:{p['gate_up_us'] + p['down_us']:.0f}us" for p in points), flush=True)
                doc["grouped"].append({"model": model, "dtype": name, "experts": local, "experts_total": experts,
                                       "experts_per_token": k, "hidden_size": hidden, "expert_ffn_size": ffn,
                                       "points": points})
    with open(args.gemm_shapes) as f:
        shapes = {}
        for r in json.load(f)["results"]:
            shapes.setdefault((r["in_features"], r["out_features"]), (r["model"], r["layer"]))
    for (fin, fout), (model, layer) in sorted(shapes.items()):
        try:
            points = fp8_points(fin, fout)
        except RuntimeError as exc:
            why = str(exc).splitlines()[0][:300]
            print(f"fp8 {model} {layer} {fin}x{fout}: skipped, {why}", flush=True)
            doc["skipped"].append({"what": f"fp8 {model} {layer} {fin}x{fout}", "why": why})
            continue
        print(f"fp8 {model} {layer} {fin}x{fout}: " + ", ".join(f"{p['tokens']}:{p['us']:.1f}" for p in points),
              flush=True)
        doc["fp8"].append({"model": model, "layer": layer, "in_features": fin, "out_features": fout,
                           "points": points})
    with open(args.out + ".tmp", "w") as f:
        json.dump(doc, f, indent=1)
    os.replace(args.out + ".tmp", args.out)


if __name__ == "__main__":
    main()
