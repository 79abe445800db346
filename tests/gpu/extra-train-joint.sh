#!/usr/bin/env bash
# extra-train-joint.sh: the GPU checks of train-joint and its communicators, for the lead's device
# script (nothing here runs in make test). Run from the repository root after `make` (CUDA build):
#   bash tests/gpu/extra-train-joint.sh [OUTDIR]
# Prints one line per check ("gpu-check: NAME: PASS|FAIL|SKIP ...") and the timings.
#  1. NCCL communicator on one GPU (tests/gpu/test_comm_nccl.cu), and on 2 GPUs under mpirun.
#  2. train-joint --device cuda (precision fp32) against --device cpu: per-step task and spatial
#     losses of 3 steps of a tiny Stage 3 run within rtol 1e-3.
#  3. mpirun -np 2 on 2 GPUs (NCCL) against 1 GPU with alpha 0: task loss within 1e-4 (skipped
#     with fewer than 2 GPUs).
#  4. timing: the default config's Stage 3 step and a paper-size step (width 1, 224 px, 256 images
#     x 2 views, bf16, spatial loss on 8 layers) in images/s.
set -u
out=${1:-build/gpu-check}
mkdir -p "$out"
B=bin
MPI=(mpirun --oversubscribe)
[ "$(id -u)" = 0 ] && MPI+=(--allow-run-as-root)
ngpu=$(nvidia-smi -L 2>/dev/null | wc -l)
say() { echo "gpu-check: $*"; }
say "$ngpu GPU(s): $(nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null | head -1)"

# 1. NCCL
if build/cuda/tests/run-tests comm_nccl >"$out/nccl1.txt" 2>&1; then say "nccl 1 GPU: PASS"; else say "nccl 1 GPU: FAIL"; tail -5 "$out/nccl1.txt"; fi
if [ "$ngpu" -ge 2 ] && command -v mpirun >/dev/null; then
  if "${MPI[@]}" -np 2 build/cuda/tests/run-tests comm_nccl >"$out/nccl2.txt" 2>&1; then say "nccl 2 GPUs: PASS"; else say "nccl 2 GPUs: FAIL"; tail -5 "$out/nccl2.txt"; fi
else say "nccl 2 GPUs: SKIP (fewer than 2 GPUs or no mpirun)"; fi

# 2. CUDA vs CPU on a tiny Stage 3 run
cat >"$out/tiny.yaml" <<Y
seed: 3
model: {width: 0.125, input_size: 64, task: simclr}
data: {kind: procedural}
sheet: {windows: 2000, k_min: 8}
tdann: {batch_size: 16, steps: 3, base_lr: 0.03, checkpoint_every: 0, eval_every: 3, eval_images: 16, precision: fp32, deterministic: true}
stage1: {batch_size: 16, steps: 3, base_lr: 0.03, checkpoint_every: 0, eval_every: 0, precision: fp32, deterministic: true}
Y
$B/make-sheet --config "$out/tiny.yaml" -o "$out/tiny_sheet.h5" >/dev/null 2>&1
A=(--config "$out/tiny.yaml" --stage tdann --sheet "$out/tiny_sheet.h5")
$B/train-joint "${A[@]}" --device cpu -o "$out/cpu.h5" 2>"$out/cpu.log"
if $B/train-joint "${A[@]}" --device cuda -o "$out/cuda.h5" 2>"$out/cuda.log"; then
  r=PASS
  for d in task_loss spatial_loss heldout_spatial_loss; do
    $B/h5-compare --rtol 1e-3 --atol 1e-5 "$out/cpu.h5:/log/$d" "$out/cuda.h5:/log/$d" >"$out/cmp_$d.txt" || r=FAIL
    say "  $(head -1 "$out/cmp_$d.txt")"
  done
  say "cuda fp32 vs cpu, 3 steps of Stage 3: $r"
else say "cuda fp32 vs cpu: FAIL (train-joint exit $?)"; tail -3 "$out/cuda.log"; fi

# 3. 2 GPUs (NCCL) vs 1 GPU, alpha 0
if [ "$ngpu" -ge 2 ] && command -v mpirun >/dev/null; then
  S=(--config "$out/tiny.yaml" --stage stage1 --device cuda)
  $B/train-joint "${S[@]}" -o "$out/g1.h5" 2>"$out/g1.log"
  if "${MPI[@]}" -np 2 $B/train-joint "${S[@]}" -o "$out/g2.h5" 2>"$out/g2.log" &&
     $B/h5-compare --atol 1e-4 "$out/g1.h5:/log/task_loss" "$out/g2.h5:/log/task_loss" >"$out/cmp_g.txt"; then
    say "2 GPUs (NCCL) vs 1 GPU, alpha 0: PASS ($(head -1 "$out/cmp_g.txt"))"
  else say "2 GPUs (NCCL) vs 1 GPU, alpha 0: FAIL"; tail -3 "$out/g2.log"; cat "$out/cmp_g.txt" 2>/dev/null; fi
else say "2 GPUs (NCCL) vs 1 GPU: SKIP"; fi

# 4. timing
ips() { python3 -c "import sys, h5py, numpy as np; v = h5py.File(sys.argv[1], 'r')['/log/images_per_s'][()]; print('%.0f' % np.mean(v[1:] if len(v) > 1 else v))" "$1" 2>/dev/null || echo "?"; }
$B/make-sheet --config configs/default.yaml -o "$out/default_sheet.h5" >/dev/null 2>&1
$B/train-joint --config configs/default.yaml --stage tdann --sheet "$out/default_sheet.h5" --device cuda --steps 20 \
  --checkpoint-every 0 --eval-every 0 -o "$out/default.h5" 2>"$out/default.log" &&
  say "timing: default config Stage 3 on the GPU: $(ips "$out/default.h5") images/s (steps 2-20)"
cat >"$out/paper.yaml" <<Y
model: {width: 1.0, input_size: 224, task: simclr}
data: {kind: procedural, procedural: {count: 4096}}
tdann: {batch_size: 256, steps: 12, checkpoint_every: 0, eval_every: 0, precision: bf16}
Y
$B/make-sheet --config "$out/paper.yaml" -o "$out/paper_sheet.h5" >/dev/null 2>&1
$B/train-joint --config "$out/paper.yaml" --stage tdann --sheet "$out/paper_sheet.h5" --device cuda -o "$out/paper.h5" 2>"$out/paper.log" &&
  say "timing: paper-size Stage 3 step (224 px, 256 images x 2 views, bf16): $(ips "$out/paper.h5") images/s (anchor: PyTorch eager bf16 7,570 images/s on H100)" ||
  { say "timing: paper-size step FAILED"; tail -3 "$out/paper.log"; }
