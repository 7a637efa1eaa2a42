#!/usr/bin/env bash
# The cold-start systems side by side (issue 20; so far the phased start-ups: full, medusa,
# foundry; the load sources: tiered, blitzscale, with live scaling, hydraserve, lambdascale,
# deepserve; and a pre-initialized runtime pool, prewarmed). Two workloads: the demo's (results/demo/experiment.json: Azure LLM 2023 conv and code
# traces, llama-3.1-8b and qwen3-32b (TP 4) on two DGX H100) across keep-alives, and the three
# cold-start validation workloads, whose start-up phases were measured on the same H100
# (results/validation-coldstart/). Then make_figures.py writes systems.json and the plots.
set -euo pipefail
cd "$(dirname "$0")/../.."
slsim=$(realpath "${SLSIM:-build/release/sim/slsim}")
here=results/coldstart-systems
rm -rf "$here/points" "$here/validation" "$here/load-points"
"$slsim" sweep results/demo/experiment.json -o "$here/points" -j "${JOBS:-2}" \
  --grid policies.startup.name=full,medusa,foundry --grid policies.keepalive.params.ttl_s=0,10,60,300
for workload in conv120-ttl0 conv120-ttl30 conv120-ttl300; do
  for system in full medusa foundry; do
    "$slsim" run "results/validation-coldstart/configs/$workload.json" -o "$here/validation/$workload-$system" \
      --set policies.startup.name=$system --set output.requests_csv=false > /dev/null
  done
done
# Load sources on the demo: with the profile's host caches (1 TiB DRAM, 24.6 TB SSD per server)
# and with none (every load not from a GPU comes from the 1.25 GB/s store), x two start-ups.
# Knative's autoscaler at 10 requests per instance scales out in bursts (the demo's on-demand
# starts one instance per model only when none is left, so no GPU ever holds the model then).
"$slsim" sweep results/demo/experiment.json -o "$here/load-points" -j "${JOBS:-2}" \
  --set policies.autoscale.name=kpa --set policies.autoscale.params.target_concurrency=10 \
  --grid policies.load_source.name=tiered,blitzscale --grid policies.keepalive.params.ttl_s=0,60 \
  --grid policies.startup.name=full,foundry \
  --zip 'cluster.server_groups.0.server.dram_cache_bytes=1099511627776,0;cluster.server_groups.0.server.ssd_cache_bytes=24576000000000,0'
# BlitzScale's live scaling on the same points (tiered and blitzscale without it are load-points').
rm -rf "$here/live-points"
"$slsim" sweep results/demo/experiment.json -o "$here/live-points" -j "${JOBS:-2}" \
  --set policies.autoscale.name=kpa --set policies.autoscale.params.target_concurrency=10 \
  --set policies.load_source.name=blitzscale --set policies.load_source.params.live_scaling=true \
  --grid policies.keepalive.params.ttl_s=0,60 --grid policies.startup.name=full,foundry \
  --zip 'cluster.server_groups.0.server.dram_cache_bytes=1099511627776,0;cluster.server_groups.0.server.ssd_cache_bytes=24576000000000,0'
# Load balance by partial live migration on the demo under the same Knative autoscaler (several
# instances per model): no rebalancing, Llumnix's by KV share (threshold 0.1, 0.05) and by requests (2).
rm -rf "$here/rebalance"
for variant in none kv-0.1 kv-0.05 requests-2; do
  args=(--set policies.rebalance.name=none)
  [ "$variant" = none ] || args=(--set policies.rebalance.name=llumnix --set "policies.rebalance.params.metric=${variant%-*}"
                                 --set "policies.rebalance.params.threshold=${variant#*-}")
  "$slsim" run results/demo/experiment.json -o "$here/rebalance/$variant" --set policies.autoscale.name=kpa \
    --set policies.autoscale.params.target_concurrency=10 --set output.requests_csv=false \
    --set output.timeseries_interval_s=0 "${args[@]}" > /dev/null
done
# The same from a pool of pre-initialized runtimes (prewarmed start-up: no process start, CUDA
# context or engine set-up online; compilation and capture as measured (restore_fraction 1) or
# restored at 0.01 as with Foundry's templates): tiered and blitzscale, then blitzscale with live
# scaling.
rm -rf "$here/prewarm-points" "$here/prewarm-live-points"
prewarmed=(--set policies.autoscale.name=kpa --set policies.autoscale.params.target_concurrency=10
  --set policies.startup.name=prewarmed --grid policies.startup.params.restore_fraction=1,0.01
  --grid policies.keepalive.params.ttl_s=0,60
  --zip 'cluster.server_groups.0.server.dram_cache_bytes=1099511627776,0;cluster.server_groups.0.server.ssd_cache_bytes=24576000000000,0')
"$slsim" sweep results/demo/experiment.json -o "$here/prewarm-points" -j "${JOBS:-2}" "${prewarmed[@]}" \
  --grid policies.load_source.name=tiered,blitzscale
"$slsim" sweep results/demo/experiment.json -o "$here/prewarm-live-points" -j "${JOBS:-2}" "${prewarmed[@]}" \
  --set policies.load_source.name=blitzscale --set policies.load_source.params.live_scaling=true
# A burst: the demo's traces over their first 600 s at 3x the rate (each arrival emitted three
# times), one warm instance per model from t = 0 and kept (Knative's min_scale 1), so that
# Knative (10 requests per instance) must scale out while those instances are overloaded: on the
# demo's two DGX H100 and on four, prewarmed start-up (restore 1 and 0.01), keep-alive 60 s, with
# and without host caches; tiered and blitzscale, then blitzscale with live scaling, then lambdascale.
rm -rf "$here/burst-points" "$here/burst-live-points" "$here/burst-lambda-points"
burst=(--set policies.autoscale.name=kpa --set policies.autoscale.params.target_concurrency=10
  --set policies.autoscale.params.min_scale=1 --set policies.startup.name=prewarmed
  --grid policies.startup.params.restore_fraction=1,0.01 --set policies.keepalive.params.ttl_s=60
  --grid cluster.server_groups.0.count=2,4 --set 'cluster.instances_at_start=[{"model":"llama-3.1-8b"},{"model":"qwen3-32b"}]'
  --set workload.sources.0.duration_s=600 --set workload.sources.1.duration_s=600
  --set workload.sources.0.rate_scale=3 --set workload.sources.1.rate_scale=3
  --set output.requests_csv=false --set output.timeseries_interval_s=0
  --zip 'cluster.server_groups.0.server.dram_cache_bytes=1099511627776,0;cluster.server_groups.0.server.ssd_cache_bytes=24576000000000,0')
"$slsim" sweep results/demo/experiment.json -o "$here/burst-points" -j "${JOBS:-2}" "${burst[@]}" \
  --grid policies.load_source.name=tiered,blitzscale
"$slsim" sweep results/demo/experiment.json -o "$here/burst-live-points" -j "${JOBS:-2}" "${burst[@]}" \
  --set policies.load_source.name=blitzscale --set policies.load_source.params.live_scaling=true
# lambdaScale on the same points: BlitzScale's multicast with execute-while-load (lambdaPipe).
"$slsim" sweep results/demo/experiment.json -o "$here/burst-lambda-points" -j "${JOBS:-2}" "${burst[@]}" \
  --set policies.load_source.name=lambdascale
# DeepServe's fork on the same burst: tiered, blitzscale and deepserve (a load reading a loaded
# instance forks it: fork_s 0.5 s in place of the process start, CUDA context and engine set-up,
# no compilation or graph capture) under every phase online (full) and from the pre-initialized
# pool (prewarmed, restore 1 and 0.01); then deepserve with a 4.5 s fork (the paper's 4.75 s
# scale-out less the copy).
rm -rf "$here/fork-points" "$here/fork-slow-points"
fork=(--set policies.autoscale.name=kpa --set policies.autoscale.params.target_concurrency=10
  --set policies.autoscale.params.min_scale=1 --set policies.keepalive.params.ttl_s=60
  --zip 'policies.startup.name=full,prewarmed,prewarmed;policies.startup.params=null,{"restore_fraction":1},{"restore_fraction":0.01}'
  --grid cluster.server_groups.0.count=2,4 --set 'cluster.instances_at_start=[{"model":"llama-3.1-8b"},{"model":"qwen3-32b"}]'
  --set workload.sources.0.duration_s=600 --set workload.sources.1.duration_s=600
  --set workload.sources.0.rate_scale=3 --set workload.sources.1.rate_scale=3
  --set output.requests_csv=false --set output.timeseries_interval_s=0
  --zip 'cluster.server_groups.0.server.dram_cache_bytes=1099511627776,0;cluster.server_groups.0.server.ssd_cache_bytes=24576000000000,0')
"$slsim" sweep results/demo/experiment.json -o "$here/fork-points" -j "${JOBS:-2}" "${fork[@]}" \
  --grid policies.load_source.name=tiered,blitzscale,deepserve
"$slsim" sweep results/demo/experiment.json -o "$here/fork-slow-points" -j "${JOBS:-2}" "${fork[@]}" \
  --set policies.load_source.name=deepserve --set policies.load_source.params.fork_s=4.5
# DeepServe's "64 instances in seconds": scale64-experiment.json, eight DGX H100 (64 GPUs), one warm
# llama-3.1-8b instance at t = 0 and Knative's min_scale 64, so that its first tick starts 63
# instances at once; tiered, blitzscale, deepserve and deepserve with a 4.5 s fork, full and prewarmed.
rm -rf "$here/scale64-points"
"$slsim" sweep "$here/scale64-experiment.json" -o "$here/scale64-points" -j "${JOBS:-2}" \
  --zip 'policies.load_source.name=tiered,blitzscale,deepserve,deepserve;policies.load_source.params=null,null,null,{"fork_s":4.5}' \
  --grid policies.startup.name=full,prewarmed
# HydraServe's parallel cold start where checkpoints come from remote storage: eight DGX H100
# whose storage NICs are 25 Gb/s (3.125 GB/s, a public cloud's per-server bandwidth; assumption)
# behind a 100 GB/s object store, no host caches, the demo's traces over their first 600 s at
# their own rate, Knative (10 requests per instance), keep-alive 60 s, full and prewarmed
# (restore 0.01) start-up; tiered and blitzscale, then hydraserve over 2 and 4 servers.
rm -rf "$here/parallel-points" "$here/parallel-hydra-points"
parallel=(--set cluster.server_groups.0.count=8 --set cluster.server_groups.0.server.nic_gbytes_per_s=3.125
  --set cluster.remote_storage_gbytes_per_s=100 --set cluster.server_groups.0.server.dram_cache_bytes=0
  --set cluster.server_groups.0.server.ssd_cache_bytes=0 --set policies.autoscale.name=kpa
  --set policies.autoscale.params.target_concurrency=10 --set policies.keepalive.params.ttl_s=60
  --set workload.sources.0.duration_s=600 --set workload.sources.1.duration_s=600
  --set output.requests_csv=false --set output.timeseries_interval_s=0
  --zip 'policies.startup.name=full,prewarmed;policies.startup.params=null,{"restore_fraction":0.01}')
"$slsim" sweep results/demo/experiment.json -o "$here/parallel-points" -j "${JOBS:-2}" "${parallel[@]}" \
  --grid policies.load_source.name=tiered,blitzscale
"$slsim" sweep results/demo/experiment.json -o "$here/parallel-hydra-points" -j "${JOBS:-2}" "${parallel[@]}" \
  --set policies.load_source.name=hydraserve --grid policies.load_source.params.parallel_servers=2,4
/usr/bin/python3 "$here/make_figures.py"
