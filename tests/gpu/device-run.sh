#!/usr/bin/env bash
# device-run.sh: what the GPU machine runs for the CUDA engine, in one call (about 5 minutes on an
# H100): the CUDA build, the GPU tests (every kernel against a double-precision CPU reference, the
# whole engine against the CPU engine in fp32 and bf16), then the benchmark beside PyTorch.
#
#   [YAML_DIR=<libyaml prefix>] [OUT=<dir>] tests/gpu/device-run.sh [--tests-only | --bench-only]
#
# Run from the repository root. Results under $OUT (default /tmp/tdann-gpu): build.log, tests.log,
# gpu-record.tsv (one line per compared tensor: test, precision, tensor, rel. error, tolerance,
# OK/FAIL, spread of the CPU reference: see tests/gpu/test_cuda_engine.cu), bench/ (ours.json,
# torch.json, logs, results.json, results.md). The last lines printed are a summary. Exit status:
# 1 if the build or any GPU test failed.
set -uo pipefail
cd "$(dirname "$0")/../.."
out=${OUT:-/tmp/tdann-gpu}
mkdir -p "$out"
mode=${1:-all}
t0=$(date +%s)
{ nvidia-smi; nvcc --version | tail -2; } > "$out/nvidia-smi.txt" 2>&1 || true
head -12 "$out/nvidia-smi.txt" | grep -E "NVIDIA|Driver|MiB" | head -3

echo "== build"
if ! DEPS=0 make -j"$(nproc)" all build/cuda/tests/run-tests > "$out/build.log" 2>&1; then
  tail -40 "$out/build.log"
  echo "BUILD FAILED (full log: $out/build.log)"
  exit 1
fi
grep -E "^built|configure:" "$out/build.log" | tail -12
rc=0
if [ "$mode" != "--bench-only" ]; then
  echo "== GPU tests ($(date -u +%H:%M:%S))"
  rm -f "$out/gpu-record.tsv"
  TDANN_GPU_RECORD="$out/gpu-record.tsv" TDANN_BIN="$PWD/bin" build/cuda/tests/run-tests cuda_ gpu_ comm_nccl > "$out/tests.log" 2>&1
  rc=$?
  grep -E "^(PASS|FAIL|SKIP)|passed,|FAIL:|NOT OK|error|warning" "$out/tests.log" | head -80
  echo "-- training-step paths (cuda_engine_graph_vs_eager; expected: identical)"
  grep -E "(fp32|bf16) (simclr|supervised) step [0-9]" "$out/tests.log" | grep -c "losses identical.*state identical" | sed 's/^/  identical comparisons: /'
  grep -E "(fp32|bf16) (simclr|supervised) step [0-9]" "$out/tests.log" | grep -v "losses identical.*state identical" | head -12
  if [ -s "$out/gpu-record.tsv" ]; then
    echo "-- largest share of the tolerance used per test and precision (of $(wc -l < "$out/gpu-record.tsv") tensors; FAIL lines follow)"
    awk -F'\t' '{k=$1" "$2; u=$4/$5; if (!(k in m) || u > m[k]) {m[k]=u; e[k]=$4; w[k]=$3; t[k]=$5; s[k]=$7}} END {for (k in m) printf "  %-40s %5.1f%% (err %s, tol %s, ref spread %s) at %s\n", k, 100*m[k], e[k], t[k], s[k], w[k]}' "$out/gpu-record.tsv" | sort
    grep -P "\tFAIL(\t|$)" "$out/gpu-record.tsv" | head -40
  fi
fi
if [ "$mode" != "--tests-only" ]; then
  echo "== benchmark ($(date -u +%H:%M:%S))"
  OUT="$out/bench" tests/bench/gpu/run.sh > "$out/bench.log" 2>&1 || { echo "benchmark failed:"; tail -30 "$out/bench.log"; }
  grep -E "engine:|creation|CUDA graph|losses at" "$out/bench/ours.log" 2>/dev/null | cut -c1-400
  [ -f "$out/bench/results.md" ] && cat "$out/bench/results.md"
fi
echo "== done in $(( $(date +%s) - t0 )) s; GPU tests exit status $rc; files in $out"
exit $rc
