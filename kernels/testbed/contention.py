"""Decode-step time of one serving engine while another process uses the same GPU (issue 16).

The cold-start validation found the testbed's decode steps slower than slsim's at keep-alive
30/300 s even where no other model served, and counting other instances' start-ups as full
sharers of the card (processor sharing) was refuted by the keep-alive 0 run. This measures the
candidates directly: engine A (default opt-1.3b, CUDA graphs) decodes batch 1 and batch 8 at
context 512 for a few seconds in each of these conditions, B being a second process:
  alone     nothing else on the GPU
  idle      B holds a CUDA context and sleeps
  cpu       B is 8 processes spinning in Python (CPU contention, no GPU)
  startup   B starts engines of --beside (compile, graph capture) one after another
  decode    B decodes --beside at batch 8, context 512, back to back
Writes per condition the median, p10 and p90 of A's step wall time (host sync after each step,
as a serving loop does) and B's own step time in `decode`.
usage: python3 kernels/testbed/contention.py --out contention.json [--model M] [--beside M] [--seconds S]
"""
import argparse
import json
import multiprocessing as mp
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

CONTEXT = 512


def _engine(name, kv_blocks):
    from engine import start_engine  # imported in the child: CUDA must start after spawn
    e, startup = start_engine(name, "compile", capture_sizes=[1, 8], prefill_buckets=[], max_model_len=2048,
                              gpu_memory_utilization=0.95, kv_blocks=kv_blocks)
    return e, startup


def _sequences(e, batch, first_id):
    from scheduling import Sequence
    seqs = []
    for i in range(batch):
        s = Sequence(first_id + i, CONTEXT, max_new_tokens=1 << 30)
        e.blocks.allocate(s.seq_id, CONTEXT)
        s.generated = 1
        e.blocks.append(s.seq_id, s.context)
        seqs.append(s)
    return seqs


def _spin(stop):
    while not stop.is_set():
        sum(range(10000))


def background(kind, beside, stop, ready, result):
    if kind == "idle":
        import torch
        torch.zeros(1, device="cuda")
        ready.set()
        stop.wait()
        return
    if kind == "cpu":
        ctx = mp.get_context("spawn")
        procs = [ctx.Process(target=_spin, args=(stop,)) for _ in range(8)]
        for p in procs:
            p.start()
        ready.set()
        for p in procs:
            p.join()
        return
    if kind == "startup":
        ready.set()
        starts = []
        while not stop.is_set():
            e, startup = _engine(beside, 64)
            starts.append(startup)
            e.release()
            del e
        result.put({"startups": len(starts)})
        return
    if kind == "decode":
        e, _ = _engine(beside, 300)
        seqs = _sequences(e, 8, 0)
        e.decode(seqs)
        ready.set()
        steps = []
        while not stop.is_set():
            t0 = time.perf_counter()
            e.decode(seqs)
            steps.append((time.perf_counter() - t0) * 1e3)
        result.put({"beside_step_ms_p50": sorted(steps)[len(steps) // 2], "beside_steps": len(steps)})
        return
    raise ValueError(kind)


def quantiles(values):
    v = sorted(values)
    return {"p10": v[len(v) // 10], "p50": v[len(v) // 2], "p90": v[(len(v) * 9) // 10], "steps": len(v)}


def measure(e, seqs_by_batch, seconds):
    out = {}
    for batch, seqs in seqs_by_batch.items():
        e.decode(seqs)
        steps = []
        end = time.perf_counter() + seconds / len(seqs_by_batch)
        while time.perf_counter() < end:
            t0 = time.perf_counter()
            e.decode(seqs)
            steps.append((time.perf_counter() - t0) * 1e3)
        out[f"batch{batch}"] = quantiles(steps)
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", required=True)
    ap.add_argument("--model", default="opt-1.3b")
    ap.add_argument("--beside", default="opt-6.7b")
    ap.add_argument("--seconds", type=float, default=6.0)
    ap.add_argument("--conditions", default="alone,idle,cpu,startup,decode")
    args = ap.parse_args()
    from engine import environment
    e, startup = _engine(args.model, 300)
    seqs_by_batch = {1: _sequences(e, 1, 0), 8: _sequences(e, 8, 100)}
    doc = {"environment": environment(" ".join(sys.argv)), "model": args.model, "beside": args.beside,
           "context_tokens": CONTEXT, "seconds_per_condition": args.seconds, "startup": startup, "conditions": {}}
    ctx = mp.get_context("spawn")
    for kind in args.conditions.split(","):
        t0 = time.time()
        if kind == "alone":
            doc["conditions"][kind] = measure(e, seqs_by_batch, args.seconds)
        else:
            stop, ready, result = ctx.Event(), ctx.Event(), ctx.Queue()
            proc = ctx.Process(target=background, args=(kind, args.beside, stop, ready, result))
            proc.start()
            ready.wait(timeout=300)
            time.sleep(1.0 if kind != "startup" else 3.0)  # a start-up's first seconds are imports
            doc["conditions"][kind] = measure(e, seqs_by_batch, args.seconds)
            stop.set()
            proc.join(timeout=180)
            if not result.empty():
                doc["conditions"][kind].update(result.get())
        c = doc["conditions"][kind]
        print(f"{kind:8s} batch1 p50 {c['batch1']['p50']:.3f} ms p90 {c['batch1']['p90']:.3f}  "
              f"batch8 p50 {c['batch8']['p50']:.3f} ms p90 {c['batch8']['p90']:.3f}  ({time.time() - t0:.0f} s)",
              flush=True)
        with open(args.out, "w") as f:
            json.dump(doc, f, indent=1)


if __name__ == "__main__":
    main()
