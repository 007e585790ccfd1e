"""CUDA tests: Numba's simulator (``NUMBA_ENABLE_CUDASIM=1``) or a real GPU (``FASTIOU_TEST_GPU=1``).

Run in their own pytest invocation, with the variable set before numba is
imported::

    NUMBA_ENABLE_CUDASIM=1 python -m pytest -q tests/cuda
    FASTIOU_TEST_GPU=1 python -m pytest -q tests/cuda      # on a machine with a GPU

Threads per block and grid sizes are patched small, so that the inputs of a few
dozen boxes span several blocks, end in a partial block, and make the
grid-stride loops go round more than once; the simulator runs every CUDA thread
as a Python thread, so sizes stay small.
"""

from __future__ import annotations

import pytest

from cuda_helpers import SIMULATOR


def pytest_configure(config):
    from numba import cuda

    if not SIMULATOR and not cuda.is_available():
        raise pytest.UsageError(
            "tests/cuda needs NUMBA_ENABLE_CUDASIM=1 (set before numba is imported) or a usable GPU "
            "(FASTIOU_TEST_GPU=1 with numba-cuda and an NVIDIA driver)"
        )


@pytest.fixture(autouse=True)
def small_launches(monkeypatch):
    """2 x 4 tiles, 8 threads per block, at most 2 blocks per grid dimension."""
    from fastiou import _config
    from fastiou.backends import numba_cuda

    monkeypatch.setattr(_config, "CUDA_TILE", (2, 4))
    monkeypatch.setattr(_config, "CUDA_THREADS_PER_BLOCK", 8)
    monkeypatch.setattr(numba_cuda, "MAX_BLOCKS", 2)
