#!/usr/bin/env bash
# Runs clang-tidy 14 with the checks of .clang-tidy over the source files of sim/ (their headers
# under sim/ included), using the compile commands of a configured build (default
# build/release, which CI has just built). Prints the findings and exits 1 if there is one.
#
# --since REV checks only what changed after REV: the .cc files that differ from it and those
# that include a header that differs. CI passes the last commit whose CI run passed
# (.ci/tidy_clean_at), since the whole of sim/ took ~5 of CI's 30 minutes on 2 cores. Where REV
# is not in the clone, or .clang-tidy itself changed, every file is checked.
# Usage: scripts/check_tidy.sh [--since REV] [BUILD_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
since=""
if [[ "${1:-}" == --since ]]; then
  since="$2"
  shift 2
fi
build="${1:-build/release}"
if [[ ! -f "$build/compile_commands.json" ]]; then
  echo "check_tidy: no $build/compile_commands.json; configure first (cmake --preset release)" >&2
  exit 2
fi
tidy="$(command -v clang-tidy-14 || command -v clang-tidy)"
mapfile -t all_files < <(git ls-files --cached --others --exclude-standard -- 'sim/*.cc')
files=("${all_files[@]}")
scope="files of sim/"
if [[ -n "$since" ]] && git rev-parse -q --verify "$since^{commit}" >/dev/null &&
    git diff --quiet "$since" -- .clang-tidy; then
  mapfile -t changed < <({ git diff --name-only "$since" -- 'sim/*.cc' 'sim/*.h'; \
      git ls-files --others --exclude-standard -- 'sim/*.cc' 'sim/*.h'; } | sort -u)
  # Changed headers, then the headers that include them, until no more are added.
  headers=()
  for path in "${changed[@]}"; do
    [[ "$path" == *.h ]] && headers+=("$path")
  done
  grown=1
  while ((grown)); do
    grown=0
    for header in "${headers[@]}"; do
      while read -r includer; do
        printf '%s\n' "${headers[@]}" | grep -qxF "$includer" && continue
        headers+=("$includer")
        grown=1
      done < <(grep -rlF --include='*.h' "#include \"$header\"" sim || true)
    done
  done
  files=()
  for file in "${all_files[@]}"; do
    selected=0
    printf '%s\n' "${changed[@]}" | grep -qxF "$file" && selected=1
    for header in "${headers[@]}"; do
      ((selected)) && break
      grep -qF "#include \"$header\"" "$file" && selected=1
    done
    ((selected)) && files+=("$file")
  done
  scope="files of sim/ changed since $(git rev-parse --short "$since") (or including a changed header)"
fi
if [[ ${#files[@]} -eq 0 ]]; then
  echo "check_tidy: no file of sim/ changed since $since"
  exit 0
fi
# Each file's findings are printed together, and only when it has some.
if printf '%s\n' "${files[@]}" | xargs -P "$(nproc)" -I{} sh -c \
    'out=$("$0" -p "$1" --quiet "{}" 2>&1) || { printf "%s\n" "$out"; exit 1; }' "$tidy" "$build"; then
  echo "check_tidy: ${#files[@]} $scope pass .clang-tidy"
else
  echo "check_tidy: findings above (.clang-tidy lists the checks)"
  exit 1
fi
