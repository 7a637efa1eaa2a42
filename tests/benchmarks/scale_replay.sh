#!/usr/bin/env bash
# The ServeGen m-large replay on 1,000 GPUs (tests/benchmarks/scale/m_large.json: 125 x
# dgx-h100, six models, no requests.csv), timed with /usr/bin/time -v. The cluster keeps up:
# `kpa` (Knative's defaults) scales each model with its load, where the default `on-demand` only
# scales from zero (one instance per model, which m-large's ~200 requests/s outgrow), and the
# remote store serves 100 GB/s, where the default 1.25 GB/s (one 10 GbE store) makes a fresh
# instance wait ~45 min behind the others' 18 GB checkpoints. See docs/decisions.md.
# Usage: tests/benchmarks/scale_replay.sh [START_S [DURATION_S [EXTRA slsim run ARGS...]]]
# (defaults: the whole 14 days). Prints wall seconds, max RSS, requests and requests per second.
# SLSIM=path/to/slsim times another build (default build/release/sim/slsim), e.g. a before/after pair.
set -euo pipefail
cd "$(dirname "$0")/../.."
start_s="${1:-0}"
duration_s="${2:-null}"
shift $(( $# < 2 ? $# : 2 ))
out="$(mktemp -d)"
/usr/bin/time -v -o "$out/time.txt" "${SLSIM:-build/release/sim/slsim}" run tests/benchmarks/scale/m_large.json -o "$out/run" \
  --set "workload.sources.0.start_s=$start_s" --set "workload.sources.0.duration_s=$duration_s" "$@" >"$out/stdout.txt"
wall=$(awk -F': ' '/Elapsed \(wall clock\)/ {n = split($2, t, ":"); s = 0; for (i = 1; i <= n; ++i) s = s * 60 + t[i]; print s}' "$out/time.txt")
rss_kb=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$out/time.txt")
python3 - "$out/run/summary.json" "$wall" "$rss_kb" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
wall, rss = float(sys.argv[2]), int(sys.argv[3])
print(f"window: {s['simulated_s']:.0f} simulated s; requests {s['requests']} (completed {s['completed']}, "
      f"rejected {s['rejected']}); events {s['events']}")
print(f"wall {wall:.1f} s; max RSS {rss / 1024:.0f} MiB; {s['requests'] / wall:,.0f} requests/s; "
      f"{s['events'] / wall:,.0f} events/s")
PY
rm -rf "$out"
