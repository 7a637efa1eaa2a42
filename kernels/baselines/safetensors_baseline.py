#!/usr/bin/env python3
"""safetensors.torch.load_file(path, device="cuda") cold (page cache dropped)
and warm: the baseline loader_bench's fast loader is judged against. The CUDA
context is created before timing; each load ends with a device synchronize. Each
cold load is paired with a one-reader O_DIRECT read of the file right before it
(the virtual disks' speed drifts from one read to the next).

usage: safetensors_baseline.py --path DIR/model.safetensors --out FILE [--repeats 2]
"""
import argparse
import datetime
import json
import os
import sys
import time

import safetensors
import torch
from safetensors.torch import load_file


def drop_page_cache():
    try:
        os.sync()
        with open("/proc/sys/vm/drop_caches", "w") as f:
            f.write("3")
        return True
    except OSError:
        return False


def direct_read_gbytes_per_s(path, block_bytes=16 << 20):
    """Reads the file once with O_DIRECT in 16 MiB blocks into an aligned buffer."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECT)
    # Pinned like loader_bench's baseline buffers (pageable O_DIRECT reads were slower on the
    # GPU machines' VMs); page-aligned, as O_DIRECT requires.
    pinned = torch.empty(block_bytes, dtype=torch.uint8, pin_memory=True)
    assert pinned.data_ptr() % 4096 == 0
    buf = memoryview(pinned.numpy())
    t0 = time.perf_counter()
    offset = 0
    while True:
        n = os.preadv(fd, [buf], offset)
        offset += n
        if n < block_bytes:
            break
    s = time.perf_counter() - t0
    os.close(fd)
    return offset / s / 1e9


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--path", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--model", default="")
    ap.add_argument("--repeats", type=int, default=2)
    a = ap.parse_args()

    torch.zeros(1, device="cuda")
    torch.cuda.synchronize()
    size = os.path.getsize(a.path)
    runs = []
    for state in ["cold"] * a.repeats + ["warm"] * max(a.repeats, 2):
        paired = None
        if state == "cold":
            drop_page_cache()
            paired = direct_read_gbytes_per_s(a.path)
        dropped = drop_page_cache() if state == "cold" else False
        t0 = time.perf_counter()
        tensors = load_file(a.path, device="cuda")
        torch.cuda.synchronize()
        s = time.perf_counter() - t0
        nbytes = sum(t.numel() * t.element_size() for t in tensors.values())
        del tensors
        torch.cuda.empty_cache()
        print(f"safetensors load_file(device='cuda') {state}: {s:.3f} s {nbytes / s / 1e9:.2f} GB/s")
        run = {"loader": "safetensors_load_file_cuda", "state": state, "page_cache_dropped": dropped,
               "seconds": s, "GBps": nbytes / s / 1e9, "tensor_bytes": nbytes}
        if paired is not None:
            run["paired_disk_direct_read_one_reader_GBps"] = paired
        runs.append(run)

    doc = {
        "program": "safetensors_baseline.py",
        "environment": {
            "gpu": torch.cuda.get_device_name(0),
            "torch": torch.__version__,
            "safetensors": safetensors.__version__,
            "cuda_runtime": torch.version.cuda,
            "driver": os.environ.get("SLSIM_DRIVER", "unknown"),
            "date_utc": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "command": " ".join([os.path.basename(sys.executable)] + sys.argv),
        },
        "config": {"model": a.model, "file_bytes": size,
                   "bandwidth_definition": "tensor bytes / wall seconds of load_file plus synchronize"},
        "loads": runs,
    }
    with open(a.out + ".tmp", "w") as f:
        json.dump(doc, f, indent=1)
    os.replace(a.out + ".tmp", a.out)


if __name__ == "__main__":
    main()
