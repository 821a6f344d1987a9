#!/usr/bin/env bash
# The GPU checks, as one short script for a machine with a CUDA GPU (e.g. the `device` tool's):
#   bash benchmarks/gpu_checks.sh [output folder]     (default: results/benchmarks/gpu)
# Needs the CUDA build of the pinned torch in the active environment. It runs the flex tests
# (on a GPU they compare gradients too) and the device tests, then the benchmarks with GPU numbers,
# those added last first (device time is scarce): several jobs per GPU (gpu_packing: K = 1, 2, 4,
# 8), a job's start-up against import torch (untracked alone where MLflow is not installed),
# block-sparse attention (forward and backward), engine (sparse vs dense) and the engine against
# the Hugging Face Trainer (fp32 and bf16 autocast), each training on the GPU.
# A failing test does not stop the benchmarks (device time is scarce); the script exits non-zero.
set -euo pipefail
out="${1:-results/benchmarks/gpu}"
mkdir -p "$out"
python - <<'PY' | tee "$out/device.txt"
import torch
print(torch.__version__, torch.cuda.is_available(), torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU")
assert torch.cuda.is_available(), "no CUDA device visible"
PY
tests=0
python -m pytest -q tests/test_attention.py tests/test_devices.py -p no:cacheprovider 2>&1 | tee "$out/tests.txt" || tests=$?
python -m benchmarks gpu_packing startup block_sparse engine trainer 2>&1 | tee "$out/benchmarks.jsonl"
exit "$tests"
