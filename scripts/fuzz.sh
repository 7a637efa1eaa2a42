#!/usr/bin/env bash
# Builds the libFuzzer targets (preset `fuzz`, clang) and fuzzes each from its committed corpus
# in tests/fuzz/corpus/. New inputs go to build/fuzz/corpus/ (copy the useful ones into the
# committed corpus); a crash leaves its input in build/fuzz/artifacts/ and fails the script:
# turn it into a regression test.
#   scripts/fuzz.sh [SECONDS]   explore for SECONDS per target (default 45) from a random seed
#   scripts/fuzz.sh --ci        what CI runs: seed 1 and a fixed number of inputs per target
#                               (~45 s each on a 2-core machine), so that a CI result depends on
#                               the code alone, never on the machine's speed or the clock
set -euo pipefail
cd "$(dirname "$0")/.."
declare -A ci_runs=([trace_reader]=40000 [config]=1000000)
mode="${1:-45}"
bash scripts/build.sh fuzz
mkdir -p build/fuzz/artifacts
for target in trace_reader config; do
  if [[ "$mode" == --ci ]]; then
    limits=(-seed=1 -runs="${ci_runs[$target]}")
  else
    limits=(-max_total_time="$mode")
  fi
  mkdir -p "build/fuzz/corpus/$target"
  "build/fuzz/tests/fuzz/fuzz_$target" "${limits[@]}" -timeout=10 -rss_limit_mb=4096 \
    -artifact_prefix="build/fuzz/artifacts/$target-" "build/fuzz/corpus/$target" "tests/fuzz/corpus/$target"
done
