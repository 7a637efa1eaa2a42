#!/usr/bin/env bash
# The cold-start systems side by side (issue 20; so far the phased start-ups: full, medusa,
# foundry). Two workloads: the demo's (results/demo/experiment.json: Azure LLM 2023 conv and code
# traces, llama-3.1-8b and qwen3-32b (TP 4) on two DGX H100) across keep-alives, and the three
# cold-start validation workloads, whose start-up phases were measured on the same H100
# (results/validation-coldstart/). Then make_figures.py writes systems.json and the plots.
set -euo pipefail
cd "$(dirname "$0")/../.."
slsim=$(realpath "${SLSIM:-build/release/sim/slsim}")
here=results/coldstart-systems
rm -rf "$here/points" "$here/validation"
"$slsim" sweep results/demo/experiment.json -o "$here/points" -j "${JOBS:-2}" \
  --grid policies.startup.name=full,medusa,foundry --grid policies.keepalive.params.ttl_s=0,10,60,300
for workload in conv120-ttl0 conv120-ttl30 conv120-ttl300; do
  for system in full medusa foundry; do
    "$slsim" run "results/validation-coldstart/configs/$workload.json" -o "$here/validation/$workload-$system" \
      --set policies.startup.name=$system --set output.requests_csv=false > /dev/null
  done
done
/usr/bin/python3 "$here/make_figures.py"
