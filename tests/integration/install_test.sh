#!/usr/bin/env bash
# `cmake --install` into a temporary prefix: the installed slsim runs the bundled example from
# another folder, reading the catalogue installed beside it (not the source tree); a copy of
# the binary outside any prefix falls back to the source tree; SLSIM_CATALOG_DIR overrides both.
# `slsim report` runs the report.py installed beside it; with PYTHON (and the module built), the
# installed Python package reads the installed catalogue too.
# Usage: install_test.sh CMAKE BUILD_DIR [PYTHON]
set -euo pipefail
cmake=$1
build=$2
python=${3:-}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() {
  echo "install_test: $*" >&2
  exit 1
}

"$cmake" --install "$build" --prefix "$tmp/prefix" >/dev/null
share=$tmp/prefix/share/slsim
example=$share/examples/demo/experiment.json
for f in bin/slsim share/slsim/models/llm share/slsim/models/calibration share/slsim/traces/azure-llm-2023 \
  share/slsim/scripts/plot.py share/slsim/examples/demo/experiment.json; do
  [[ -e $tmp/prefix/$f ]] || fail "cmake --install did not install $f"
done

mkdir "$tmp/elsewhere"
cd "$tmp/elsewhere"
"$tmp/prefix/bin/slsim" run "$example" --set duration_s=30 -o out >log 2>&1 || fail "the installed run failed: $(cat log)"
[[ -f out/summary.json ]] || fail "the installed run wrote no out/summary.json"

# The installed report.py, not the source tree's, is the one `slsim report` runs: a stand-in says so.
printf 'import sys\nprint("installed report.py", *sys.argv[1:])\n' >"$share/scripts/report.py"
"$tmp/prefix/bin/slsim" report out -o r.html >log 2>&1 || fail "the installed slsim report failed: $(cat log)"
grep -qx "installed report.py out -o r.html" log || fail "slsim report did not run the installed script: $(cat log)"

packages=$tmp/prefix/lib/python3/dist-packages
if [[ -n $python && -d $packages/slsim ]]; then
  PYTHONPATH=$packages "$python" -c "import slsim, sys; slsim.validate(sys.argv[1])" "$example" >log 2>&1 ||
    fail "the installed Python package failed: $(cat log)"
fi

# Without its llm/ folder the installed catalogue is incomplete; the error names that folder,
# which shows that the installed catalogue, not the source tree's, is the one read.
mv "$share/models/llm" "$tmp/llm"
if "$tmp/prefix/bin/slsim" validate "$example" >log 2>&1; then fail "validate passed without the installed llm/"; fi
grep -qF "$share/models/llm" log || fail "the error does not name the installed catalogue: $(cat log)"
if [[ -n $python && -d $packages/slsim ]]; then
  if PYTHONPATH=$packages "$python" -c "import slsim, sys; slsim.validate(sys.argv[1])" "$example" >log 2>&1; then
    fail "the installed Python package validated without the installed llm/"
  fi
  grep -qF "$share/models/llm" log || fail "the Python package did not read the installed catalogue: $(cat log)"
fi

# A copy of the binary with no share/slsim beside it reads the source tree it was built from.
mkdir "$tmp/copy"
cp "$tmp/prefix/bin/slsim" "$tmp/copy/slsim"
"$tmp/copy/slsim" validate "$example" >log 2>&1 || fail "the copied binary failed: $(cat log)"

# SLSIM_CATALOG_DIR is read before either.
if SLSIM_CATALOG_DIR="$tmp/nowhere" "$tmp/copy/slsim" validate "$example" >log 2>&1; then
  fail "validate passed with SLSIM_CATALOG_DIR naming no catalogue"
fi
grep -qF "$tmp/nowhere/" log || fail "the error does not name SLSIM_CATALOG_DIR: $(cat log)"
echo "install_test: the installed slsim runs the bundled example from another folder"
