#!/usr/bin/env bash
# Steady, warm load on 100, 1,000 and 10,000 GPUs and at three request rates on 1,000 GPUs:
# tests/benchmarks/scale/steady.json (six 7B/13B models, Poisson arrivals, 256/64 tokens) with
# the `fixed` autoscaler holding GPUs / 6 instances per model (every GPU serves) and a remote
# store fast enough (100 TB/s) that all instances are up within seconds of simulated time, so
# the run measures serving, not the first loads. Arrivals span SECONDS (default 60) at each rate.
# Each point runs REPEAT times (default 3) and keeps the fastest, the machine's noise being
# one-sided; it also runs a tenth of the arrivals, and `marginal` is the rate between the two
# runs: the steady simulation, start-up (placing and loading every instance) excluded.
# Usage: tests/benchmarks/scale_steady.sh [SECONDS [SLSIM]]   (SLSIM: build/release/sim/slsim)
# Prints one row per point: requests, events, wall seconds, requests/s, marginal requests/s,
# events/s, max RSS.
set -euo pipefail
cd "$(dirname "$0")/../.."
seconds="${1:-60}"
slsim="${2:-build/release/sim/slsim}"
repeat="${REPEAT:-3}"
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT
# Runs one point with `requests` arrivals REPEAT times; prints "best_wall_s rss_kb".
run_point() {
  local gpus=$1 rate=$2 requests=$3 best="" rss=0
  for ((i = 0; i < repeat; ++i)); do
    local start end
    start=$(date +%s%N)
    /usr/bin/time -f '%M' -o "$out/time.txt" "$slsim" run tests/benchmarks/scale/steady.json -o "$out/run" \
      --set "cluster.server_groups.0.count=$((gpus / 8))" --set cluster.remote_storage_gbytes_per_s=100000 \
      --set "policies.autoscale={\"name\": \"fixed\", \"params\": {\"instances\": $((gpus / 6))}}" \
      --set "workload.sources.0.rate_per_s=$rate" --set "workload.sources.0.requests=$requests" >/dev/null
    end=$(date +%s%N)
    local wall=$((end - start))
    if [[ -z "$best" || $wall -lt $best ]]; then best=$wall; fi
    rss=$(cat "$out/time.txt")
  done
  echo "$best $rss"
}
printf '%7s %10s %10s %10s %8s %12s %12s %12s %9s\n' gpus rate_per_s requests events wall_s requests/s marginal/s events/s rss_mib
for point in 100:1000 1000:1000 10000:1000 1000:100 1000:10000; do
  gpus="${point%%:*}"
  rate="${point##*:}"
  read -r short_ns _ < <(run_point "$gpus" "$rate" $((rate * seconds / 10)))
  read -r wall_ns rss_kb < <(run_point "$gpus" "$rate" $((rate * seconds)))
  python3 - "$out/run/summary.json" "$gpus" "$rate" "$wall_ns" "$short_ns" "$rss_kb" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
gpus, rate, wall_ns, short_ns, rss = (int(a) for a in sys.argv[2:7])
wall, short = wall_ns / 1e9, short_ns / 1e9
marginal = s['requests'] * 0.9 / (wall - short) if wall > short else float('nan')
print(f"{gpus:7d} {rate:10d} {s['requests']:10d} {s['events']:10d} {wall:8.3f} {s['requests'] / wall:12,.0f} "
      f"{marginal:12,.0f} {s['events'] / wall:12,.0f} {rss / 1024:9.0f}")
PY
done
