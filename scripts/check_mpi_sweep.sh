#!/usr/bin/env bash
# CI: a two-rank MPI sweep must write the same sweep.csv and point files as one process.
# Needs an slsim built with SLSIM_MPI=ON (SLSIM_WITH_MPI=1 scripts/setup.sh; cmake --preset mpi;
# cmake --build --preset mpi --target slsim), by default build/mpi/sim/slsim; SLSIM_BINARY names
# another. Usage: [SLSIM_BINARY=...] scripts/check_mpi_sweep.sh [WORK_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
slsim=${SLSIM_BINARY:-build/mpi/sim/slsim}
work=${1:-$(mktemp -d)}
rm -rf "$work/single" "$work/ranks"
# CI runs as root; OpenMPI refuses root unless told, also for a process started without mpirun.
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
sweep=(sweep tests/testdata/small_replay.json --set duration_s=120
       --grid policies.keepalive.params.ttl_s=0,10,60 --grid seed=7,8 -j 2)
"$slsim" "${sweep[@]}" -o "$work/single"
mpirun --allow-run-as-root --oversubscribe -np 2 "$slsim" "${sweep[@]}" -o "$work/ranks"
diff -r "$work/single" "$work/ranks"
echo "check_mpi_sweep: two ranks and one process agree ($(($(wc -l < "$work/ranks/sweep.csv") - 1)) points)"
