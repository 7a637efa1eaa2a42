#!/usr/bin/env python3
"""The serverless testbed's controller: replays a canonical-CSV trace in real time against
instances that are real processes (worker.py) on one GPU.

A request goes to its model's ready instance; when the model has none, it waits for the one
starting, or starts one (a cold start: a fresh worker process, which loads the checkpoint
from the host's DRAM cache when the cache holds it, else from the local-disk file). An idle
instance is released after a fixed keep-alive (`--ttl-s`). A checkpoint enters the DRAM cache
(a tmpfs file, LRU within `--dram-cache-gb`) when an instance has loaded it from disk: the
worker writes each chunk there as it passes through its pinned pool, as ServerlessLLM's
loader stages checkpoints through its pinned DRAM pool and keeps them (slsim:
keep_checkpoint_in_dram, dram_cache lru).

Writes one JSON file: per request arrival / sent to the instance / read by it / first prefill
step began / first token / last token (wall clock relative to the replay's start) and whether
it waited for a cold start; per instance the launch, every phase stamp, ready, release and
exit; the environment and the command.

usage: controller.py --trace T.csv --ttl-s 30 --out run.json [--kv-gb 8] [--disk-dir D]
                     [--dram-dir /dev/shm/slsim_testbed] [--dram-cache-gb 64] [--fake]
"""
import argparse
import datetime
import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)

from model_shapes import flat_buffer_bytes, load_arch  # noqa: E402
from serverless import DramCache, Fleet, read_canonical_trace, request_metrics  # noqa: E402
from startup_phases import evict_from_page_cache, write_checkpoint  # noqa: E402

# The checkpoint image's file name says what it holds (write_checkpoint's normal bf16 weights): an
# image of another kind left on a warm machine (random bytes before 2026-12-07) is never reused.
IMAGE_SUFFIX = ".normal-bf16.bin"

PHASES = ["interpreter", "import_torch", "cuda_context", "engine_setup", "kv_reserve", "load", "compile",
          "graph_capture", "warm_up"]


def checkpoint_bytes(model):
    return flat_buffer_bytes(load_arch(model))


class Controller:
    def __init__(self, args, requests):
        self.args = args
        self.requests = requests
        self.fleet = Fleet(args.ttl_s)
        self.cache = DramCache(int(args.dram_cache_gb * 1e9))
        self.events = queue.Queue()
        self.procs = {}  # instance id -> Popen
        self.records = {r.request_id: {"id": r.request_id, "model": r.model, "input_tokens": r.input_tokens,
                                       "output_tokens": r.output_tokens, "arrival_s": r.arrival_s,
                                       "sent_s": None, "received_s": None, "prefill_start_s": None,
                                       "first_token_s": None, "last_token_s": None, "cold": False,
                                       "instance": None} for r in requests}
        self.inst_records = {}
        self.sizes = {m: checkpoint_bytes(m) for m in sorted({r.model for r in requests})}
        self.t0 = None

    def now(self):
        return time.time() - self.t0

    # -- checkpoints
    def disk_path(self, model):
        return os.path.join(self.args.disk_dir, model + IMAGE_SUFFIX)

    def dram_path(self, model):
        return os.path.join(self.args.dram_dir, model + IMAGE_SUFFIX)

    def prepare(self):
        os.makedirs(self.args.disk_dir, exist_ok=True)
        os.makedirs(self.args.dram_dir, exist_ok=True)
        prep = {}
        for model, nbytes in self.sizes.items():
            t = time.time()
            file_bytes = (1 << 20) if self.args.fake else nbytes  # fake workers read nothing
            if not (os.path.exists(self.disk_path(model)) and
                    os.path.getsize(self.disk_path(model)) == (file_bytes + 4095) // 4096 * 4096):
                write_checkpoint(self.disk_path(model), file_bytes)
            if os.path.exists(self.dram_path(model)):
                os.remove(self.dram_path(model))
            evicted = False if self.args.fake else evict_from_page_cache(self.disk_path(model))
            prep[model] = {"checkpoint_bytes": nbytes, "write_s": time.time() - t,
                           "checkpoint_evicted_from_page_cache": evicted}
        return prep

    def cache_after_load(self, model):
        """The worker wrote the checkpoint into the DRAM cache's file while loading it from disk:
        the cache holds it now (least recently used ones leave to make room)."""
        for victim in self.cache.insert(model, self.sizes[model]):
            os.remove(self.dram_path(victim))

    # -- instances
    def launch(self, inst):
        tier = "dram" if self.cache.holds(inst.model) else "ssd"
        self.cache.touch(inst.model)
        inst.tier = tier
        ckpt = self.dram_path(inst.model) if tier == "dram" else self.disk_path(inst.model)
        cmd = [sys.executable, os.path.join(HERE, "worker.py"), "--model", inst.model, "--ckpt", ckpt,
               "--kv-bytes", str(int(self.args.kv_gb * 1e9)), "--fuse", self.args.fuse]
        inst.fills_cache = tier == "ssd" and self.sizes[inst.model] <= self.cache.capacity_bytes
        if inst.fills_cache:
            cmd += ["--cache-to", self.dram_path(inst.model)]
        if self.args.fake:
            cmd.append("--fake")
        launched = time.time()
        proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True, bufsize=1)
        self.procs[inst.instance_id] = proc
        self.inst_records[inst.instance_id] = {"instance": inst.instance_id, "model": inst.model, "tier": tier,
                                               "launch_s": launched - self.t0, "stamps_s": {}, "ready_s": None,
                                               "released_s": None, "exit_s": None, "returncode": None,
                                               "requests": 0}
        threading.Thread(target=self.read_worker, args=(inst, proc), daemon=True).start()
        threading.Thread(target=self.drain_stderr, args=(inst, proc), daemon=True).start()

    def read_worker(self, inst, proc):
        for line in proc.stdout:
            try:
                msg = json.loads(line)
            except ValueError:
                continue
            self.events.put(("msg", inst, msg))
        proc.wait()
        self.events.put(("exit", inst, proc.returncode, time.time()))

    def drain_stderr(self, inst, proc):
        tail = []
        for line in proc.stderr:
            tail = (tail + [line])[-40:]
        self.inst_records[inst.instance_id]["stderr_tail"] = "".join(tail)[-4000:]

    def send(self, inst, request):
        rec = self.records[request.request_id]
        rec["instance"] = inst.instance_id
        self.inst_records[inst.instance_id]["requests"] += 1
        msg = {"op": "request", "id": request.request_id, "arrival_s": self.t0 + request.arrival_s,
               "input_tokens": request.input_tokens, "output_tokens": request.output_tokens}
        rec["sent_s"] = self.now()
        self.write(inst, msg)

    def write(self, inst, msg):
        try:
            self.procs[inst.instance_id].stdin.write(json.dumps(msg) + "\n")
            self.procs[inst.instance_id].stdin.flush()
        except (BrokenPipeError, OSError):
            pass  # the exit event reports it

    def release(self, inst):
        self.inst_records[inst.instance_id]["released_s"] = self.now()
        self.write(inst, {"op": "stop"})
        try:
            self.procs[inst.instance_id].stdin.close()
        except OSError:
            pass

    # -- events
    def handle(self, event):
        kind = event[0]
        if kind == "msg":
            _, inst, msg = event
            rec = self.inst_records[inst.instance_id]
            if msg["event"] == "phase":
                rec["stamps_s"][msg["phase"]] = msg["t"] - self.t0
            elif msg["event"] == "ready":
                rec["ready_s"] = msg["t"] - self.t0
                rec["info"] = msg.get("info", {})
                if inst.fills_cache:
                    self.cache_after_load(inst.model)
                for request in self.fleet.ready(inst, self.now()):
                    self.send(inst, request)
            elif msg["event"] == "done":
                r = self.records[msg["id"]]
                for key in ("received_s", "prefill_start_s", "first_token_s", "last_token_s"):
                    r[key] = msg[key] - self.t0 if msg.get(key) is not None else None
                r["preemptions"] = msg.get("preemptions", 0)
                self.fleet.finished(inst, self.now())
            elif msg["event"] == "steps":
                rec["steps"] = [[round(start - self.t0, 6), round(end - self.t0, 6), kind, seqs, context]
                                for start, end, kind, seqs, context in msg["steps"]]
            elif msg["event"] == "error":
                rec["error"] = msg
        elif kind == "exit":
            _, inst, code, t = event
            rec = self.inst_records[inst.instance_id]
            rec["exit_s"], rec["returncode"] = t - self.t0, code
            if inst.state != "stopping" or code != 0:
                for request in self.fleet.failed(inst):
                    self.records[request.request_id]["failed"] = f"instance {inst.instance_id} exited {code}"
            inst.state = "exited"
        elif kind == "wake":
            pass

    def stop_soon(self, *_):
        """SIGTERM: end the replay now, release the instances and write what was measured."""
        self.deadline = 0
        self.events.put(("wake",))

    def run(self):
        prep = self.prepare()
        self.t0 = time.time()
        self.deadline = self.t0 + self.args.deadline_s
        pending = list(self.requests)
        i = 0
        while True:
            now = self.now()
            while i < len(pending) and pending[i].arrival_s <= now:
                r = pending[i]
                action, inst = self.fleet.route(r, now, None)
                self.records[r.request_id]["cold"] = action != "send"
                if action == "send":
                    self.send(inst, r)
                elif action == "start":
                    self.launch(inst)
                i += 1
            for inst in self.fleet.expired(self.now()):
                self.release(inst)
            all_arrived = i >= len(pending)
            outstanding = any(rec["last_token_s"] is None and "failed" not in rec for rec in self.records.values())
            if all_arrived and not outstanding:
                break
            if time.time() > self.deadline:
                print("controller: deadline reached, stopping", file=sys.stderr, flush=True)
                break
            wake = [self.deadline - self.t0]
            if i < len(pending):
                wake.append(pending[i].arrival_s)
            expiry = self.fleet.next_expiry_s()
            if expiry is not None:
                wake.append(expiry)
            try:
                self.handle(self.events.get(timeout=max(0.0, min(wake) - self.now())))
                while True:
                    self.handle(self.events.get_nowait())
            except queue.Empty:
                pass
        end_of_replay = self.now()
        # The trace is over: release what is still held (not a keep-alive expiry) and wait for exits.
        for inst in list(self.fleet.live.values()):
            inst.state = "stopping"
            self.release(inst)
        self.fleet.live.clear()
        stop_by = time.time() + 60
        while any(p.poll() is None for p in self.procs.values()) and time.time() < stop_by:
            try:
                self.handle(self.events.get(timeout=0.5))
            except queue.Empty:
                pass
        for iid, p in self.procs.items():
            if p.poll() is None:
                p.kill()
                self.inst_records[iid]["killed"] = True
        try:
            while True:
                self.handle(self.events.get(timeout=0.2))
        except queue.Empty:
            pass
        return prep, end_of_replay


def phases_of(rec):
    """Seconds of each phase, from the launch and the stamps (a missing stamp ends the list)."""
    out, prev = {}, rec["launch_s"]
    for p in PHASES:
        if p not in rec["stamps_s"]:
            break
        out[p] = rec["stamps_s"][p] - prev
        prev = rec["stamps_s"][p]
    if rec["ready_s"] is not None:
        out["launch_to_ready"] = rec["ready_s"] - rec["launch_s"]
    if rec["exit_s"] is not None and rec["released_s"] is not None:
        out["release_to_exit"] = rec["exit_s"] - rec["released_s"]
    return out


def environment(command):
    env = {"date_utc": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
           "command": command, "python": sys.version.split()[0], "host_cpus": os.cpu_count()}
    try:
        q = subprocess.run(["nvidia-smi", "--query-gpu=name,driver_version,memory.total", "--format=csv,noheader"],
                           capture_output=True, text=True, check=True, timeout=20).stdout.strip().split(", ")
        env.update({"gpu": q[0], "driver": q[1], "gpu_memory": q[2]})
    except (OSError, subprocess.SubprocessError, IndexError):
        env["gpu"] = "none"
    return env


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--trace", required=True)
    ap.add_argument("--ttl-s", type=float, required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--kv-gb", type=float, default=8.0, help="KV cache of each instance, GB")
    ap.add_argument("--disk-dir", default="/var/tmp/slsim_testbed_ctl")
    ap.add_argument("--dram-dir", default="/dev/shm/slsim_testbed")
    ap.add_argument("--dram-cache-gb", type=float, default=64.0)
    ap.add_argument("--fuse", default="compile", choices=["compile", "none"])
    ap.add_argument("--deadline-s", type=float, default=480, help="stop replaying after this many seconds")
    ap.add_argument("--fake", action="store_true", help="workers without PyTorch or a GPU (testing)")
    args = ap.parse_args()
    requests = read_canonical_trace(args.trace)
    ctl = Controller(args, requests)
    signal.signal(signal.SIGTERM, ctl.stop_soon)
    command = " ".join(["python3"] + sys.argv)
    try:
        prep, end_s = ctl.run()
    finally:
        for p in ctl.procs.values():
            if p.poll() is None:
                p.kill()
        for model in ctl.sizes:
            try:
                os.remove(ctl.dram_path(model))
            except OSError:
                pass
    instances = []
    for iid in sorted(ctl.inst_records):
        rec = dict(ctl.inst_records[iid])
        rec["phases_s"] = phases_of(rec)
        instances.append(rec)
    records = [ctl.records[k] for k in sorted(ctl.records)]
    doc = {"program": "kernels/testbed/controller.py", "environment": environment(command),
           "config": {"trace": os.path.basename(args.trace), "ttl_s": args.ttl_s, "kv_cache_bytes_per_instance":
                      int(args.kv_gb * 1e9), "dram_cache_bytes": int(args.dram_cache_gb * 1e9), "fuse": args.fuse,
                      "fake": args.fake, "max_model_len": 4096, "max_num_seqs": 256,
                      "max_num_batched_tokens": 8192, "routing": "one instance per model; warm if ready, else "
                      "wait for (or start) a cold start", "keepalive": "fixed TTL from the instance's last "
                      "completion; released instances exit (GPU memory freed)",
                      "loader": "worker.py -> startup_phases.load_file: 4 reader threads into a pinned pool of "
                                "32 x 32 MiB chunks, 2 copy streams (Python equivalent of kernels/loader sllm_fast); "
                                "ssd tier O_DIRECT from the local disk, each chunk also written to the DRAM cache's "
                                "tmpfs file; dram tier from that file",
                      "times": "seconds from the replay's start (wall clock of one host)"},
           "preparation": prep, "replay_end_s": end_s, "summary": request_metrics(records),
           "requests": records, "instances": instances}
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(args.out + ".tmp", "w") as f:
        json.dump(doc, f, indent=1)
    os.replace(args.out + ".tmp", args.out)
    print(json.dumps({"trace": args.trace, "ttl_s": args.ttl_s, **doc["summary"],
                      "instances": len(instances)}), flush=True)


if __name__ == "__main__":
    main()
