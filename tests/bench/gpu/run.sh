#!/usr/bin/env bash
# run.sh: the GPU speed benchmark of issue 9 in one go, from the repository root:
#   tests/bench/gpu/run.sh              build bench-gpu, run it and the PyTorch reference, print the table
# Environment: OUT=<dir> keeps ours.json, torch.json, the logs, results.json and results.md there;
# PYTHON (default python3: needs torch + torchvision); BENCH_ARGS / TORCH_ARGS extra arguments
# (e.g. TORCH_ARGS=--no-compile). About 2 minutes on an H100 (most of it torch.compile).
set -euo pipefail
cd "$(dirname "$0")/../../.."
out=${OUT:-$(mktemp -d /tmp/tdann-bench-gpu.XXXXXX)}
mkdir -p "$out"
py=${PYTHON:-python3}
make -s bench-gpu
bin=$(ls -t build/cuda/bench/bench-gpu | head -1)
nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.max.sm,temperature.gpu,power.draw --format=csv 2>/dev/null \
  | tee "$out/nvidia-smi.txt" || true
echo "== ours: $bin ${BENCH_ARGS:-}"
"$bin" --json "$out/ours.json" ${BENCH_ARGS:-} 2>&1 | tee "$out/ours.log"
echo "== PyTorch: tests/bench/gpu/torch_ref.py ${TORCH_ARGS:-}"
"$py" tests/bench/gpu/torch_ref.py --json "$out/torch.json" ${TORCH_ARGS:-} 2>&1 | tee "$out/torch.log"
echo "== comparison"
"$py" tests/bench/gpu/report.py "$out/ours.json" "$out/torch.json" "$out"
echo "(files in $out)"
