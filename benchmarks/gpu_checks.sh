#!/usr/bin/env bash
# The GPU checks, as one short script for a machine with a CUDA GPU (e.g. the `device` tool's):
#   bash benchmarks/gpu_checks.sh [output folder]     (default: results/benchmarks/gpu)
# Needs the CUDA build of the pinned torch in the active environment. It runs the flex tests
# (on a GPU they compare gradients too) and the device tests, then the benchmarks with GPU numbers,
# those added last first (device time is scarce): several jobs per GPU (gpu_packing: K = 1, 2, 4,
# 8), a job's start-up against import torch (untracked alone where MLflow is not installed),
# block-sparse attention (forward and backward), engine (sparse vs dense) and the engine against
# the Hugging Face Trainer (fp32 and bf16 autocast), each training on the GPU.
# A failing or hanging step does not stop the rest (device time is scarce): each runs under its own
# time limit (STEP_LIMIT seconds, default 150) and writes its own file, so a run cut short still
# returns what finished; the script exits non-zero if any step failed. PYTHON: the interpreter
# (default python, else python3: a symlink to a virtualenv's python loses the virtualenv).
set -uo pipefail
out="${1:-results/benchmarks/gpu}"
mkdir -p "$out"
py="${PYTHON:-$(command -v python || command -v python3)}"
limit="${STEP_LIMIT:-150}"
failed=0
step() {  # step NAME COMMAND...: run under the time limit, output to $out/NAME.txt
  local name="$1"; shift
  echo "== $name ($(date -u +%H:%M:%S))"
  timeout --kill-after=10 "$limit" "$@" 2>&1 | tee "$out/$name.txt" || { echo "== $name failed: $?"; failed=1; }
}
step device "$py" -c 'import torch; print(torch.__version__, torch.cuda.get_device_name(0)); assert torch.cuda.is_available()'
step tests "$py" -m pytest -q tests/test_attention.py tests/test_devices.py -p no:cacheprovider
for name in gpu_packing startup block_sparse engine trainer; do
  step "$name" "$py" -m benchmarks "$name"
done
exit "$failed"
