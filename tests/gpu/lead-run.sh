#!/usr/bin/env bash
# lead-run.sh: the one prepared call on the lent GPU machine (see README "GPU checks").
# Builds, runs the GPU tests, then the benchmarks, and packs every log into $OUT as at most a few
# files (the device tool returns at most 8): summary.txt (what was printed), results.tar.gz (all
# logs, the per-tensor CUDA-vs-CPU record, benchmark JSON/markdown), results.md (benchmark table).
# The pack is refreshed after each phase, so a call cut short still returns what finished.
#   tests/gpu/lead-run.sh [--tests-only | --bench-only]
set -u
cd "$(dirname "$0")/../.."
[ -d .carry/yaml ] && export YAML_DIR=$PWD/.carry/yaml
# The GPU machine's compiler (Ubuntu 24.04, gcc 13) warns where Debian 12's gcc 12 (CI) does not:
# there, warnings are shown but not fatal (WERROR empty); -Werror stays on for CI and development.
export WERROR=""
# The device machine gets the working tree without .git: the lead writes the commit to
# .carry/commit before the call (git describe --always --dirty > .carry/commit).
if [ -f .carry/commit ] && ! git rev-parse HEAD >/dev/null 2>&1; then
  export VERSION=$(cat .carry/commit) TDANN_COMMIT=$(cat .carry/commit)
fi

final=${OUT:-/tmp/tdann-out}
work=/tmp/tdann-gpu
mkdir -p "$final" "$work"
pack() {
  tar czf "$final/results.tar.gz" -C "$work" . 2>/dev/null
  [ -f "$work/bench/results.md" ] && cp "$work/bench/results.md" "$final/results.md"
}
mode=${1:-all}
rc=0
if [ "$mode" != "--bench-only" ]; then
  OUT=$work tests/gpu/device-run.sh --tests-only 2>&1 | tee -a "$final/summary.txt"
  rc=${PIPESTATUS[0]}
  pack
fi
if [ "$mode" != "--tests-only" ]; then
  for extra in tests/gpu/extra-*.sh; do  # further GPU checks (swapopt, data path), if present
    [ -x "$extra" ] || continue
    echo "== $extra" | tee -a "$final/summary.txt"
    OUT=$work timeout 120 "$extra" 2>&1 | tee -a "$final/summary.txt"
    pack
  done
  OUT=$work tests/gpu/device-run.sh --bench-only 2>&1 | tee -a "$final/summary.txt"
  pack
fi
exit $rc
