#!/usr/bin/env bash
# Runs the testbed's measurements on a machine with an NVIDIA GPU and writes JSON to OUTDIR:
#   check    engine_check.json   the paged-attention kernel vs gathered SDPA, and the graph-captured
#                                decode vs a prefill over the same tokens (exits 1 if any fails)
#   steps    engine_steps.json   graph-captured engine step times on the calibration grid
#   startup  startup_phases.json start-up phases, a fresh process per measurement
#   compare  engine_vs_eager.md  engine_steps.json against the eager transformer measurements
# usage: scripts/testbed_measure.sh OUTDIR [check steps startup compare]   (default: all)
# environment: SLSIM_TESTBED_MODELS (steps; default the six models of the eager checks),
#              SLSIM_STARTUP_MODELS (default opt-1.3b,opt-6.7b,llama-3.1-8b), SLSIM_STARTUP_REPEATS (3)
set -euo pipefail
out=${1:?usage: scripts/testbed_measure.sh OUTDIR [check steps startup compare]}
shift
phases=${*:-check steps startup compare}
repo=$(cd "$(dirname "$0")/.." && pwd)
tb=$repo/kernels/testbed
mkdir -p "$out"
out=$(cd "$out" && pwd)
export PYTHONUNBUFFERED=1
has() { [[ " $phases " == *" $1 "* ]]; }
check_arg=()
if has check; then check_arg=(--check "$out/engine_check.json"); fi
if has steps; then
  python3 "$tb/engine.py" --out "$out/engine_steps.json" "${check_arg[@]}" \
    --models "${SLSIM_TESTBED_MODELS:-opt-1.3b,opt-6.7b,llama-2-7b,llama-3.1-8b,opt-13b,llama-2-13b}"
elif has check; then
  python3 "$tb/engine.py" --out "$out/engine_steps.json" "${check_arg[@]}" --models ""
fi
if has startup; then
  python3 "$tb/startup_phases.py" --out "$out/startup_phases.json" \
    --models "${SLSIM_STARTUP_MODELS:-opt-1.3b,opt-6.7b,llama-3.1-8b}" --repeats "${SLSIM_STARTUP_REPEATS:-3}"
fi
if has compare; then
  gpu=h200
  if nvidia-smi --query-gpu=name --format=csv,noheader | grep -q H100; then gpu=h100-sxm; fi
  python3 "$tb/compare.py" "$out/engine_steps.json" "$repo"/results/calibration/transformer_measured_"$gpu"*.json \
    > "$out/engine_vs_eager.md"
fi
