#!/usr/bin/env bash
# Runs the reference scenarios with two slsim binaries and compares their outputs byte for
# byte (summary.json without `slsim_version`): the check that a refactoring changed nothing.
# Usage: [OLD_TREE=DIR [OLD_CONFIG_SED=SCRIPT]] scripts/check_identical.sh OLD_SLSIM NEW_SLSIM [WORKDIR]
# Exit 0 when every scenario's requests.csv, timeseries.csv, config.json and summary.json match.
#
# OLD_TREE: a checkout of the revision OLD_SLSIM was built from (`git worktree add DIR main`, or
# `git archive main | tar -x -C DIR`), for a change that renames config keys: the old binary then
# reads its scenarios' configs, traces and catalogue there (its catalogue through `catalog_dir`,
# since the one built into it may already hold the new files), the new binary reads this tree's.
# OLD_CONFIG_SED: a sed script that turns the old binary's config.json into the new one's (the
# renames), applied before comparing; the default maps the `_gbps` keys to `_gbytes_per_s`.
set -euo pipefail
cd "$(dirname "$0")/.."
old="$(realpath "$1")"
new="$(realpath "$2")"
work="${3:-$(mktemp -d)}"
mkdir -p "$work"
work="$(realpath "$work")"
old_tree="${OLD_TREE:+$(realpath "$OLD_TREE")}"
old_config_sed="${OLD_CONFIG_SED:-s/_gbps\"/_gbytes_per_s\"/g}"

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

# Scenario `name`'s config.json from `side` without its version, in the new binary's terms: the
# renames, the catalogue as the new binary found it, and paths (relative to the output folder)
# into this tree.
comparable_config() {
  local side="$1" name="$2"
  local file="$work/$side/$name/config.json"
  if [ "$side" = old ] && [ -n "$old_tree" ]; then
    local old_prefix new_prefix
    old_prefix="$(realpath --relative-to="$work/old/$name" "$old_tree")"
    new_prefix="$(realpath --relative-to="$work/new/$name" "$PWD")"
    grep -v '"slsim_version"' "$file" | sed -e "$old_config_sed" \
      -e "s|\"catalog_dir\": \"$old_tree/models\"|\"catalog_dir\": \"\"|" -e "s|\"$old_prefix/|\"$new_prefix/|g"
  else
    grep -v '"slsim_version"' "$file"
  fi
}

failed=0
for s in "${scenarios[@]}"; do
  IFS='|' read -r name config sets <<<"$s"
  args=()
  for kv in $sets; do args+=(--set "$kv"); done
  for side in old new; do
    bin="$old" dir="$PWD" side_args=("${args[@]}")
    [ "$side" = new ] && bin="$new"
    if [ "$side" = old ] && [ -n "$old_tree" ]; then
      dir="$old_tree"
      # A config naming no catalogue gets the old tree's, not the one built into the binary.
      if python3 -c 'import json, sys; sys.exit(0 if json.load(open(sys.argv[1])).get("catalog_dir") else 1)' \
        "$old_tree/$config"; then :; else side_args+=(--set "catalog_dir=$old_tree/models"); fi
    fi
    rm -rf "$work/$side/$name"
    (cd "$dir" && "$bin" run "$config" -o "$work/$side/$name" ${side_args[@]+"${side_args[@]}"}) \
      >/dev/null 2>"$work/$side-$name.err" || {
      echo "FAIL $name: $side binary exited non-zero ($(tail -1 "$work/$side-$name.err"))"; failed=1; continue 2; }
  done
  for f in requests.csv timeseries.csv config.json summary.json; do
    a="$work/old/$name/$f"; b="$work/new/$name/$f"
    if [ ! -e "$a" ] && [ ! -e "$b" ]; then continue; fi  # not written by either (output.requests_csv false)
    if [ ! -e "$a" ] || [ ! -e "$b" ]; then echo "DIFF $name/$f: written by one binary only"; failed=1; continue; fi
    if [ "$f" = config.json ]; then
      if ! cmp -s <(comparable_config old "$name") <(comparable_config new "$name"); then
        echo "DIFF $name/$f"; failed=1; fi
    elif [ "$f" = summary.json ]; then
      if ! cmp -s <(grep -v '"slsim_version"' "$a") <(grep -v '"slsim_version"' "$b"); then
        echo "DIFF $name/$f"; failed=1; fi
    elif ! cmp -s "$a" "$b"; then
      echo "DIFF $name/$f"; failed=1
    fi
  done
done
[ "$failed" = 0 ] && echo "identical: ${#scenarios[@]} scenarios ($work)"
exit "$failed"
