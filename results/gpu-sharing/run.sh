#!/usr/bin/env bash
# Many models at low rates on shared GPUs (issue 20: Prism/kvcached's elastic KV on a shared
# card, against Aegaeon's "82% fewer GPUs"). 16 models (8 copies each of llama-3.1-8b and
# gpt-oss-20b) get the Azure LLM 2023 conv and code traces at a tenth of their rates, each trace
# spread over 8 of them by Zipf popularity, for an hour. One server of N H100s, N = 1 .. 16:
# exclusive (one instance per GPU, today's default) against elastic-kv (8 seats per card, weights
# resident, KV from one pool of the card's memory, steps sharing its compute), at keep-alives of
# 60 s (the demo's) and 600 s; then 32 such models, whose weights do not all fit, with model
# switching (Aegaeon) beside them. make_figures.py writes gpu_sharing.json, gpu_sharing.png,
# gpu_sharing_32.json and gpu_sharing_32.png.
set -euo pipefail
cd "$(dirname "$0")/../.."
slsim=$(realpath "${SLSIM:-build/release/sim/slsim}")
here=results/gpu-sharing
rm -rf "$here/runs"
elastic=(--set cluster.server_groups.0.server.gpus_sharing_compute=8
  --set cluster.server_groups.0.server.gpu_memory_sharing=elastic-kv)
for ttl in 60 600; do
  for cards in 1 2 3 4 5 6 8 10 12 14 16; do
    common=(--set "policies.keepalive.params.ttl_s=$ttl")
    "$slsim" run "$here/experiment.json" -o "$here/runs/exclusive-ttl$ttl-gpus$cards" "${common[@]}" \
      --set "cluster.server_groups.0.server.gpus=$cards" > /dev/null
    "$slsim" run "$here/experiment.json" -o "$here/runs/elastic-ttl$ttl-gpus$cards" "${common[@]}" "${elastic[@]}" \
      --set "cluster.server_groups.0.server.gpus=$((cards * 8))" > /dev/null
  done
done
# Models whose weights do not all fit: 32 (16 copies each) get the same traces spread over 16
# models each. Beside exclusive and elastic-kv, switching (Aegaeon, SOSP'25: 8 seats per card,
# only one model's weights on the card at a time, token-level switches over the host link) with
# its scheduler (aegaeon) and with round robin at a fixed 2 s quantum (round-robin).
switching=(--set cluster.server_groups.0.server.gpus_sharing_compute=8
  --set cluster.server_groups.0.server.gpu_memory_sharing=switching)
for ttl in 60 600; do
  for cards in 1 2 3 4 5 6 8 10 12 16 20 24 28 32; do
    common=(--set "policies.keepalive.params.ttl_s=$ttl")
    seats=(--set "cluster.server_groups.0.server.gpus=$((cards * 8))")
    "$slsim" run "$here/experiment-32.json" -o "$here/runs/m32-exclusive-ttl$ttl-gpus$cards" "${common[@]}" \
      --set "cluster.server_groups.0.server.gpus=$cards" > /dev/null
    "$slsim" run "$here/experiment-32.json" -o "$here/runs/m32-elastic-ttl$ttl-gpus$cards" "${common[@]}" \
      "${elastic[@]}" "${seats[@]}" > /dev/null
    "$slsim" run "$here/experiment-32.json" -o "$here/runs/m32-switching-ttl$ttl-gpus$cards" "${common[@]}" \
      "${switching[@]}" "${seats[@]}" > /dev/null
    "$slsim" run "$here/experiment-32.json" -o "$here/runs/m32-switching_rr-ttl$ttl-gpus$cards" "${common[@]}" \
      "${switching[@]}" "${seats[@]}" --set policies.switching.name=round-robin > /dev/null
  done
done
/usr/bin/python3 "$here/make_figures.py"
