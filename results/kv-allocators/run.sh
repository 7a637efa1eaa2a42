#!/usr/bin/env bash
# Reproduces results/kv-allocators/ from the repository root's release build:
#   cmake --preset release && cmake --build --preset release && results/kv-allocators/run.sh
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
slsim="${SLSIM:-$here/../../build/release/sim/slsim}"
config="$here/experiment.json"
runs="$here/runs"
rm -rf "$runs"
# paged: vLLM; contiguous: a 2048-token reservation per sequence (Orca (Max)); oracle: a
# reservation of exactly the request's length, known in advance (Orca (Oracle)).
declare -A allocator_settings=(
  [paged]="engine.kv_allocator=paged"
  [contiguous]="engine.kv_allocator=contiguous"
  [oracle]="engine.kv_allocator=contiguous engine.contiguous_reservation=exact")
for allocator in paged contiguous oracle; do
  sets=()
  for s in ${allocator_settings[$allocator]}; do sets+=(--set "$s"); done
  "$slsim" run "$config" -o "$runs/$allocator" "${sets[@]}"
  for n in 2 4 6; do
    "$slsim" run "$config" -o "$runs/$allocator-n$n" "${sets[@]}" --set workload.sources.0.samples=$n
    "$slsim" run "$config" -o "$runs/$allocator-beam$n" "${sets[@]}" --set workload.sources.0.beam_width=$n
  done
done
python3 "$here/../../scripts/plot.py" kv "$runs"/paged "$runs"/paged-* "$runs"/contiguous "$runs"/contiguous-* \
  "$runs"/oracle "$runs"/oracle-* -o "$here/kv_allocators.json" --plot "$here/kv_allocators.png"
