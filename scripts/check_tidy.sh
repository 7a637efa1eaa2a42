#!/usr/bin/env bash
# Runs clang-tidy 14 with the checks of .clang-tidy over every source file of sim/ (their headers
# under sim/ included), using the compile commands of a configured build (default
# build/release, which CI has just built). Prints the findings and exits 1 if there is one.
# Usage: scripts/check_tidy.sh [BUILD_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
build="${1:-build/release}"
if [[ ! -f "$build/compile_commands.json" ]]; then
  echo "check_tidy: no $build/compile_commands.json; configure first (cmake --preset release)" >&2
  exit 2
fi
tidy="$(command -v clang-tidy-14 || command -v clang-tidy)"
mapfile -t files < <(git ls-files --cached --others --exclude-standard -- 'sim/*.cc')
# Each file's findings are printed together, and only when it has some.
if printf '%s\n' "${files[@]}" | xargs -P "$(nproc)" -I{} sh -c \
    'out=$("$0" -p "$1" --quiet "{}" 2>&1) || { printf "%s\n" "$out"; exit 1; }' "$tidy" "$build"; then
  echo "check_tidy: ${#files[@]} files of sim/ pass .clang-tidy"
else
  echo "check_tidy: findings above (.clang-tidy lists the checks)"
  exit 1
fi
