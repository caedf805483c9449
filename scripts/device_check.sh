#!/usr/bin/env bash
# Run ON THE GPU MACHINE (the device tool), in the repository root, after
# scripts/device_wheels.sh here: every CUDA test, then the GPU benchmarks, in one call.
#   run(command="bash scripts/device_check.sh", carry=[".whl"], timeout_s=540)
# Results go to $OUT (the tool brings them back): cuda_tests.log, sweep_cuda.json,
# manifold_cuda.json, and device.txt (GPU, driver, torch). DEVICE=cpu PY=.venv/bin/python
# runs the same here as a dry run (the CUDA tests then skip).
set -uo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-python3}
DEVICE=${DEVICE:-cuda}
OUT=${OUT:-device_out}
mkdir -p "$OUT"
if ls .whl/*.whl >/dev/null 2>&1; then
    "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
        --target /tmp/alignkit_site .whl/*.whl || exit 1
    export PYTHONPATH="/tmp/alignkit_site:$PWD${PYTHONPATH:+:$PYTHONPATH}"
else
    export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
fi
export PYTHONUNBUFFERED=1 ALIGNKIT_FAST=1
{
    nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv 2>/dev/null || true
    "$PY" -c "import torch; print('torch', torch.__version__, 'cuda', torch.cuda.is_available(), torch.cuda.get_device_name(0) if torch.cuda.is_available() else '')"
} | tee "$OUT/device.txt"
# The CUDA tests (each compares a CUDA route with the CPU's); conftest.py needs the notebook
# stack, which these tests do not use.
"$PY" -m pytest -q --noconftest -p no:cacheprovider -rs -k cuda \
    tests/test_device.py tests/test_hessian.py tests/test_hessian_routes.py tests/test_sweep.py \
    tests/test_theory.py tests/test_manifold_explorers.py tests/test_divergences_2d.py \
    2>&1 | tee "$OUT/cuda_tests.log"
tests_rc=${PIPESTATUS[0]}
# Full-size benchmarks (ALIGNKIT_FAST does not change them), each against its CPU-side
# baseline in the same run: the batched sweep vs a loop of nn models (target 300x on a GPU),
# the Lyapunov route vs per-sample autograd.
unset ALIGNKIT_FAST
"$PY" benchmarks/sweep.py --device "$DEVICE" --skip-vmap --out "$OUT/sweep_$DEVICE.json" \
    2>&1 | tail -n 5
"$PY" benchmarks/manifold.py --device "$DEVICE" --out "$OUT/manifold_$DEVICE.json" 2>&1 | tail -n 5
exit "$tests_rc"
