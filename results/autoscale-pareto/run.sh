#!/usr/bin/env bash
# Reproduces results/autoscale-pareto/ from the repository root's release build:
#   cmake --preset release && cmake --build --preset release && results/autoscale-pareto/run.sh
# One run per keep-alive x autoscaler setting (a plain loop of `slsim run --set`), then the
# Pareto plot of GPU-hours against p99 TTFT.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
slsim="${SLSIM:-$here/../../build/release/sim/slsim}"
config="$here/experiment.json"
runs="$here/runs"
rm -rf "$runs"
declare -A autoscalers=(
  [on-demand]='{"name": "on-demand"}'
  [fixed1]='{"name": "fixed", "params": {"instances": 1}}'
  [kpa]='{"name": "kpa"}'
  [kpa-t20]='{"name": "kpa", "params": {"target_concurrency": 20}}'
  [rps]='{"name": "rps", "params": {"target_rps": 2}}'
  [predictive]='{"name": "predictive", "params": {"forecast": "ewma", "target_rps": 2}}')
for autoscaler in on-demand fixed1 kpa kpa-t20 rps predictive; do
  for ttl in 0 60 600; do
    # `fixed` never releases: the keep-alive changes nothing, one run suffices.
    if [[ $autoscaler == fixed1 && $ttl != 0 ]]; then continue; fi
    "$slsim" run "$config" -o "$runs/$autoscaler-ka$ttl" --set "policies.autoscale=${autoscalers[$autoscaler]}" \
      --set policies.keepalive.params.ttl_s=$ttl
  done
done
python3 "$here/../../scripts/plot.py" pareto "$runs"/* -o "$here/pareto.json" --plot "$here/pareto.png"
