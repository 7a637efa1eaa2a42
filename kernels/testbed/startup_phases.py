#!/usr/bin/env python3
"""Measures a serving instance's start-up phases, one fresh process per measurement.

The parent writes a checkpoint image of the model's weight bytes to local disk, drops the
page cache, records the wall clock and starts `python3 startup_phases.py --child ...`;
the child stamps the wall clock after each phase and prints them as JSON:
  interpreter      launch -> first line of the child (fork/exec + Python start)
  import_torch     `import torch` (and the engine module)
  cuda_context     first CUDA call (context creation)
  allocate_weights the model's flat weight buffer (cudaMalloc)
  allocate_kv      KV cache at gpu_memory_utilization 0.9 (torch.zeros, as vLLM v0)
  load_pinned      weights copied from a pinned host buffer (the DRAM-cache tier; the
                   buffer's allocation is timed separately, `pinned_host_alloc_s`: a
                   long-lived store holds it, not the instance)
  load_file        weights read from the local file, cold page cache: 4 threads of O_DIRECT
                   preadv into a pinned pool of 32 MiB chunks, each chunk copied to the GPU
                   on one of 2 streams as soon as it is read (the design of the project's
                   loader, kernels/loader sllm_fast, in Python; pool allocation timed apart)
  compile_ops      torch.compile of the fused elementwise ops (inductor cache as found)
  graph_capture    decode CUDA graphs at vLLM's 35 batch sizes (1, 2, 4, 8, ..., 256)
  warm_up          one 128-token prefill and one decode step of a request
The parent records the child's exit. Writes one JSON file with every run, and per model
and phase the median and spread over repeats.

usage: startup_phases.py --out FILE [--models opt-1.3b,opt-6.7b,llama-3.1-8b] [--repeats 3]
                         [--ckpt-dir /var/tmp/slsim_testbed] [--fuse compile|none]
"""
import time

T_CHILD_START = time.time()

import argparse  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import queue  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import threading  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
PHASES = ["interpreter", "import_torch", "cuda_context", "allocate_weights", "allocate_kv", "load_pinned",
          "load_file", "compile_ops", "graph_capture", "warm_up"]
CHUNK = 32 << 20
POOL_CHUNKS = 32
IO_THREADS = 4
COPY_STREAMS = 2


def load_file(torch, path, dst, pool, tee_path=None):
    """Chunked O_DIRECT read of `path` into the pinned `pool`, each chunk copied into the
    device byte tensor `dst` as soon as it is read. With `tee_path`, each chunk is also
    written there from the pinned pool (the host's DRAM cache filled by the load itself, as
    ServerlessLLM's loader stages a checkpoint through its pinned DRAM pool; no second read
    of the disk). Returns how the file was read."""
    size = dst.numel()
    try:
        fd = os.open(path, os.O_RDONLY | os.O_DIRECT)
        mode = "O_DIRECT"
    except OSError:
        fd = os.open(path, os.O_RDONLY)
        mode = "buffered (O_DIRECT refused)"
    host = pool.numpy()
    tee_fd = None
    if tee_path:
        tee_fd = os.open(tee_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        os.ftruncate(tee_fd, (size + 4095) // 4096 * 4096)  # padded like the disk image
    offsets = list(range(0, size, CHUNK))
    free, ready = queue.Queue(), queue.Queue()
    for slot in range(POOL_CHUNKS):
        free.put((slot, None))
    next_index = [0]
    lock = threading.Lock()
    errors = []

    def reader():
        try:
            while True:
                with lock:
                    idx = next_index[0]
                    next_index[0] += 1
                if idx >= len(offsets):
                    return
                slot, event = free.get()
                if event is not None:
                    event.synchronize()  # the chunk's copy to the GPU is done
                off = offsets[idx]
                n = min(CHUNK, size - off)
                aligned = (n + 4095) // 4096 * 4096  # the file is padded to 4 KiB
                got = os.preadv(fd, [memoryview(host[slot * CHUNK:slot * CHUNK + aligned])], off)
                if got < n:
                    raise IOError(f"short read at {off}: {got} of {n} bytes")
                if tee_fd is not None:
                    os.pwrite(tee_fd, memoryview(host[slot * CHUNK:slot * CHUNK + n]), off)
                ready.put((idx, slot, n))
        except Exception as exc:  # noqa: BLE001 - reported by the copying thread
            errors.append(exc)
            ready.put(None)

    threads = [threading.Thread(target=reader) for _ in range(IO_THREADS)]
    for t in threads:
        t.start()
    streams = [torch.cuda.Stream() for _ in range(COPY_STREAMS)]
    for k in range(len(offsets)):
        item = ready.get()
        if item is None:
            break
        idx, slot, n = item
        s = streams[k % COPY_STREAMS]
        with torch.cuda.stream(s):
            off = offsets[idx]
            dst[off:off + n].copy_(pool[slot * CHUNK:slot * CHUNK + n], non_blocking=True)
            event = torch.cuda.Event()
            event.record(s)
        free.put((slot, event))
    for t in threads:
        t.join()
    os.close(fd)
    if tee_fd is not None:
        os.close(tee_fd)
    if errors:
        raise errors[0]
    torch.cuda.synchronize()
    return mode


def child(args):
    stamps = {"child_start": T_CHILD_START}
    import torch
    import engine as eng
    stamps["import_torch"] = time.time()
    torch.empty(1, device="cuda")
    torch.cuda.synchronize()
    stamps["cuda_context"] = time.time()
    torch._dynamo.config.cache_size_limit = 64
    info = {}
    with torch.inference_mode():
        e = eng.Engine(args.child, fuse=args.fuse, max_model_len=args.max_model_len)
        e.allocate_weights()
        torch.cuda.synchronize()
        stamps["allocate_weights"] = time.time()
        info["kv_blocks"] = e.allocate_kv_cache()
        torch.cuda.synchronize()
        stamps["allocate_kv"] = time.time()
        dst = e.w.flat.view(torch.uint8)
        t0 = time.time()
        host = torch.empty(dst.numel(), dtype=torch.uint8, pin_memory=True)
        pool = torch.empty(POOL_CHUNKS * CHUNK, dtype=torch.uint8, pin_memory=True)
        info["pinned_host_alloc_s"] = time.time() - t0
        t0 = time.time()
        dst.copy_(host, non_blocking=True)
        torch.cuda.synchronize()
        stamps["load_pinned"] = time.time()
        del host
        info["file_read_mode"] = load_file(torch, args.ckpt, dst, pool)
        stamps["load_file"] = time.time()
        del pool
        e.warm_up_ops()
        stamps["compile_ops"] = time.time()
        info["fuse"] = e.ops.fuse
        info.update(e.timings)
        e.capture_graphs()
        stamps["graph_capture"] = time.time()
        seq = eng.Sequence(0, 128, max_new_tokens=2)
        sched = eng.Scheduler(e.blocks)
        sched.add(seq)
        while sched.has_work():
            e.step(sched, time.time)
        torch.cuda.synchronize()
        stamps["warm_up"] = time.time()
    info["weight_bytes"] = e.w.bytes
    info["kv_cache_bytes"] = e.kv_cache_bytes
    info["captured_batch_sizes"] = sorted(e.graphs)
    print(json.dumps({"stamps": stamps, "info": info}), flush=True)


def weight_bytes_block(nbytes, seed=0):
    """`nbytes` of bf16 values drawn from normal(0, 0.02), the engine's random weights
    (Weights.init_random). Random bytes read as bf16 hold a NaN or infinity in one value of 256,
    so a model loaded from them computed on NaN from its first GEMM on: the testbed's instances
    served on NaN until 2026-12-07 (runs 1-6), where the engine's step measurements use normal
    weights; the GPU's power and clocks depend on the values it multiplies (METHOD.md)."""
    import numpy as np
    values = np.random.default_rng(seed).standard_normal(nbytes // 2, dtype=np.float32) * np.float32(0.02)
    return (values.view(np.uint32) >> 16).astype(np.uint16).tobytes()


def write_checkpoint(path, nbytes):
    block = weight_bytes_block(64 << 20)
    padded = (nbytes + 4095) // 4096 * 4096
    with open(path, "wb") as f:
        left = padded
        while left > 0:
            left -= f.write(block[:min(left, len(block))])
        f.flush()
        os.fsync(f.fileno())


def evict_from_page_cache(path):
    """Takes one file's pages out of the page cache, leaving everything else cached. Dropping the
    whole cache (drop_caches) also evicted Python, torch and the inductor cache, so the first
    start-up after it read them from a disk that a neighbour's checkpoint load kept busy: the
    testbed's first instance took 5-6 s longer than every later one (import torch +1.4 s,
    torch.compile +3.7 s; controller runs of 2026-12-05), a cold host rather than a cold start.
    A serving host keeps its software in memory; only the checkpoint must come from disk."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return False
    try:
        os.fsync(fd)
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        return True
    except OSError:
        return False
    finally:
        os.close(fd)


def summarize(runs):
    out = {}
    for phase in PHASES + ["total_pinned_path", "total_file_path", "process_exit_after_warm_up"]:
        vals = [r["phases_s"][phase] for r in runs if phase in r["phases_s"]]
        if vals:
            out[phase] = {"median_s": statistics.median(vals), "min_s": min(vals), "max_s": max(vals),
                          "runs_s": vals}
    return out


def parent(args):
    import torch  # the parent only reads the environment and the weight size
    import engine as eng
    env = eng.environment(" ".join(["python3"] + sys.argv))
    os.makedirs(args.ckpt_dir, exist_ok=True)
    models = []
    for name in args.models.split(","):
        nbytes = sum(2 * ((int(torch.Size(s).numel()) + 127) // 128 * 128) for _, s in eng.weight_spec(eng.load_arch(name)))
        path = os.path.join(args.ckpt_dir, name + ".bin")
        t0 = time.time()
        write_checkpoint(path, nbytes)
        write_s = time.time() - t0
        runs = []
        for r in range(args.repeats):
            evicted = evict_from_page_cache(path)
            launch = time.time()
            proc = subprocess.run([sys.executable, os.path.abspath(__file__), "--child", name, "--ckpt", path,
                                   "--fuse", args.fuse, "--max-model-len", str(args.max_model_len)],
                                  capture_output=True, text=True)
            exit_t = time.time()
            if proc.returncode != 0:
                print(proc.stdout[-3000:], proc.stderr[-5000:], file=sys.stderr)
                raise SystemExit(f"{name} run {r}: child exited {proc.returncode}")
            rec = json.loads(proc.stdout.strip().splitlines()[-1])
            st = rec["stamps"]
            st["launch"] = launch
            prev = launch
            phases = {}
            order = ["child_start"] + PHASES[1:]
            for phase, key in zip(PHASES, order):
                phases[phase] = st[key] - prev
                prev = st[key]
            # The two loading tiers are alternatives: each total leaves the other one out.
            # The pinned buffers' allocation falls between the two stamps; a long-lived store owns it.
            phases["load_pinned"] -= rec["info"]["pinned_host_alloc_s"]
            phases["total_pinned_path"] = st["warm_up"] - launch - phases["load_file"]
            phases["total_file_path"] = st["warm_up"] - launch - phases["load_pinned"]
            phases["process_exit_after_warm_up"] = exit_t - st["warm_up"]
            run = {"repeat": r, "checkpoint_evicted_from_page_cache": evicted, "phases_s": phases, "info": rec["info"]}
            runs.append(run)
            print(f"{name} run {r}: " + " ".join(f"{k} {v:.3f}" for k, v in phases.items()), flush=True)
        os.remove(path)
        gb = nbytes / 1e9
        s = summarize(runs)
        models.append({"model": name, "weight_bytes": nbytes, "checkpoint_write_s": write_s,
                       "load_file_GBps_median": gb / s["load_file"]["median_s"],
                       "load_pinned_GBps_median": gb / s["load_pinned"]["median_s"],
                       "summary": s, "runs": runs})
        write_doc(args, env, models)


def write_doc(args, env, models):
    """Written after each model, so that a run stopped at its time limit keeps what it measured."""
    doc = {"program": "kernels/testbed/startup_phases.py", "environment": env,
           "config": {"phases": PHASES, "repeats": args.repeats, "fuse": args.fuse,
                      "max_model_len": args.max_model_len, "gpu_memory_utilization": 0.9,
                      "file_loader": f"Python equivalent of kernels/loader sllm_fast: {IO_THREADS} O_DIRECT readers, "
                                     f"pinned pool of {POOL_CHUNKS} x {CHUNK >> 20} MiB chunks, "
                                     f"{COPY_STREAMS} copy streams, one device buffer",
                      "clock": "time.time() in parent and child (same host clock); the first phase starts in the "
                               "parent just before subprocess.run",
                      "page_cache": "before each run the checkpoint's pages are evicted (posix_fadvise "
                                    "DONTNEED); Python, torch and the inductor cache stay cached, as on a serving host",
                      "inductor_cache": "as found: the first run of the first model may compile, later runs "
                                        "read the cache"},
           "models": models}
    with open(args.out + ".tmp", "w") as f:
        json.dump(doc, f, indent=1)
    os.replace(args.out + ".tmp", args.out)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out")
    ap.add_argument("--models", default="opt-1.3b,opt-6.7b,llama-3.1-8b")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--ckpt-dir", default="/var/tmp/slsim_testbed")
    ap.add_argument("--fuse", default="compile", choices=["compile", "none"])
    ap.add_argument("--max-model-len", type=int, default=4096)
    ap.add_argument("--child")
    ap.add_argument("--ckpt")
    args = ap.parse_args()
    sys.path.insert(0, HERE)
    if args.child:
        child(args)
    elif args.out:
        parent(args)
    else:
        ap.error("--out is required")


if __name__ == "__main__":
    main()
