#!/usr/bin/env bash
# Keep-alive x checkpoint caches on the demo's workload (results/demo/experiment.json: the Azure
# LLM 2023 traces on two DGX H100 servers), as one `slsim sweep`, then its plots.
set -euo pipefail
cd "$(dirname "$0")/../.."
slsim=${SLSIM:-build/release/sim/slsim}
here=results/keepalive-sweep
# Reference results are made afresh: points of an older slsim must not be reused.
rm -rf "$here/points"
"$slsim" sweep results/demo/experiment.json -o "$here/points" -j "${JOBS:-2}" \
  --grid policies.keepalive.params.ttl_s=0,10,30,60,300,600 \
  --zip 'policies.dram_cache.name=lru,none;policies.ssd_cache.name=lru,none;policies.keepalive.params.keep_checkpoint_in_dram=true,false'
cp "$here/points/sweep.csv" "$here/sweep.csv"
python3 scripts/plot.py sweep "$here/sweep.csv" --x policies.keepalive.params.ttl_s --y ttft_s.p99 \
  --by policies.dram_cache.name --xlabel "keep-alive (s)" --ylabel "TTFT p99 (s)" \
  --title "TTFT p99 against keep-alive, DRAM/SSD caches lru vs none" -o "$here/ttft_p99_vs_keepalive.png"
python3 scripts/plot.py sweep "$here/sweep.csv" --x policies.keepalive.params.ttl_s --y cold_starts \
  --by policies.dram_cache.name --xlabel "keep-alive (s)" --ylabel "cold starts (count)" \
  --title "Cold starts against keep-alive" -o "$here/cold_starts_vs_keepalive.png"
python3 scripts/plot.py pareto "$here/sweep.csv" --metric ttft_s --percentile p99 \
  --label policies.keepalive.params.ttl_s policies.dram_cache.name \
  --title "GPU time against TTFT p99" -o "$here/pareto_ttft_p99.json" --plot "$here/pareto_ttft_p99.png"
breakdown=()
for ttl in 0 60; do
  for cache in lru none; do
    point=$(awk -F, -v t="$ttl" -v c="$cache" 'NR>1 && $2==t && $3==c {print $1}' "$here/sweep.csv")
    ln -sfn "points/$point" "$here/ttl${ttl}-${cache}"
    breakdown+=("$here/ttl${ttl}-${cache}")
  done
done
python3 scripts/plot.py breakdown "${breakdown[@]}" --title "Where a cold start's wait goes" \
  -o "$here/cold_start_breakdown.png"
