#!/usr/bin/env bash
# Checks that the C++ and CUDA sources of sim/, tests/, kernels/ and python/ are formatted as .clang-format
# says (clang-format 14, which CI installs); lists each file that is not and exits 1.
# Fix with: clang-format-14 -i FILE...
set -euo pipefail
cd "$(dirname "$0")/.."
format="$(command -v clang-format-14 || command -v clang-format)"
mapfile -t files < <(git ls-files --cached --others --exclude-standard -- 'sim/*' 'tests/*' 'kernels/*' 'python/*' |
                     grep -E '\.(h|hpp|cc|cpp|cu|cuh)$')
unformatted=()
for f in "${files[@]}"; do
  "$format" --dry-run --Werror "$f" >/dev/null 2>&1 || unformatted+=("$f")
done
if ((${#unformatted[@]})); then
  printf '%s\n' "${unformatted[@]}"
  echo "check_format: ${#unformatted[@]} of ${#files[@]} files differ from .clang-format (clang-format-14 -i FILE)"
  exit 1
fi
echo "check_format: all ${#files[@]} files follow .clang-format"
