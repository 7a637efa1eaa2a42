#!/usr/bin/env bash
# The main job: replays the bundled Azure LLM 2023 traces (conv -> Llama-3.1-8B, code ->
# Qwen3-32B) on two DGX H100 servers under four policies (no checkpoint cache with keep-alive
# 0 s; DRAM/SSD caches with keep-alive 0, 60 and 600 s), then plots them. Results land in
# results/demo/.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/build.sh release slsim  # the study needs only the CLI

slsim=build/release/sim/slsim
config=results/demo/experiment.json
rm -rf results/demo/keepalive-*s results/demo/no-cache-*
"$slsim" run "$config" -o results/demo/no-cache-keepalive-0s --set policies.keepalive.params.ttl_s=0 \
  --set policies.keepalive.params.keep_checkpoint_in_dram=false \
  --set policies.dram_cache.name=none --set policies.ssd_cache.name=none
runs=(results/demo/no-cache-keepalive-0s)
for ttl in 0 60 600; do
  out="results/demo/keepalive-${ttl}s"
  "$slsim" run "$config" -o "$out" --set "policies.keepalive.params.ttl_s=${ttl}"
  runs+=("$out")
done

python3 scripts/plot.py cdf "${runs[@]}" --metric ttft_s --log -o results/demo/ttft_cdf.png \
  --title "TTFT, Azure LLM 2023 traces (conv + code), 2 x DGX H100"
python3 scripts/plot.py cdf "${runs[@]}" --metric e2e_s --log -o results/demo/e2e_cdf.png \
  --title "End-to-end latency, Azure LLM 2023 traces (conv + code), 2 x DGX H100"
python3 scripts/plot.py compare "${runs[@]}" -o results/demo/summary.json --plot results/demo/cost_vs_cold_starts.png
echo "demo: results in results/demo/ (summary.json, ttft_cdf.png, e2e_cdf.png, cost_vs_cold_starts.png)"
