#!/usr/bin/env bash
# swapopt_bench.sh MODE: the SwapOpt benchmark behind tests/bench/swapopt.mk (run from the repo root).
#   cpu       paper sheet (224 px, width 1), synthetic grating-like responses of layer4.1 (640 images);
#             the same BENCH_NUMPY_ATTEMPTS attempts (default 20000) in tests/bench/swapopt_numpy.py
#             (the official algorithm in NumPy, /usr/bin/python3) and in our swapopt on the CPU; prints
#             attempts/s of both and whether they reached the same positions; then our swapopt alone for
#             BENCH_ATTEMPTS (default 1000000) attempts.
#   cpu-full  our swapopt on the CPU with the paper budget (5e7) on layer4.1.
#   gpu       synthetic responses for BENCH_GPU_LAYERS (default all); swapopt --device cuda with
#             BENCH_GPU_ATTEMPTS per layer (default the paper's 5e7: the 5-minute target for all 8
#             layers); then layer4.1 with 10^6 attempts on CUDA and on the CPU, whose outputs must be
#             identical (h5-compare). Needs no Python.
set -euo pipefail
MODE=${1:-cpu}
W=build/bench/swapopt
mkdir -p "$W"
BIN=bin
SYN=build/bench/swapopt-synth
export TDANN_GZIP=${TDANN_GZIP:-1}
[ -f "$W/sheet.h5" ] || { echo "== make-sheet (paper config)"; $BIN/make-sheet --config configs/paper.yaml -o "$W/sheet.h5" >/dev/null; }
attempts_per_s() { sed -n 's/.*s, \([0-9.e+]*\) attempts\/s.*/\1/p' "$1" | head -1; }
case "$MODE" in
cpu)
  NA=${BENCH_NUMPY_ATTEMPTS:-20000}
  NB=${BENCH_ATTEMPTS:-1000000}
  [ -f "$W/acts41.h5" ] || { echo "== synthetic responses (layer4.1, 640 images)"; $SYN "$W/sheet.h5" "$W/acts41.h5" 640 layer4.1; }
  echo "== $NA attempts on layer4.1 (25088 units, 640 images), NumPy (official algorithm) vs ours ($(nproc) CPU cores)"
  /usr/bin/python3 tests/bench/swapopt_numpy.py "$W/sheet.h5" "$W/acts41.h5" layer4.1 "$NA" 0 "$W/numpy41.npy" | tee "$W/numpy.txt"
  $BIN/swapopt --device cpu --seed 0 --layers layer4.1 --attempts "$NA" --sheet "$W/sheet.h5" --activations "$W/acts41.h5" -o "$W/ours_small.h5" 2>/dev/null | tee "$W/ours_small.txt"
  /usr/bin/python3 - "$W" <<'PY'
import sys, h5py, numpy as np
w = sys.argv[1]
a = np.load(w + "/numpy41.npy")
b = h5py.File(w + "/ours_small.h5")["layers/layer4.1/positions"][:]
same = np.all(a == b, axis=1)
acc_np = open(w + "/numpy.txt").read().split()[-2]
acc_us = [t for t in open(w + "/ours_small.txt").read().split(",") if "accepted" in t][0].split()[0]
print(f"agreement: accepted {acc_us} (ours) vs {acc_np} (numpy); final positions identical for {same.sum()} of {len(same)} units")
PY
  echo "== ours alone, $NB attempts on layer4.1"
  $BIN/swapopt --device cpu --seed 0 --layers layer4.1 --attempts "$NB" --sheet "$W/sheet.h5" --activations "$W/acts41.h5" -o "$W/ours.h5" 2>/dev/null | tee "$W/ours.txt"
  np_rate=$(sed -n 's/.* = \([0-9,]*\) attempts\/s.*/\1/p' "$W/numpy.txt" | tr -d ,)
  our_rate=$(attempts_per_s "$W/ours.txt")
  awk -v n="$np_rate" -v o="$our_rate" 'BEGIN { printf "RESULT attempts/s: numpy %.0f, ours %.0f (%.0fx); 5e7 attempts (paper, one layer): numpy %.1f h, ours %.1f min\n", n, o, o / n, 5e7 / n / 3600, 5e7 / o / 60 }'
  ;;
cpu-full)
  [ -f "$W/acts41.h5" ] || $SYN "$W/sheet.h5" "$W/acts41.h5" 640 layer4.1
  /usr/bin/time -f "wall %e s, user %U s, max RSS %M KB" $BIN/swapopt --device cpu --seed 0 --layers layer4.1 --attempts 50000000 \
    --sheet "$W/sheet.h5" --activations "$W/acts41.h5" -o "$W/ours_full.h5"
  ;;
gpu)
  LAYERS=${BENCH_GPU_LAYERS:-all}
  ATT=${BENCH_GPU_ATTEMPTS:-50000000}
  ACTS="$W/acts_gpu_${LAYERS//,/_}.h5"
  [ -f "$ACTS" ] || { echo "== synthetic responses ($LAYERS, 640 images; all layers: 1.9 GB)"; TDANN_GZIP=0 $SYN "$W/sheet.h5" "$ACTS" 640 "$LAYERS"; }
  echo "== $ATT attempts per layer ($LAYERS), CUDA"
  /usr/bin/time -f "RESULT $LAYERS, $ATT attempts each: wall %e s (with reading the responses and writing the sheet)" \
    $BIN/swapopt --device cuda --seed 0 --layers "$LAYERS" --attempts "$ATT" --pair-rng replay --sheet "$W/sheet.h5" --activations "$ACTS" -o "$W/gpu_out.h5" 2>&1 | grep -v '/s, ETA\|img/s'
  if [ "$LAYERS" = all ] || [[ ",$LAYERS," == *,layer4.1,* ]]; then
    echo "== layer4.1, 10^6 attempts: CUDA vs CPU (must be identical)"
    $BIN/swapopt --device cuda --seed 0 --layers layer4.1 --attempts 1000000 --sheet "$W/sheet.h5" --activations "$ACTS" -o "$W/g41.h5" 2>/dev/null
    $BIN/swapopt --device cpu --seed 0 --layers layer4.1 --attempts 1000000 --sheet "$W/sheet.h5" --activations "$ACTS" -o "$W/c41.h5" 2>/dev/null
    $BIN/h5-compare "$W/g41.h5:/layers/layer4.1/positions" "$W/c41.h5:/layers/layer4.1/positions" && echo "RESULT CUDA == CPU on layer4.1" || echo "RESULT CUDA and CPU DIFFER"
  fi
  ;;
*) echo "usage: swapopt_bench.sh cpu|cpu-full|gpu" >&2; exit 2 ;;
esac
