#!/usr/bin/env bash
# Reruns the testbed-vs-slsim comparison (configs/, sim/, comparison*.json, cdf_*.png) from the
# committed testbed runs, then the request-by-request decomposition (decomposition.txt).
# SLSIM_BINARY (or SLSIM): the slsim binary (default build/release/sim/slsim).
set -euo pipefail
cd "$(dirname "$0")/../.."
SLSIM_BINARY=${SLSIM_BINARY:-${SLSIM:-build/release/sim/slsim}} /usr/bin/python3 results/validation-coldstart/compare.py "$@"
if [ "$#" -eq 0 ]; then
  /usr/bin/python3 results/validation-coldstart/decompose.py > results/validation-coldstart/decomposition.txt
fi
