#!/usr/bin/env bash
# Reproduces results/serverlessllm-scheduler/ from the repository root's release build:
#   cmake --preset release && cmake --build --preset release && results/serverlessllm-scheduler/run.sh
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
slsim="${SLSIM:-$here/../../build/release/sim/slsim}"
config="$here/experiment.json"
runs="$here/runs"
rm -rf "$runs"
# serverlessllm: startup-time-optimized placement with live migration (the paper's system);
# serverlessllm-kv: the same placement, moving victims by copying their KV cache (Llumnix);
# locality: prefer a server caching the checkpoint, never move anyone; least-loaded with preempt:
# spread instances and restart the requests in the way; remote: no DRAM or SSD cache, every
# load from the 10 Gb/s remote store (the serverless baselines' behaviour).
declare -A policy_settings=(
  [serverlessllm]="policies.placement.name=serverlessllm policies.migration.name=live-token"
  [serverlessllm-kv]="policies.placement.name=serverlessllm policies.migration.name=live-kv"
  [locality]="policies.placement.name=locality policies.migration.name=none"
  [least-loaded-preempt]="policies.placement.name=least-loaded policies.migration.name=preempt"
  [remote]="policies.placement.name=least-loaded policies.migration.name=none policies.dram_cache.name=none policies.ssd_cache.name=none policies.keepalive.params.keep_checkpoint_in_dram=false")
for policy in serverlessllm serverlessllm-kv locality least-loaded-preempt remote; do
  for rate in 0.025 0.05 0.1 0.2 0.4; do
    sets=(--set "workload.sources.0.rate_per_s=$rate" --set "workload.sources.1.rate_per_s=$rate")
    for s in ${policy_settings[$policy]}; do sets+=(--set "$s"); done
    "$slsim" run "$config" -o "$runs/$policy-r$rate" "${sets[@]}" > /dev/null
  done
done
python3 "$here/../../scripts/plot.py" rate "$runs"/* -o "$here/latency_vs_rate.json" --plot "$here/latency_vs_rate.png"
