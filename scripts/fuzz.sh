#!/usr/bin/env bash
# Builds the libFuzzer targets (preset `fuzz`, clang) and fuzzes each for SECONDS (default 45)
# from its committed corpus in tests/fuzz/corpus/. New inputs go to build/fuzz/corpus/ (copy the
# useful ones into the committed corpus); a crash leaves its input in build/fuzz/artifacts/ and
# fails the script: turn it into a regression test. Usage: scripts/fuzz.sh [SECONDS]
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-45}"
cmake --preset fuzz >/dev/null
cmake --build --preset fuzz -j "$(nproc)"
mkdir -p build/fuzz/artifacts
for target in trace_reader config; do
  mkdir -p "build/fuzz/corpus/$target"
  "build/fuzz/tests/fuzz/fuzz_$target" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=4096 \
    -artifact_prefix="build/fuzz/artifacts/$target-" "build/fuzz/corpus/$target" "tests/fuzz/corpus/$target"
done
