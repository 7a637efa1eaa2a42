#!/usr/bin/env bash
# Prefix caching on multi-turn sessions (issue 18): a synthesized session trace (sessions.json:
# 100 sessions of 6 turns, a 512-token system prompt, 16-token blocks) replayed on four pinned
# llama-3.1-8b instances (one DGX H100), sweeping the GPU KV cache (engine.gpu_memory_utilization)
# × routing (least-outstanding, prefix-aware) × retention (while_referenced = vLLM v0, lru = v1).
# Then the KV offload tiers: the smallest GPU cache (utilization 0.23) with lru retention, under
# each routing, with a host-DRAM tier per server (cluster.kv_tiers.dram_bytes_per_server 0 … 64 GB)
# and with or without a 64 GB SSD tier below it (points-tiers/).
# trace stats gives the trace's infinite-cache hit bound; make_figures.py writes hit_rates.json
# and the plots, and fails if the largest cache with lru and prefix-aware routing is more than
# 2 points from the bound (the issue's acceptance).
set -euo pipefail
cd "$(dirname "$0")/../.."
slsim=$(realpath "${SLSIM:-build/release/sim/slsim}")
here=results/prefix-caching
rm -rf "$here/points" "$here/points-tiers" "$here/trace"
mkdir -p "$here/trace"
"$slsim" trace synth "$here/sessions.json" --seed 1 --max-context 8192 -o "$here/trace/sessions.csv" > /dev/null
"$slsim" trace stats "$here/trace/sessions.csv" --model-field model --samples-field samples --beam-field beam_width \
  --prefix-field prefix_blocks --prefix-block-tokens-field prefix_block_tokens --json > "$here/trace_stats.json"
"$slsim" sweep "$here/experiment.json" -o "$here/points" -j "${JOBS:-2}" \
  --grid policies.routing.name=least-outstanding,prefix-aware --grid engine.prefix_retention=while_referenced,lru \
  --grid engine.gpu_memory_utilization=0.23,0.24,0.26,0.3,0.4,0.5,0.6,0.7,0.8,0.9 > /dev/null
"$slsim" sweep "$here/experiment.json" -o "$here/points-tiers" -j "${JOBS:-2}" \
  --set engine.gpu_memory_utilization=0.23 --set engine.prefix_retention=lru \
  --grid policies.routing.name=least-outstanding,prefix-aware \
  --grid cluster.kv_tiers.ssd_bytes_per_server=0,64000000000 \
  --grid cluster.kv_tiers.dram_bytes_per_server=0,4000000000,8000000000,16000000000,32000000000,64000000000 > /dev/null
/usr/bin/python3 "$here/make_figures.py"
