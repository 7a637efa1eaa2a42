#!/usr/bin/env bash
# Runs the reference scenarios with two slsim binaries and compares their outputs byte for
# byte (summary.json without `slsim_version`): the check that a refactoring changed nothing.
# Usage: scripts/check_identical.sh OLD_SLSIM NEW_SLSIM [WORKDIR]
# Exit 0 when every scenario's requests.csv, timeseries.csv, config.json and summary.json match.
set -euo pipefail
cd "$(dirname "$0")/.."
old="$(realpath "$1")"
new="$(realpath "$2")"
work="${3:-$(mktemp -d)}"
mkdir -p "$work"

# name|config|--set arguments (space-separated)
scenarios=(
  "demo-nocache|results/demo/experiment.json|policies.keepalive.params.ttl_s=0 policies.keepalive.params.keep_checkpoint_in_dram=false policies.dram_cache.name=none policies.ssd_cache.name=none"
  "demo-ka0|results/demo/experiment.json|policies.keepalive.params.ttl_s=0"
  "demo-ka60|results/demo/experiment.json|policies.keepalive.params.ttl_s=60"
  "demo-ka600|results/demo/experiment.json|policies.keepalive.params.ttl_s=600"
  "pressure|tests/testdata/engine_pressure.json|"
  "pressure-swap|tests/testdata/engine_pressure.json|engine.preemption_mode=swap"
  "pressure-contiguous|tests/testdata/engine_pressure.json|engine.kv_allocator=contiguous"
  "hand-computed|tests/testdata/hand_computed.json|"
  "small-replay|tests/testdata/small_replay.json|"
  "pareto-kpa|results/autoscale-pareto/experiment.json|policies.autoscale.name=kpa policies.keepalive.params.ttl_s=60"
  "pareto-rps|results/autoscale-pareto/experiment.json|policies.autoscale.name=rps policies.keepalive.params.ttl_s=0"
  "pareto-predictive|results/autoscale-pareto/experiment.json|policies.autoscale.name=predictive policies.keepalive.params.ttl_s=600"
  "sllm-live-token|results/serverlessllm-scheduler/experiment.json|workload.sources.0.rate_per_s=0.2 workload.sources.1.rate_per_s=0.2 policies.placement.name=serverlessllm policies.migration.name=live-token"
  "sllm-live-kv|results/serverlessllm-scheduler/experiment.json|workload.sources.0.rate_per_s=0.2 workload.sources.1.rate_per_s=0.2 policies.placement.name=serverlessllm policies.migration.name=live-kv"
  "sllm-preempt|results/serverlessllm-scheduler/experiment.json|workload.sources.0.rate_per_s=0.4 workload.sources.1.rate_per_s=0.4 policies.placement.name=least-loaded policies.migration.name=preempt"
  "kv-paged-beam4|results/kv-allocators/experiment.json|engine.kv_allocator=paged workload.sources.0.beam_width=4"
  "kv-contiguous-n4|results/kv-allocators/experiment.json|engine.kv_allocator=contiguous workload.sources.0.samples=4"
  "loading|results/loading/experiment.json|"
)

failed=0
for s in "${scenarios[@]}"; do
  IFS='|' read -r name config sets <<<"$s"
  args=()
  for kv in $sets; do args+=(--set "$kv"); done
  for side in old new; do
    bin="$old"; [ "$side" = new ] && bin="$new"
    rm -rf "$work/$side/$name"
    "$bin" run "$config" -o "$work/$side/$name" "${args[@]}" >/dev/null 2>"$work/$side-$name.err" || {
      echo "FAIL $name: $side binary exited non-zero ($(tail -1 "$work/$side-$name.err"))"; failed=1; continue 2; }
  done
  for f in requests.csv timeseries.csv config.json summary.json; do
    a="$work/old/$name/$f"; b="$work/new/$name/$f"
    # A file neither binary wrote (e.g. requests.csv under output.requests_csv=false) matches.
    [ ! -e "$a" ] && [ ! -e "$b" ] && continue
    if [ "$f" = summary.json ] || [ "$f" = config.json ]; then
      if ! cmp -s <(grep -v '"slsim_version"' "$a") <(grep -v '"slsim_version"' "$b"); then
        echo "DIFF $name/$f"; failed=1; fi
    elif ! cmp -s "$a" "$b"; then
      echo "DIFF $name/$f"; failed=1
    fi
  done
done
[ "$failed" = 0 ] && echo "identical: ${#scenarios[@]} scenarios ($work)"
exit "$failed"
