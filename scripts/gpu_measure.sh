#!/usr/bin/env bash
# Builds kernels/ (kernels-only), runs the GPU tests, every measuring program and
# the PyTorch baselines, on a machine with an NVIDIA GPU, and writes JSON to OUTDIR.
#
# usage: scripts/gpu_measure.sh OUTDIR [PHASE...]
#   PHASE: env build test pa loader gemm transformer components summary (default: all, in that order)
# environment:
#   SLSIM_CKPT_DIR  where checkpoints are written (default /var/tmp/slsim_ckpt; needs
#                   ~40 GB free for OPT-6.7B in three formats; deleted after each model)
#   SLSIM_LOADER_MODELS  models the loader measures (default "opt-1.3b opt-6.7b")
#   SLSIM_LOADER_REPEATS cold loads of each loader and of safetensors (default 4: the
#                   virtual disks vary by tens of percent from one read to the next)
#   SLSIM_TRANSFORMER_MODELS  (default opt-6.7b,llama-2-7b,llama-3.1-8b)
# Cold loads drop the page cache (root only; each file records whether it could).
set -euo pipefail

out=${1:?usage: scripts/gpu_measure.sh OUTDIR [PHASE...]}
shift
phases=${*:-env build test pa loader gemm transformer components summary}
repo=$(cd "$(dirname "$0")/.." && pwd)
build=$repo/build/kernels
ckpt=${SLSIM_CKPT_DIR:-/var/tmp/slsim_ckpt}
mkdir -p "$out"
out=$(cd "$out" && pwd)
export PYTHONUNBUFFERED=1
SLSIM_DRIVER=$(nvidia-smi --query-gpu=driver_version --format=csv,noheader | head -1)
export SLSIM_DRIVER

has() { [[ " $phases " == *" $1 "* ]]; }
log() { printf '\n== %s\n' "$*"; }

if has env; then
  log "environment"
  {
    echo "{"
    echo "\"gpu\": \"$(nvidia-smi --query-gpu=name --format=csv,noheader | head -1)\","
    echo "\"driver\": \"$SLSIM_DRIVER\","
    echo "\"nvcc\": \"$(nvcc --version | tail -2 | head -1)\","
    echo "\"cmake\": \"$(cmake --version | head -1)\","
    echo "\"cxx\": \"$(c++ --version | head -1)\","
    echo "\"python\": \"$(python3 --version)\","
    echo "\"torch\": \"$(python3 -c 'import torch; print(torch.__version__)')\","
    echo "\"nlohmann_json_header\": $( [ -f /usr/include/nlohmann/json.hpp ] && echo true || echo false ),"
    echo "\"gtest_library\": $( ls /usr/lib/x86_64-linux-gnu/libgtest* /usr/lib/libgtest* /usr/local/lib/libgtest* >/dev/null 2>&1 && echo true || echo false ),"
    echo "\"checkpoint_fs\": \"$(mkdir -p "$ckpt" && df -hT "$ckpt" | tail -1 | tr -s ' ')\","
    echo "\"cpus\": $(nproc),"
    echo "\"date_utc\": \"$(date -u +%Y-%m-%dT%H:%M:%SZ)\""
    echo "}"
  } > "$out/env.json"
  cat "$out/env.json"
fi

if has build; then
  log "build"
  cmake -S "$repo" -B "$build" -G Ninja -DSLSIM_KERNELS_ONLY=ON -DCMAKE_BUILD_TYPE=Release
  cmake --build "$build" -j "$(nproc)"
fi

if has test; then
  log "GPU tests"
  (cd "$build" && ctest -L gpu --output-on-failure) 2>&1 | tee "$out/ctest.log"
fi

if has pa; then
  log "paged attention vs SDPA"
  # label dtype q_heads kv_heads head_dim block_size batches contexts
  while read -r label dtype hq hkv d bs batches contexts; do
    "$build/kernels/pa_bench" --label "$label" --dtype "$dtype" --q-heads "$hq" --kv-heads "$hkv" \
      --head-dim "$d" --block-size "$bs" --batches "$batches" --contexts "$contexts" \
      --out "$out/pa_$label.json"
    python3 "$repo/kernels/baselines/sdpa_baseline.py" --label "$label" --dtype "$dtype" --q-heads "$hq" \
      --kv-heads "$hkv" --head-dim "$d" --batches "$batches" --contexts "$contexts" \
      --out "$out/sdpa_$label.json"
  done <<'CONFIGS'
mha32x128_f16_bs16 f16 32 32 128 16 1,8,32,64 512,2048,8192
gqa32x8x128_f16_bs16 f16 32 8 128 16 1,8,32,64 2048,8192
gqa64x8x128_f16_bs16 f16 64 8 128 16 1,16,64 1024,4096
mha32x64_f16_bs16 f16 32 32 64 16 1,8,32 512,2048
mha32x128_bf16_bs16 bf16 32 32 128 16 1,8,32 2048,8192
mha32x128_f16_bs8 f16 32 32 128 8 8,32 2048
mha32x128_f16_bs32 f16 32 32 128 32 8,32 2048
CONFIGS
fi

if has loader; then
  log "checkpoint loading"
  for model in ${SLSIM_LOADER_MODELS:-opt-1.3b opt-6.7b}; do
    rm -rf "$ckpt"
    mkdir -p "$ckpt"
    sweep=()
    if [ "$model" = opt-1.3b ]; then sweep=(--sweep-threads 1,2,4,8 --sweep-chunk-mib 8,32); fi
    "$build/kernels/loader_bench" --model "$model" --dir "$ckpt" --keep "${sweep[@]}" \
      --repeats "${SLSIM_LOADER_REPEATS:-4}" --out "$out/loader_$model.json"
    python3 "$repo/kernels/baselines/safetensors_baseline.py" --model "$model" \
      --path "$ckpt/model.safetensors" --repeats "${SLSIM_LOADER_REPEATS:-4}" --out "$out/safetensors_$model.json"
    rm -rf "$ckpt"
  done
fi

if has gemm; then
  log "GEMMs of the catalogue's linear layers"
  archs=()
  while read -r spec; do archs+=(--arch "$spec"); done < <(python3 - "$repo" <<'PY'
import glob, json, os, sys
for path in sorted(glob.glob(os.path.join(sys.argv[1], "models", "llm", "*.json"))):
    a = json.load(open(path))["architecture"]
    kind = "gated" if "gated" in a["ffn_kind"] or "glu" in a["ffn_kind"] else "mlp"
    name = os.path.basename(path)[:-5]
    print(",".join(str(x) for x in [name, a["layers"], a["hidden_size"], a["attention_heads"], a["kv_heads"],
                                    a["head_dim"], a["ffn_size"], kind, a["vocab_size"]]))
PY
)
  "$build/kernels/gemm_bench" "${archs[@]}" --out "$out/gemm.json"
fi

if has transformer; then
  log "transformer prefill and decode step"
  python3 "$repo/scripts/measure_transformer.py" \
    --models "${SLSIM_TRANSFORMER_MODELS:-opt-6.7b,llama-2-7b,llama-3.1-8b}" --out "$out/transformer_measured.json"
fi

if has components; then
  log "prefill attention, per-layer elementwise work, per-step overhead"
  python3 "$repo/scripts/measure_components.py" --out "$out/components.json"
fi

if has summary; then
  log "targets"
  python3 "$repo/kernels/baselines/summarize.py" "$out"
fi
