#!/usr/bin/env bash
# profile-run.sh: one short call on the GPU machine that explains where the training step's time goes
# (about 70 s on an H100 from a fresh tree: ~40 s build, ~10 s engine creation, ~5 s of steps).
#
#   [OUT=<dir>] [PROFILE_ARGS="..."] tests/gpu/profile-run.sh
#
# Builds (make -j all bench-gpu; warnings not fatal, as in lead-run.sh), then runs
#   bench-gpu --profile --steps 20 --profile-steps 5
# on the benchmark configuration (ResNet-18 w=1, 224 px, 512 rows, SL_REL on 8 layers k=500, bf16):
# the graph-replayed step by the host clock, 3 eager warm-up steps, 5 eager steps with CUDA events at
# every operation-category boundary, 10 graph steps bracketed by events; the table comes last.
# TDANN_STEM_CPAD defaults to 8 here (what the engine's probe chose on the H100, 2026-11-26), which
# skips the slow 4-channel stem probe (several seconds); set TDANN_STEM_CPAD= (empty) to probe again.
# Everything stays under 115 s (build limit 85 s, the run gets what is left). Files in $OUT
# (default /tmp/tdann-profile): build.log, profile.txt (stdout), profile.err (stderr).
set -uo pipefail
cd "$(dirname "$0")/../.."
t0=$(date +%s)
[ -d .carry/yaml ] && export YAML_DIR=$PWD/.carry/yaml
export WERROR=""
if [ -f .carry/commit ] && ! git rev-parse HEAD >/dev/null 2>&1; then
  export VERSION=$(cat .carry/commit) TDANN_COMMIT=$(cat .carry/commit)
fi
out=${OUT:-/tmp/tdann-profile}
mkdir -p "$out"
nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.max.sm,temperature.gpu,power.draw --format=csv,noheader 2>/dev/null || true
echo "== build ($(date -u +%H:%M:%S))"
if ! DEPS=0 timeout 85 make -j"$(nproc)" all bench-gpu > "$out/build.log" 2>&1; then
  tail -30 "$out/build.log"
  echo "BUILD FAILED or timed out after $(( $(date +%s) - t0 )) s (full log: $out/build.log)"
  exit 1
fi
grep -E "^built" "$out/build.log" | tail -1
left=$(( 115 - ($(date +%s) - t0) ))
[ "$left" -lt 20 ] && { echo "no time left for the run ($left s)"; exit 1; }
echo "== bench-gpu --profile (limit ${left}s, at $(( $(date +%s) - t0 ))s)"
export TDANN_STEM_CPAD=${TDANN_STEM_CPAD-8}
timeout "$left" build/cuda/bench/bench-gpu --profile --steps 20 --profile-steps 5 ${PROFILE_ARGS:-} \
  > "$out/profile.txt" 2> "$out/profile.err"
rc=$?
[ "$rc" = 124 ] && echo "bench-gpu --profile TIMED OUT after ${left}s"
if [ -s "$out/profile.err" ]; then echo "-- stderr (last 15 lines)"; tail -15 "$out/profile.err"; fi
echo "== done in $(( $(date +%s) - t0 )) s, exit status $rc"
cat "$out/profile.txt"
exit $rc
