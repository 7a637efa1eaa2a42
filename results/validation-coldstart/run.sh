#!/usr/bin/env bash
# Reruns the testbed-vs-slsim comparison (configs/, sim/, comparison*.json, cdf_*.png) from the
# committed testbed runs, then the request-by-request decomposition (decomposition.txt).
# SLSIM_BINARY (or SLSIM): the slsim binary (default build/release/sim/slsim).
set -euo pipefail
cd "$(dirname "$0")/../.."
export SLSIM_BINARY=${SLSIM_BINARY:-${SLSIM:-build/release/sim/slsim}}
if [ "$#" -eq 0 ]; then
  # Runs 5 and 6 (two other cards; their instances computed on NaN weights, README): the same
  # workloads measured before run 7, each against slsim with its own folder's start-up and rates.
  for run in 5 6; do
    /usr/bin/python3 results/validation-coldstart/compare.py --out results/validation-coldstart/comparison_run$run.json \
      --measurements models/calibration/measurements/h100-sxm/testbed/graphs-run$run > /dev/null
  done
fi
/usr/bin/python3 results/validation-coldstart/compare.py "$@"
if [ "$#" -eq 0 ]; then
  /usr/bin/python3 results/validation-coldstart/decompose.py > results/validation-coldstart/decomposition.txt
fi
