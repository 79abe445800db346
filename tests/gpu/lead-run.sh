#!/usr/bin/env bash
# lead-run.sh: the one prepared call on the lent GPU machine (README "GPU").
# Phases, most important first, each bounded, with a deadline for starting a new phase:
#   1. build + GPU tests (every CUDA kernel and the engine against the CPU reference; SwapOpt
#      CUDA vs CPU; pinned loader; NCCL on one GPU)            tests/gpu/device-run.sh --tests-only
#   2. benchmark beside PyTorch (train step, extraction, memory)  tests/gpu/device-run.sh --bench-only
#   3. tests/gpu/extra-*.sh: train-joint on CUDA vs CPU and timing; real JPEGs from disk; SwapOpt
#      at paper size.
# Results are packed into $OUT after every phase (the device tool returns at most 8 files):
# summary.txt (everything printed), results.tar.gz (all logs, the per-tensor CUDA-vs-CPU record,
# the benchmark's JSON/markdown), results.md (benchmark table).
#   tests/gpu/lead-run.sh [--tests-only | --bench-only]     (LEAD_DEADLINE: seconds, default 560)
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
t0=$(date +%s)
deadline=${LEAD_DEADLINE:-560}
pack() {
  tar czf "$final/results.tar.gz" -C "$work" . /tmp/tdann-realdata/real.log /tmp/tdann-swapopt/gpu.txt 2>/dev/null
  [ -f "$work/bench/results.md" ] && cp "$work/bench/results.md" "$final/results.md"
}
left() { echo $(( deadline - ($(date +%s) - t0) )); }
phase() { # NAME LIMIT CMD...: run a phase if the deadline allows, bounded by LIMIT seconds
  local name=$1 limit=$2; shift 2
  local l; l=$(left)
  if [ "$l" -lt 30 ]; then echo "== $name: SKIPPED (deadline)" | tee -a "$final/summary.txt"; return; fi
  [ "$limit" -gt "$l" ] && limit=$l
  echo "== $name (limit ${limit}s, at $(( $(date +%s) - t0 ))s)" | tee -a "$final/summary.txt"
  timeout "$limit" "$@" 2>&1 | tee -a "$final/summary.txt"
  local rc=${PIPESTATUS[0]}
  [ "$rc" = 124 ] && echo "== $name: TIMED OUT" | tee -a "$final/summary.txt"
  pack
  return "$rc"
}
mode=${1:-all}
rc=0
if [ "$mode" != "--bench-only" ]; then
  OUT=$work phase tests 200 tests/gpu/device-run.sh --tests-only || rc=1
fi
if [ "$mode" != "--tests-only" ]; then
  OUT=$work phase benchmark 200 tests/gpu/device-run.sh --bench-only
  OUT=$work phase extra-swapopt 100 bash tests/gpu/extra-swapopt.sh
  OUT=$work phase extra-realdata 90 bash tests/gpu/extra-realdata.sh
  OUT=$work phase extra-train-joint 80 bash tests/gpu/extra-train-joint.sh "$work/train-joint"
fi
echo "== lead-run done in $(( $(date +%s) - t0 ))s" | tee -a "$final/summary.txt"
exit $rc
