#!/usr/bin/env bash
# extra-swapopt.sh: the SwapOpt check on the lent GPU machine (run by tests/gpu/lead-run.sh after the
# build; fits its 120 s limit on an H100). The CUDA-vs-CPU unit tests (cuda_swapopt_*) run with the
# other GPU tests; this script measures speed and checks identity on paper-sized data:
#   1. paper sheet (make-sheet configs/paper.yaml) and synthetic grating-like responses for all 8
#      layers (640 images, 1.9 GB, build/bench/swapopt-synth);
#   2. swapopt --device cuda with 1/20 of the paper budget (2.5e6 attempts per layer, pair_rng replay);
#      prints each layer's optimisation time and the projection to the paper's 5e7 per layer
#      (target: all 8 layers within 5 minutes);
#   3. layer4.1 with 2.5e5 attempts on CUDA and on the CPU: positions must be identical.
# Work files in /tmp/tdann-swapopt (about 2 GB).
set -uo pipefail
cd "$(dirname "$0")/../.."
W=${SWAPOPT_WORK:-/tmp/tdann-swapopt}
mkdir -p "$W"
t0=$(date +%s)
make -s build/bench/swapopt-synth > "$W/build.log" 2>&1 || { tail -20 "$W/build.log"; echo "SWAPOPT: build of swapopt-synth FAILED"; exit 1; }
[ -f "$W/sheet.h5" ] || bin/make-sheet --config configs/paper.yaml -o "$W/sheet.h5" > "$W/make-sheet.log" 2>&1 || { tail "$W/make-sheet.log"; exit 1; }
[ -f "$W/acts.h5" ] || TDANN_GZIP=0 build/bench/swapopt-synth "$W/sheet.h5" "$W/acts.h5" 640 all 2> "$W/synth.log" || { tail "$W/synth.log"; exit 1; }
echo "data ready after $(( $(date +%s) - t0 )) s"
TDANN_PROGRESS_SECONDS=1000 bin/swapopt --device cuda --seed 0 --attempts 2500000 --pair-rng replay \
  --sheet "$W/sheet.h5" --activations "$W/acts.h5" -o "$W/gpu.h5" > "$W/gpu.txt" 2> "$W/gpu.err"
rc=$?
cat "$W/gpu.txt"
[ $rc = 0 ] || { tail -5 "$W/gpu.err"; echo "SWAPOPT: CUDA run FAILED"; exit 1; }
awk '/ attempts\/s/ { for (i = 1; i <= NF; i++) if ($i == "s,") { t += $(i-1); p += $(i-1) * 20 } }
     END { printf "SWAPOPT: 8 layers x 2.5e6 attempts: %.1f s of optimisation; projected for the paper budget (5e7 per layer): %.0f s (target 300 s)\n", t, p }' "$W/gpu.txt"
echo "after $(( $(date +%s) - t0 )) s: CUDA vs CPU on layer4.1 (2.5e5 attempts)"
bin/swapopt --device cuda --seed 0 --layers layer4.1 --attempts 250000 --sheet "$W/sheet.h5" --activations "$W/acts.h5" -o "$W/g41.h5" > /dev/null 2>&1
bin/swapopt --device cpu --seed 0 --layers layer4.1 --attempts 250000 --sheet "$W/sheet.h5" --activations "$W/acts.h5" -o "$W/c41.h5" > "$W/cpu41.txt" 2>&1
grep 'layer4.1 ' "$W/cpu41.txt" | tail -1
if bin/h5-compare -q "$W/g41.h5:/layers/layer4.1/positions" "$W/c41.h5:/layers/layer4.1/positions" > /dev/null; then
  echo "SWAPOPT: CUDA == CPU on layer4.1 (identical positions)"
else
  echo "SWAPOPT: CUDA and CPU DIFFER on layer4.1"; exit 1
fi
echo "SWAPOPT: done in $(( $(date +%s) - t0 )) s"
