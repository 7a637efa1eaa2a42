#!/usr/bin/env bash
# Checks that the version stamp follows the source tree at build time, not at configure time:
#  1. in a throwaway clone, configured once: the generated version.cc names the clone's commit;
#     after a new commit, building again (no reconfigure) names the new one; a build with
#     nothing new leaves the file untouched, so nothing recompiles;
#  2. BUILD_DIR's slsim (built just before, default build/release) reports
#     `git describe --always --dirty --abbrev=12` of this tree.
# Usage: scripts/check_version_stamp.sh [BUILD_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
build="${1:-build/release}"
describe() { git -C "$1" describe --always --dirty --abbrev=12; }
fail() { echo "check_version_stamp: $*" >&2; exit 1; }

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
git clone -q --no-hardlinks . "$tmp/src"
cmake -S "$tmp/src" -B "$tmp/build" -G Ninja -DSLSIM_BUILD_KERNELS=OFF >/dev/null
stamp="$tmp/build/sim/generated/version.cc"
cmake --build "$tmp/build" --target slsim_version >/dev/null
grep -q "\"$(describe "$tmp/src")\"" "$stamp" || fail "the stamp does not name the clone's commit"
git -C "$tmp/src" -c user.name=ci -c user.email=ci@localhost commit -q --allow-empty -m "a new commit"
cmake --build "$tmp/build" --target slsim_version >/dev/null
grep -q "\"$(describe "$tmp/src")\"" "$stamp" || fail "after a commit, the stamp still names the old one"
sleep 1
touch "$tmp/marker"
cmake --build "$tmp/build" --target slsim_version >/dev/null
[[ ! "$stamp" -nt "$tmp/marker" ]] || fail "a build with the same commit rewrote the stamp"

reported="$("$build/sim/slsim" --version)"
[[ "$reported" == "slsim $(describe .)" ]] ||
  fail "$build/sim/slsim reports '$reported', the tree is '$(describe .)' (rebuild?)"
echo "check_version_stamp: the stamp follows commits without reconfiguring; $reported"
