#!/usr/bin/env bash
# The loading study: every checkpoint format x model size x source tier x hardware profile as
# one `slsim sweep`, then the table and the plot. Each point replays two requests 1200 s apart
# with keep-alive 0: the first loads from remote storage and leaves the checkpoint in the caches,
# the second loads from DRAM (DRAM cache lru) or from the SSD (DRAM cache none); its load_s is the
# figure. The start-up phases (process_start_s, gpu_context_s,
# engine_setup_s, post_load_s) are 0, so load_s is the checkpoint transfer alone.
set -euo pipefail
cd "$(dirname "$0")/../.."
slsim=${SLSIM:-build/release/sim/slsim}
models=opt-1.3b,opt-6.7b,opt-13b,opt-30b
# Reference results are made afresh: points of an older slsim must not be reused.
rm -rf results/loading/points
"$slsim" sweep results/loading/experiment.json -o results/loading/points -j "${JOBS:-2}" \
  --grid cluster.server_groups.0.profile=h200-gpu-machine,h100-gpu-machine,serverlessllm-testbed-a40,serverlessllm-testbed-a5000 \
  --zip "models.0.name=$models;workload.sources.0.model=$models" \
  --grid policies.dram_cache.name=lru,none \
  --grid loader.format=sllm,safetensors,torch
cp results/loading/points/sweep.csv results/loading/sweep.csv
python3 results/loading/make_table.py results/loading/points
