#!/usr/bin/env bash
# One device call's worth of testbed measurements, piece by piece, each bounded by a time
# limit and writing its JSON into OUTDIR as soon as it is done (a later failure keeps it):
#   lib             build the paged-attention library unless SLSIM_PA_LIB loads
#   smoke           controller on workloads/smoke.csv (two models, 20 s): checks the whole path
#   steps1, steps2  engine_steps_run1.json, engine_steps_run2.json (six models, run-to-run spread);
#                   steps1 first writes engine_check.json (kernel vs SDPA, decode graph vs prefill)
#   startup         startup_phases.json (opt-1.3b, opt-6.7b, llama-3.1-8b)
#   ctl:NAME        controller_NAME.json for workloads.json's workload NAME
# usage: scripts/testbed_device.sh OUTDIR PIECE...
# KV per instance: 8 GB on a card of >= 100 GB, else 3 GB (four instances must fit together).
set -uo pipefail
out=${1:?usage: scripts/testbed_device.sh OUTDIR PIECE...}
shift
repo=$(cd "$(dirname "$0")/.." && pwd)
tb=$repo/kernels/testbed
wl=$repo/results/validation-coldstart
mkdir -p "$out"
out=$(cd "$out" && pwd)
export PYTHONUNBUFFERED=1
mem_mib=$(nvidia-smi --query-gpu=memory.total --format=csv,noheader,nounits | head -1)
kv_gb=3
if (( mem_mib >= 100000 )); then kv_gb=8; fi
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader
piece() {  # name, seconds, command...
  local name=$1 limit=$2
  shift 2
  local t0=$SECONDS
  echo "=== $name (limit ${limit}s) $(date -u +%H:%M:%S)"
  timeout --kill-after=10 "$limit" "$@"
  echo "=== $name rc $? after $((SECONDS - t0)) s"
}
for p in "$@"; do
  case $p in
    lib)
      if [[ -z "${SLSIM_PA_LIB:-}" ]] || ! python3 -c "import ctypes,os; ctypes.CDLL(os.environ['SLSIM_PA_LIB'])"; then
        export SLSIM_PA_LIB=/tmp/libslsim_pa.so
        piece lib 180 nvcc -O3 -std=c++17 -gencode arch=compute_90,code=sm_90 -Xcompiler -fPIC -shared \
          -cudart shared -I"$repo/kernels" "$tb/pa_capi.cu" "$repo/kernels/paged_attention/paged_attention.cu" \
          -o "$SLSIM_PA_LIB"
      fi ;;
    smoke) piece smoke 150 python3 "$tb/controller.py" --trace "$wl/workloads/smoke.csv" --ttl-s 5 \
             --kv-gb "$kv_gb" --deadline-s 120 --out "$out/controller_smoke.json" ;;
    steps1|steps2)
      check=()
      if [[ $p == steps1 ]]; then check=(--check "$out/engine_check.json"); fi
      piece "$p" 270 python3 "$tb/engine.py" --out "$out/engine_steps_run${p#steps}.json" "${check[@]}" \
        --models "${SLSIM_TESTBED_MODELS:-opt-1.3b,opt-6.7b,llama-2-7b,llama-3.1-8b,opt-13b,llama-2-13b}" ;;
    startup) piece startup 330 python3 "$tb/startup_phases.py" --out "$out/startup_phases.json" \
             --models opt-1.3b,opt-6.7b,llama-3.1-8b --repeats "${SLSIM_STARTUP_REPEATS:-3}" ;;
    ctl:*)
      name=${p#ctl:}
      read -r csv ttl < <(python3 -c "
import json, sys
d = json.load(open('$wl/workloads.json'))
w = [w for w in d['workloads'] if w['name'] == '$name'][0]
print(d['traces'][w['trace']]['csv'], w['ttl_s'])")
      piece "ctl:$name" 300 python3 "$tb/controller.py" --trace "$wl/$csv" --ttl-s "$ttl" --kv-gb "$kv_gb" \
        --deadline-s 200 --out "$out/controller_$name.json" ;;
    *) echo "unknown piece $p"; exit 2 ;;
  esac
done
