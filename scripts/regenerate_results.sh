#!/usr/bin/env bash
# Regenerates every committed result under results/ with the current build: the demo
# (scripts/demo.sh) and each experiment's run.sh. results/calibration/ is not rerun here: it
# comes from GPU measurements (scripts/gpu_measure.sh, then `slsim calibrate`).
# Usage: scripts/regenerate_results.sh
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/demo.sh
for run in results/*/run.sh; do
  echo "regenerate_results: $run"
  bash "$run" > /dev/null
done
echo "regenerate_results: done; check results/REPRODUCTION.md against the new figures"
