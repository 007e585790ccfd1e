#!/usr/bin/env bash
# One-shot check of fastiou's CUDA backend on a machine with an NVIDIA GPU, no network needed.
#
# Needs there, preinstalled: Python with numpy, scipy, numba, numba-cuda (with a CUDA toolkit it
# can find), pytest, PyTorch with CUDA and torchvision (CuPy optional).  It
#   1. installs fastiou from this working tree (pip --no-index --no-deps --no-build-isolation -e .;
#      if that cannot build, it runs the tree in place through PYTHONPATH: the CUDA checks
#      do not need the compiled Cython backend),
#   2. runs tests/cuda on the GPU (FASTIOU_TEST_GPU=1, no simulator),
#   3. runs benchmarks/gpu_bench.py: box_iou 10k x 10k and 30k x 30k float32, complete_box_iou,
#      nms and batched_nms of 100k clustered boxes against torchvision on the same GPU, with
#      same-run ratios and the fraction of the device write bandwidth, and checks that the NMS
#      indices are identical to torchvision's.
# Finishes in under 4 minutes (each step has its own time limit).  Exit status: 0 when all passed.
#
#   bash benchmarks/gpu_check.sh            # PYTHON=/path/to/python to choose the interpreter
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-python3}"
unset NUMBA_ENABLE_CUDASIM
export FASTIOU_TEST_GPU=1
step() { printf '\n== %s (%s)\n' "$1" "$(date -u +%H:%M:%S)"; }
fail() { printf 'gpu_check: %s\n' "$1" >&2; exit 1; }

step "environment"
command -v "$PY" >/dev/null || fail "no Python interpreter '$PY' (set PYTHON=...)"
if command -v nvidia-smi >/dev/null; then
    nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader || true
else
    echo "nvidia-smi not found (continuing: numba decides whether a GPU is usable)"
fi
"$PY" - <<'EOF' || fail "a required package is missing or no GPU is usable (see above)"
import importlib.util, sys
missing = [m for m in ("numpy", "scipy", "numba", "pytest", "torch", "torchvision")
           if importlib.util.find_spec(m) is None]
if missing:
    sys.exit(f"missing packages: {', '.join(missing)} (this script installs nothing from the network)")
import numba, torch, torchvision
from numba import cuda
print(f"python {sys.version.split()[0]}, numba {numba.__version__} ({getattr(cuda, 'implementation', '?')} "
      f"CUDA target), torch {torch.__version__}, torchvision {torchvision.__version__}")
if not cuda.is_available():
    sys.exit("numba.cuda.is_available() is False: install numba-cuda (with [cu12] or [cu13]) and an NVIDIA driver")
if not torch.cuda.is_available():
    sys.exit("torch.cuda.is_available() is False")
print(f"GPU: {cuda.get_current_device().name}")
EOF

step "install fastiou from the working tree (no network)"
if timeout 45 "$PY" -m pip install -q --no-index --no-deps --no-build-isolation -e . ; then
    echo "installed (editable)"
else
    echo "pip install failed or timed out: using the tree in place (PYTHONPATH), without the Cython backend"
    export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
fi
"$PY" -c "import fastiou, sys; print('fastiou', fastiou.__version__, 'from', fastiou.__file__)" \
    || fail "fastiou does not import"

step "tests/cuda on the GPU"
timeout 130 "$PY" -m pytest -q -p no:cacheprovider tests/cuda || fail "tests/cuda failed (status $?)"

step "benchmark against torchvision on the same GPU"
timeout 55 "$PY" benchmarks/gpu_bench.py || fail "gpu_bench.py failed (status $?)"

step "all GPU checks passed"
