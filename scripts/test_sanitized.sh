#!/usr/bin/env bash
# The test suite under AddressSanitizer + UndefinedBehaviorSanitizer, built by clang in the `fuzz`
# preset (optimised, with debug info), so that the same build also gives scripts/fuzz.sh its
# fuzzers. The two test binaries run side by side, one process each: ctest would start one
# process per test (400 of them), and the gcc -O0 `debug` preset took ~10x longer to run the
# suite and ~2x longer to build, which kept CI past its time budget on 2 cores.
# Usage: scripts/test_sanitized.sh [gtest flags...]
set -euo pipefail
cd "$(dirname "$0")/.."
binaries=(unit_tests integration_tests)
bash scripts/build.sh fuzz "${binaries[@]}" slsim fuzz_trace_reader fuzz_config
logs=$(mktemp -d)
trap 'rm -rf "$logs"' EXIT
pids=()
for binary in "${binaries[@]}"; do
  "build/fuzz/tests/$binary" --gtest_brief=1 "$@" > "$logs/$binary.log" 2>&1 &
  pids+=($!)
done
status=0
for i in "${!binaries[@]}"; do
  if ! wait "${pids[$i]}"; then
    status=1
    echo "test_sanitized: ${binaries[$i]} failed:"
  fi
  cat "$logs/${binaries[$i]}.log"
done
exit "$status"
