#!/usr/bin/env bash
# ServerlessLLM's evaluation (Fu et al., OSDI'24) in its own setup: the loading figure, the
# end-to-end comparison with the serverless baselines and the scheduler ablation, then
# paper_figures.json and the plots (make_figures.py). Every system is a named config in
# systems/; this script varies only the models, the dataset and the request rate.
#   cmake --preset release && cmake --build --preset release --target slsim
#   results/serverlessllm-paper/run.sh
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
slsim="${SLSIM:-$here/../../build/release/sim/slsim}"
runs="$here/runs"
rm -rf "$runs" "$here/loading_points"
lengths="../../../traces/lengths"  # relative to systems/
declare -A tables=([gsm8k]="$lengths/gsm8k_llama2_tokenizer.csv"
                   [sharegpt]="$lengths/sharegpt_8k_filtered_stats_llama2_tokenizer.csv")
# Replicas per model so that each model's checkpoints (~410-480 GB) exceed one server's DRAM
# cache (256 GiB) and fit the cluster's SSDs: 32 x OPT-6.7B, 16 x OPT-13B, 8 x OPT-30B (2 A40s each);
# the LLaMA-2 and Falcon rows likewise (32 x 7B, 16 x 13B).
declare -A replicas=([opt-6.7b]=32 [opt-13b]=16 [opt-30b]=8 [llama-2-7b]=32 [llama-2-13b]=16 [falcon-7b]=32)

# run SYSTEM MODEL DATASET RATE OUT [--set ...]: one run of systems/SYSTEM.json.
run() {
  local system=$1 model=$2 dataset=$3 rate=$4 out=$5
  shift 5
  local names
  names=$(python3 -c "import json,sys; print(json.dumps(['$model-%02d' % i for i in range(int(sys.argv[1]))]))" \
    "${replicas[$model]}")
  local models
  models=$(python3 -c "import json,sys; print(json.dumps([{'name': n, 'base_model': '$model'} for n in json.loads(sys.argv[1])]))" "$names")
  "$slsim" run "$here/systems/$system.json" -o "$out" --set "models=$models" \
    --set "workload.sources.0.models=$names" --set "workload.sources.0.lengths.table=${tables[$dataset]}" \
    --set "workload.sources.0.rate_per_s=$rate" "$@" > /dev/null
}

# 1. Loading: sllm, safetensors and torch per model and tier on both testbeds' servers.
models=opt-6.7b,opt-13b,opt-30b,llama-2-7b,llama-2-13b,falcon-7b,falcon-40b
"$slsim" sweep "$here/loading.json" -o "$here/loading_points" -j "${JOBS:-2}" \
  --grid cluster.server_groups.0.profile=serverlessllm-testbed-a5000,serverlessllm-testbed-a40 \
  --zip "models.0.name=$models;workload.sources.0.model=$models" \
  --grid policies.dram_cache.name=lru,none \
  --grid loader.format=sllm,safetensors,torch > /dev/null

# 2. End to end: ServerlessLLM against KServe, Ray Serve and Ray Serve with cache, at 0.5 req/s.
for system in serverlessllm kserve ray-serve ray-serve-cache; do
  for model in opt-6.7b opt-13b opt-30b llama-2-7b llama-2-13b falcon-7b; do
    for dataset in gsm8k sharegpt; do
      run "$system" "$model" "$dataset" 0.5 "$runs/e2e/$system-$model-$dataset"
    done
  done
done

# 3. Scheduler ablation: startup-time-optimized placement with live migration against
# locality-only placement, preemption and Shepherd-like gated preemption, over the request rate.
for system in serverlessllm locality preemption shepherd; do
  for model in opt-6.7b opt-13b opt-30b; do
    for rate in 0.25 0.5 1 2; do
      run "$system" "$model" gsm8k "$rate" "$runs/scheduler/$system-$model-r$rate"
    done
  done
done

# 4. Causes: each run removes one difference from the ServerlessLLM run at 0.5 req/s (OPT-6.7B, GSM8K).
cause() { run serverlessllm opt-6.7b gsm8k 0.5 "$runs/causes/$1" "${@:2}"; }
cause reference
cause no-ssd-copies --set cluster.ssd_copies_at_start=0
cause ssd-copies-everywhere --set cluster.ssd_copies_at_start=4
cause no-startup --set loader.process_start_s=0 --set loader.gpu_context_s=0 \
  --set loader.engine_setup_s=0 --set loader.post_load_s=0
cause keepalive-600 --set policies.keepalive.params.ttl_s=600
cause cv-1 --set workload.sources.0.cv=1
run kserve opt-6.7b gsm8k 0.5 "$runs/causes/kserve-sllm-loader" --set loader.format=sllm
# Where ServerlessLLM falls behind locality (OPT-6.7B at 1 req/s): the same run without live migration.
run serverlessllm opt-6.7b gsm8k 1 "$runs/causes/r1-no-migration" --set 'policies.migration={"name": "none"}'

python3 "$here/make_figures.py"
