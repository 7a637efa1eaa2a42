#!/usr/bin/env bash
# Reproduces results/reasoning-day/ from the repository root's release build:
#   cmake --preset release && cmake --build --preset release && results/reasoning-day/run.sh
# ServeGen's DeepSeek-R1 reasoning day (traces/servegen/reason/deepseek-r1: 73 clients, request
# lengths from their datasets) at its full rate on twelve DGX H200 servers (one 8-GPU instance
# each at most), one run per setting (a plain loop of `slsim run --set`): autoscalers and
# keep-alives, then the loader and where the checkpoint starts for one of them. Then the Pareto
# plot of GPU-hours against TTFT p99, settings.json, lengths.json and the day plot.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
slsim="${SLSIM:-$here/../../build/release/sim/slsim}"
config="$here/experiment.json"
runs="$here/runs"
rm -rf "$runs"
declare -A autoscalers=(
  [on-demand]='{"name": "on-demand"}'
  [fixed4]='{"name": "fixed", "params": {"instances": 4}}'
  [fixed6]='{"name": "fixed", "params": {"instances": 6}}'
  [fixed8]='{"name": "fixed", "params": {"instances": 8}}'
  [kpa]='{"name": "kpa", "params": {"target_concurrency": 256}}'
  [rps]='{"name": "rps", "params": {"target_rps": 4}}'
  [predictive]='{"name": "predictive", "params": {"forecast": "ewma", "target_rps": 4}}')
run() {  # name, autoscaler, keep-alive (s), other overrides
  local name=$1 autoscaler=$2 ttl=$3
  shift 3
  "$slsim" run "$config" -o "$runs/$name" --no-progress --set "policies.autoscale=${autoscalers[$autoscaler]}" \
    --set "policies.keepalive.params.ttl_s=$ttl" "$@" > /dev/null
}
run on-demand on-demand 60
# `fixed` never releases its instances: the keep-alive changes nothing.
for n in 4 6 8; do run "fixed$n" "fixed$n" 60; done
run kpa-ka0 kpa 0
run kpa-ka60 kpa 60
run rps-ka60 rps 60
run predictive-ka60 predictive 60
run kpa-ka60-safetensors kpa 60 --set loader.format=safetensors
run kpa-ka60-remote kpa 60 --set cluster.ssd_copies_at_start=0
/usr/bin/python3 "$here/../../scripts/plot.py" pareto "$runs"/* -o "$here/pareto.json" --plot "$here/pareto.png" --logy \
  --title "DeepSeek-R1 day (ServeGen): GPU time against TTFT p99"
/usr/bin/python3 "$here/make_figures.py"
