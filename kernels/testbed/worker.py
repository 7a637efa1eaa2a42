#!/usr/bin/env python3
"""One serverless instance of the testbed: a fresh process that starts an engine through
timed phases, loads its checkpoint from the tier the controller names, then serves
requests with continuous batching until told to stop.

Protocol (one JSON object a line): the controller writes requests
  {"op": "request", "id": 3, "arrival_s": <wall clock>, "input_tokens": 812, "output_tokens": 40}
and {"op": "stop"} on stdin; the worker writes on stdout
  {"event": "phase", "phase": "import_torch", "t": <wall clock>}   after each phase
  {"event": "ready", "t": ..., "info": {...}}
  {"event": "done", "id": 3, "received_s": ..., "prefill_start_s": ..., "first_token_s": ...,
   "last_token_s": ..., "preemptions": 0}
(received_s: the request's line read; prefill_start_s: its first prefill step began)
  {"event": "error", "message": "..."}
Wall clock: time.time(), the controller's clock too (one host).

Phases, each stamped when it ends (the controller stamps the launch):
  interpreter    fork/exec + Python start            import_torch  `import torch` + engine module
  cuda_context   first CUDA call                     engine_setup  Engine object, weight buffer
  kv_reserve     the KV cache (a fixed byte budget, so that several instances share the GPU)
  load           checkpoint -> GPU weights: chunked reads into a pinned pool of 32 MiB chunks,
                 each copied to the GPU on one of 2 streams as soon as it is read
                 (startup_phases.load_file: the design of kernels/loader sllm_fast in Python);
                 tier "ssd": the local-disk file with O_DIRECT, each chunk also written to
                 `--cache-to` (the host's DRAM cache) when given; tier "dram": the checkpoint in
                 the host's DRAM cache (a tmpfs file), same pipeline
  compile        torch.compile of the fused elementwise ops (inductor cache as found)
  graph_capture  prefill CUDA graphs at padded token counts, decode graphs at vLLM's batch sizes
  warm_up        one 128-token request of 2 tokens

`--fake` runs the same protocol and scheduler without PyTorch or a GPU (sleeps stand for the
phases and steps), for testing the controller on any machine.
"""
import time

T_CHILD_START = time.time()

import argparse  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import queue  # noqa: E402
import sys  # noqa: E402
import threading  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

_out_lock = threading.Lock()


def emit(obj):
    with _out_lock:
        sys.stdout.write(json.dumps(obj) + "\n")
        sys.stdout.flush()


def phase(name):
    emit({"event": "phase", "phase": name, "t": time.time()})


def read_commands(inbox):
    for line in sys.stdin:
        line = line.strip()
        if line:
            cmd = json.loads(line)
            cmd["received_s"] = time.time()
            inbox.put(cmd)
    inbox.put({"op": "stop"})  # the controller went away


class FakeEngine:
    """Stands in for engine.Engine in --fake mode: the real scheduler and block manager,
    sleeps for the device work (prefill 0.05 ms a token + 2 ms, decode 5 ms a step)."""

    def __init__(self):
        from scheduling import BlockManager
        self.blocks = BlockManager(4096, 16)

    def step(self, scheduler, now_fn):
        step = scheduler.schedule()
        if step is None:
            return None, []
        if step.kind == "prefill":
            time.sleep(0.002 + 0.00005 * sum(s.context for s in step.seqs))
        else:
            time.sleep(0.005)
        return step, scheduler.complete(step, now_fn())


def start_fake(args):
    import shutil
    phase("import_torch")
    for name in ("cuda_context", "engine_setup", "kv_reserve", "load", "compile", "graph_capture", "warm_up"):
        time.sleep(args.fake_phase_s)
        if name == "load" and args.cache_to:
            shutil.copyfile(args.ckpt, args.cache_to + ".tmp")
            os.replace(args.cache_to + ".tmp", args.cache_to)
        phase(name)
    return FakeEngine(), {"fake": True}


def start_real(args):
    import torch
    import engine as eng
    import startup_phases
    phase("import_torch")
    torch.empty(1, device="cuda")
    torch.cuda.synchronize()
    phase("cuda_context")
    torch._dynamo.config.cache_size_limit = 64
    info = {}
    with torch.inference_mode():
        e = eng.Engine(args.model, fuse=args.fuse, max_model_len=args.max_model_len,
                       kv_blocks=max(2, args.kv_bytes // kv_block_bytes(eng, args.model)))
        e.allocate_weights()
        torch.cuda.synchronize()
        phase("engine_setup")
        info["kv_blocks"] = e.allocate_kv_cache()
        torch.cuda.synchronize()
        phase("kv_reserve")
        t0 = time.time()
        pool = torch.empty(startup_phases.POOL_CHUNKS * startup_phases.CHUNK, dtype=torch.uint8, pin_memory=True)
        info["pinned_pool_alloc_s"] = time.time() - t0
        tee = args.cache_to + ".tmp" if args.cache_to else None
        info["read_mode"] = startup_phases.load_file(torch, args.ckpt, e.w.flat.view(torch.uint8), pool, tee)
        if tee:
            os.replace(tee, args.cache_to)
        del pool
        e.w.reset_norms()
        torch.cuda.synchronize()
        phase("load")
        e.warm_up_ops()
        phase("compile")
        e.capture_graphs()
        phase("graph_capture")
        from scheduling import Scheduler, Sequence
        sched = Scheduler(e.blocks)
        sched.add(Sequence(-1, 128, max_new_tokens=2))
        while sched.has_work():
            e.step(sched, time.time)
        torch.cuda.synchronize()
    phase("warm_up")
    info.update({"fuse": e.ops.fuse, "weight_bytes": e.w.bytes, "kv_cache_bytes": e.kv_cache_bytes,
                 "captured_batch_sizes": len(e.graphs), "gpu_memory_used_bytes": torch.cuda.memory_reserved()})
    info.update(e.timings)
    return e, info


def kv_block_bytes(eng, model):
    a = eng.load_arch(model)
    return 2 * a["layers"] * a["kv_heads"] * eng.BLOCK_SIZE * a["head_dim"] * 2


def serve(engine, args):
    from scheduling import Scheduler, Sequence
    import contextlib
    sched = Scheduler(engine.blocks)
    inbox = queue.Queue()
    threading.Thread(target=read_commands, args=(inbox,), daemon=True).start()
    stopping = False
    # Every step as [start_s, end_s, kind, sequences, their context after the step], sent once at
    # the end (one message per step would add its JSON to the step times it measures).
    steps = []
    mode = contextlib.nullcontext()
    if not args.fake:
        import torch
        mode = torch.inference_mode()
    with mode:
        while True:
            block = not sched.has_work() and not stopping
            try:
                while True:
                    cmd = inbox.get(timeout=0.5) if block else inbox.get_nowait()
                    block = False
                    if cmd["op"] == "stop":
                        stopping = True
                    elif cmd["op"] == "request":
                        seq = Sequence(cmd["id"], cmd["input_tokens"], cmd["output_tokens"],
                                       arrival_s=cmd["arrival_s"], received_s=cmd["received_s"])
                        sched.add(seq)
            except queue.Empty:
                pass
            if stopping and not sched.has_work():
                emit({"event": "steps", "steps": steps})
                return
            if not sched.has_work():
                continue
            step_start = time.time()
            step, done = engine.step(sched, time.time)
            if step is not None:
                steps.append([step_start, time.time(), step.kind, len(step.seqs), sum(s.context for s in step.seqs)])
            if step is not None and step.kind == "prefill":
                for s in step.seqs:
                    if s.prefill_start_s is None:
                        s.prefill_start_s = step_start
            for s in done:
                emit({"event": "done", "id": s.seq_id, "received_s": s.received_s, "prefill_start_s": s.prefill_start_s,
                      "first_token_s": s.first_token_s, "last_token_s": s.last_token_s, "preemptions": s.preemptions})


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True)
    ap.add_argument("--ckpt", help="checkpoint image (the tier is where this file lies)")
    ap.add_argument("--cache-to", help="also write the checkpoint here while loading it (the DRAM cache's file)")
    ap.add_argument("--kv-bytes", type=int, default=8 << 30)
    ap.add_argument("--fuse", default="compile", choices=["compile", "none"])
    ap.add_argument("--max-model-len", type=int, default=4096)
    ap.add_argument("--fake", action="store_true")
    ap.add_argument("--fake-phase-s", type=float, default=0.05)
    args = ap.parse_args()
    emit({"event": "phase", "phase": "interpreter", "t": T_CHILD_START})
    try:
        engine, info = start_fake(args) if args.fake else start_real(args)
        emit({"event": "ready", "t": time.time(), "info": info})
        serve(engine, args)
    except Exception as exc:  # noqa: BLE001 - reported to the controller, then a non-zero exit
        import traceback
        emit({"event": "error", "message": repr(exc)[:2000], "traceback": traceback.format_exc()[-4000:]})
        sys.exit(1)


if __name__ == "__main__":
    main()
