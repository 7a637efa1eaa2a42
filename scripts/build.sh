#!/usr/bin/env bash
# Configures and builds a preset (default: release), optionally only some targets.
# Usage: [SLSIM_WERROR=ON] [SLSIM_PYTHON=ON] scripts/build.sh [preset [target...]]
# SLSIM_WERROR=ON (as CI sets it) makes every compiler warning an error; unset, it is OFF.
# SLSIM_PYTHON=ON (as CI sets it) requires the Python module; unset, it is built when pybind11 is found.
set -euo pipefail
cd "$(dirname "$0")/.."
preset="${1:-release}"
shift || true
targets=()
for t in "$@"; do targets+=(--target "$t"); done
cmake --preset "$preset" -DSLSIM_WERROR="${SLSIM_WERROR:-OFF}" -DSLSIM_PYTHON="${SLSIM_PYTHON:-AUTO}" >/dev/null
cmake --build --preset "$preset" -j "$(nproc)" "${targets[@]}"
