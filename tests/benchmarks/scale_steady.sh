#!/usr/bin/env bash
# Steady, warm load on 100, 1,000 and 10,000 GPUs and at three request rates on 1,000 GPUs:
# tests/benchmarks/scale/steady.json (six 7B/13B models, Poisson arrivals, 256/64 tokens) with
# the `fixed` autoscaler holding GPUs / 6 instances per model (every GPU serves) and a remote
# store fast enough (100 TB/s) that all instances are up within seconds of simulated time, so
# the run measures serving, not the first loads. Arrivals span SECONDS (default 60) at each rate.
# Usage: tests/benchmarks/scale_steady.sh [SECONDS [SLSIM]]   (SLSIM: build/release/sim/slsim)
# Prints one row per point: requests, events, wall seconds, requests/s, events/s, max RSS.
set -euo pipefail
cd "$(dirname "$0")/../.."
seconds="${1:-60}"
slsim="${2:-build/release/sim/slsim}"
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT
printf '%7s %10s %10s %10s %8s %12s %12s %9s\n' gpus rate_per_s requests events wall_s requests/s events/s rss_mib
for point in 100:1000 1000:1000 10000:1000 1000:100 1000:10000; do
  gpus="${point%%:*}"
  rate="${point##*:}"
  /usr/bin/time -f '%e %M' -o "$out/time.txt" "$slsim" run tests/benchmarks/scale/steady.json -o "$out/run" \
    --set "cluster.server_groups.0.count=$((gpus / 8))" --set cluster.remote_storage_gbps=100000 \
    --set "policies.autoscale={\"name\": \"fixed\", \"params\": {\"instances\": $((gpus / 6))}}" \
    --set "workload.sources.0.rate_per_s=$rate" --set "workload.sources.0.requests=$((rate * seconds))" >/dev/null
  read -r wall rss_kb <"$out/time.txt"
  python3 - "$out/run/summary.json" "$gpus" "$rate" "$wall" "$rss_kb" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
gpus, rate, wall, rss = int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4]), int(sys.argv[5])
print(f"{gpus:7d} {rate:10d} {s['requests']:10d} {s['events']:10d} {wall:8.2f} {s['requests'] / wall:12,.0f} "
      f"{s['events'] / wall:12,.0f} {rss / 1024:9.0f}")
PY
done
