#!/usr/bin/env bash
# Sets up, builds and runs every test (GPU tests skip where no GPU exists).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/build.sh release
ctest --preset release -j "$(nproc)"
