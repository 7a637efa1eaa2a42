#!/usr/bin/env bash
# scripts/plot.py names policies from each run's config.json, whatever the folders are called:
# runs of results/serverlessllm-scheduler copied under arbitrary names give the table the
# committed one has for those policies; kv names allocators and variants from config.json too;
# the tables need no matplotlib and leave no temporary file.
# Usage: plot_test.sh SOURCE_DIR
set -euo pipefail
src=$1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() {
  echo "plot_test: $*" >&2
  exit 1
}
runs=$src/results/serverlessllm-scheduler/runs
i=0
for run in "$runs"/*; do
  mkdir "$tmp/run$i"
  cp "$run/config.json" "$run/summary.json" "$tmp/run$i/"
  i=$((i + 1))
done
python3 "$src/scripts/plot.py" rate "$tmp"/run* -o "$tmp/rate.json" 2>"$tmp/err" || fail "rate failed: $(cat "$tmp/err")"
cmp -s "$tmp/rate.json" "$src/results/serverlessllm-scheduler/latency_vs_rate.json" ||
  fail "rate over renamed folders differs from results/serverlessllm-scheduler/latency_vs_rate.json"
python3 "$src/scripts/plot.py" rate "$tmp"/run* -o "$tmp/by_placement.json" --label policies.placement.name \
  2>"$tmp/err" && fail "--label placement alone should not tell five policies apart"
grep -q "do not tell the policies apart" "$tmp/err" || fail "no clear error for ambiguous labels: $(cat "$tmp/err")"

kv=$src/results/kv-allocators/runs
# Folder names that say nothing: numbers counting down.
i=0
for run in "$kv"/*; do
  dir=$tmp/kv/$(printf '%02d' $((20 - i)))
  mkdir -p "$dir"
  cp "$run/config.json" "$run/summary.json" "$dir/"
  i=$((i + 1))
done
python3 "$src/scripts/plot.py" kv "$tmp"/kv/* -o "$tmp/kv.json" 2>"$tmp/err" || fail "kv failed: $(cat "$tmp/err")"
python3 - "$tmp/kv.json" "$src/results/kv-allocators/kv_allocators.json" <<'PY' || fail "kv names differ from the committed table"
import json, sys
new, old = (json.load(open(p)) for p in sys.argv[1:])
assert new["runs"] == old["runs"], sorted(set(new["runs"]) ^ set(old["runs"]))
assert new["request_throughput_gap"] == old["request_throughput_gap"]
PY
[[ -z $(find "$tmp" -name '*.tmp') ]] || fail "a temporary file was left behind"
echo "plot_test: rate and kv name runs from their config.json"
