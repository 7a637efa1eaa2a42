#!/usr/bin/env bash
# Installs the Debian packages slsim needs (SLSIM_WITH_MPI=1 adds Boost.MPI and OpenMPI). Idempotent: installs only what is missing and runs
# `apt-get update` at most once.
set -euo pipefail

packages=(
  g++ cmake ninja-build git
  libboost-dev libboost-program-options-dev libboost-graph-dev
  nlohmann-json3-dev libfmt-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  python3 python3-matplotlib python3-numpy
  python3-dev pybind11-dev python3-pybind11 python3-pandas python3-plotly chromium-headless-shell
  clang libclang-rt-14-dev valgrind clang-format-14 clang-tidy-14
)
# The MPI build of `slsim sweep` (cmake --preset mpi) only when asked: SLSIM_WITH_MPI=1.
if [ "${SLSIM_WITH_MPI:-0}" = 1 ]; then
  packages+=(libboost-mpi-dev libboost-serialization-dev openmpi-bin libopenmpi-dev)
fi

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "setup: all ${#packages[@]} packages present"
  exit 0
fi

sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
echo "setup: installing ${missing[*]}"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
