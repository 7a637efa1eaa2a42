#!/usr/bin/env bash
# One device call's worth of testbed measurements, piece by piece, each bounded by a time
# limit and writing its JSON into OUTDIR as soon as it is done (a later failure keeps it):
#   lib             build the paged-attention library unless SLSIM_PA_LIB loads
#   warm            engine_check_warm.json: the checks only (kernel vs SDPA, decode graph vs
#                   prefill, prefill graph vs eager); also fills the inductor cache, so that the
#                   controller's instances compile from a warm cache as startup_phases' do
#   smoke           controller on workloads/smoke.csv (two models, 45 s): checks the whole path
#   steps1, steps2  engine_steps_run1.json, engine_steps_run2.json (run 2: run 1's prefill shapes
#                   again, for the run-to-run spread, and five held-out ones);
#                   steps1 first writes engine_check.json
#   prefill-buckets engine_steps_buckets_<model>.json per model: a batch-1 prefill at the token
#                   buckets the engine captures graphs for from 64 (by 64 to 2048, then by 256 to
#                   4096, to the model's context), where the other runs
#                   measure a few and the profile interpolates between them; the default decode grid
#                   too, so that `slsim calibrate --add-models` takes both tables from one card
#   moe-gemm        moe_gemm.json: grouped-GEMM (MoE experts) and fp8 GEMM tables
#                   (kernels/gemm/moe_gemm_bench.py)
#   moe-check       engine_check_moe.json: the checks on a 2-layer qwen3-30b-a3b engine
#   moe-steps1, moe-steps2  engine_steps_moe_run1.json, _run2.json: qwen3-30b-a3b steps
#   startup         startup_phases.json (opt-1.3b, opt-6.7b, llama-3.1-8b)
#   sporadic        sporadic_steps.json: batch-1 steps back to back against after idle gaps
#                   (sporadic_steps.py; the engine in its benchmark loop against in service)
#   ctl:NAME        controller_NAME.json for workloads.json's workload NAME
# usage: scripts/testbed_device.sh OUTDIR PIECE...
# SLSIM_DEVICE_BUDGET_S: seconds for all pieces together (each piece's limit is cut to what is
# left; a piece with under 30 s left is skipped). SLSIM_TESTBED_MODELS: the engine's models.
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
end=$((SECONDS + ${SLSIM_DEVICE_BUDGET_S:-100000}))
mem_mib=$(nvidia-smi --query-gpu=memory.total --format=csv,noheader,nounits | head -1)
kv_gb=3
if (( mem_mib >= 100000 )); then kv_gb=8; fi
models=${SLSIM_TESTBED_MODELS:-opt-1.3b,opt-6.7b,llama-2-7b,llama-3.1-8b,opt-13b,llama-2-13b}
# MoE decode: larger batches too, where the experts a batch touches approach all of them.
moe_decode=1x512,1x2048,8x512,8x2048,16x1024,32x512,32x2048,64x1024,128x512,256x512
# Second runs: the first run's prefill shapes again (run-to-run spread) and five it lacks
# (held out: a profile fitted on run 1 must interpolate them).
prefill2=1x128,1x512,1x2048,4x512,8x1024,1x256,1x1024,2x1024,3x512,2x2048
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader
piece() {  # name, seconds, command...
  local name=$1 limit=$2
  shift 2
  local left=$((end - SECONDS - 5))
  if (( left < 30 )); then echo "=== $name skipped: ${left}s left"; return; fi
  if (( left < limit )); then limit=$left; fi
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
    warm) piece warm 120 python3 "$tb/engine.py" --models "" --check "$out/engine_check_warm.json" \
            --out /tmp/engine_warm.json ;;
    smoke) piece smoke 110 python3 "$tb/controller.py" --trace "$wl/workloads/smoke.csv" --ttl-s 5 \
             --kv-gb "$kv_gb" --deadline-s 90 --out "$out/controller_smoke.json" ;;
    steps1|steps2)
      check=()
      if [[ $p == steps1 ]]; then check=(--check "$out/engine_check.json"); else check=(--prefill "$prefill2"); fi
      piece "$p" 270 python3 "$tb/engine.py" --out "$out/engine_steps_run${p#steps}.json" "${check[@]}" \
        --models "$models" ;;
    prefill-buckets)
      # One model per process and file, so that a time limit keeps the models done. Past its
      # context (2048 for OPT) a model's position embeddings end: its buckets stop there.
      IFS=, read -ra ms <<< "$models"
      for m in "${ms[@]}"; do
        max=4096
        if [[ $m == opt-* ]]; then max=2048; fi
        grid=$(python3 -c "print(','.join(f'1x{t}' for t in [*range(64, 2049, 64), *range(2304, 4097, 256)] if t <= $max))")
        piece "prefill-buckets:$m" 150 python3 "$tb/engine.py" --out "$out/engine_steps_buckets_$m.json" \
          --models "$m" --prefill "$grid"
      done ;;
    moe-gemm) piece moe-gemm 300 python3 "$repo/kernels/gemm/moe_gemm_bench.py" --out "$out/moe_gemm.json" ;;
    moe-check) piece moe-check 150 python3 "$tb/engine.py" --models "" --check "$out/engine_check_moe.json" \
                 --check-models qwen3-30b-a3b --out /tmp/engine_moe_check.json ;;
    moe-steps1|moe-steps2)
      grid=()
      if [[ $p == moe-steps2 ]]; then grid=(--prefill "$prefill2"); fi
      piece "$p" 240 python3 "$tb/engine.py" --out "$out/engine_steps_moe_run${p#moe-steps}.json" \
        --models qwen3-30b-a3b --decode "$moe_decode" "${grid[@]}" ;;
    sporadic) piece sporadic 400 python3 "$tb/sporadic_steps.py" --out "$out/sporadic_steps.json" --models "$models" ;;
    startup) piece startup 330 python3 "$tb/startup_phases.py" --out "$out/startup_phases.json" \
             --models opt-1.3b,opt-6.7b,llama-3.1-8b --repeats "${SLSIM_STARTUP_REPEATS:-3}" ;;
    ctl:*)
      name=${p#ctl:}
      read -r csv ttl window_s < <(python3 -c "
import json, sys
d = json.load(open('$wl/workloads.json'))
w = [w for w in d['workloads'] if w['name'] == '$name'][0]
print(d['traces'][w['trace']]['csv'], w['ttl_s'], d['traces'][w['trace']]['window_s'])")
      # The last arrivals need a cold start (up to 30 s) and their decode after the window.
      deadline_s=$((window_s + 80))
      piece "ctl:$name" $((deadline_s + 100)) python3 "$tb/controller.py" --trace "$wl/$csv" --ttl-s "$ttl" \
        --kv-gb "$kv_gb" --deadline-s "$deadline_s" --out "$out/controller_$name.json"
      # Instances that died: the next workloads would only repeat the failure.
      if ! python3 -c "
import json, sys
d = json.load(open('$out/controller_$name.json'))
sys.exit(sum(1 for i in d['instances'] if i.get('error') or (i.get('returncode') not in (0, None) and not i.get('killed'))) >= 2)"; then
        echo "=== $name: instances failed, later pieces skipped"; exit 1
      fi ;;
    *) echo "unknown piece $p"; exit 2 ;;
  esac
done
