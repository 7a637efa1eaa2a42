#!/usr/bin/env bash
# Reruns the testbed-vs-slsim comparison (configs/, sim/, comparison*.json, cdf_*.png) from the
# committed testbed runs, then the request-by-request decomposition (decomposition.txt).
# SLSIM_BINARY (or SLSIM): the slsim binary (default build/release/sim/slsim).
set -euo pipefail
cd "$(dirname "$0")/../.."
export SLSIM_BINARY=${SLSIM_BINARY:-${SLSIM:-build/release/sim/slsim}}
if [ "$#" -eq 0 ]; then
  # Run 6's conv360-ttl30 on another card: the same workload as run 5's, measured again.
  /usr/bin/python3 results/validation-coldstart/compare.py --out results/validation-coldstart/comparison_run6.json \
    --measurements models/calibration/measurements/h100-sxm/testbed/graphs-run6 > /dev/null
fi
/usr/bin/python3 results/validation-coldstart/compare.py "$@"
if [ "$#" -eq 0 ]; then
  /usr/bin/python3 results/validation-coldstart/decompose.py > results/validation-coldstart/decomposition.txt
fi
