#!/usr/bin/env python3
"""The start-up phases of the instances a serverless testbed run started, in startup_phases.py's
format, so that `slsim calibrate --update PROFILE --startup FILE` reads them.

startup_phases.py starts one instance at a time with nothing else on the machine. A testbed
run's instances start beside serving neighbours and each other's start-ups, as an instance of a
serverless cluster does, and a workload at keep-alive 0 starts tens of them: their medians
describe the start-ups the validation replays. Loading is left out (slsim's loader models it
from the tier and its link); every other phase is the worker's stamp to stamp time.

usage: startup_from_controller.py CONTROLLER_JSON... --out FILE"""
import argparse
import json
import os
import statistics
import sys

from serverless import load_run_json

# startup_phases.py's phase name for each phase a testbed worker stamps.
PHASES = {"interpreter": "interpreter", "import_torch": "import_torch", "cuda_context": "cuda_context",
          "allocate_weights": "engine_setup", "allocate_kv": "kv_reserve", "compile_ops": "compile",
          "graph_capture": "graph_capture", "warm_up": "warm_up"}


def startup_document(runs, command):
    by_model = {}
    for run in runs:
        for inst in run["instances"]:
            phases = inst.get("phases_s", {})
            if inst.get("error") or not all(p in phases for p in PHASES.values()):
                continue
            entry = by_model.setdefault(inst["model"], {"weight_bytes": inst["info"]["weight_bytes"], "runs": []})
            entry["runs"].append({"workload": run["config"]["trace"], "ttl_s": run["config"]["ttl_s"],
                                  "instance": inst["instance"], "tier": inst["tier"],
                                  "phases_s": {name: phases[stamp] for name, stamp in PHASES.items()}})
    models = []
    for model, entry in sorted(by_model.items(), key=lambda kv: kv[1]["weight_bytes"]):
        summary = {}
        for name in PHASES:
            vals = [r["phases_s"][name] for r in entry["runs"]]
            summary[name] = {"median_s": statistics.median(vals), "min_s": min(vals), "max_s": max(vals), "runs_s": vals}
        models.append({"model": model, "weight_bytes": entry["weight_bytes"], "starts": len(entry["runs"]),
                       "summary": summary, "runs": entry["runs"]})
    environment = dict(runs[0]["environment"])
    environment["command"] = command
    environment["controller_commands"] = [r["environment"]["command"] for r in runs]
    return {"program": "kernels/testbed/startup_from_controller.py", "environment": environment,
            "config": {"phases": PHASES, "source": "instances of serverless testbed runs (controller.py), loading left out"},
            "models": models}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("controller", nargs="+")
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    runs = []
    for path in args.controller:
        runs.append(load_run_json(path))
    gpus = {r["environment"]["gpu"] + " / " + r["environment"]["driver"] for r in runs}
    if len(gpus) != 1:
        sys.exit(f"startup_from_controller: the runs come from different GPUs or drivers: {sorted(gpus)}")
    doc = startup_document(runs, " ".join(["python3"] + sys.argv))
    with open(args.out + ".tmp", "w") as f:
        json.dump(doc, f, indent=1)
    os.replace(args.out + ".tmp", args.out)
    for m in doc["models"]:
        print(m["model"], m["starts"], "starts:", " ".join(f"{k} {v['median_s']:.2f}" for k, v in m["summary"].items()))


if __name__ == "__main__":
    main()
