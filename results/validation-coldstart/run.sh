#!/usr/bin/env bash
# Reruns the testbed-vs-slsim comparison (configs/, sim/, comparison*.json, cdf_*.png) from the
# committed testbed runs. SLSIM: the slsim binary (default build/release/sim/slsim).
set -euo pipefail
cd "$(dirname "$0")/../.."
SLSIM=${SLSIM:-build/release/sim/slsim} /usr/bin/python3 results/validation-coldstart/compare.py "$@"
