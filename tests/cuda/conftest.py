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

from cuda_helpers import SIMULATOR, ptx_check_process, stop_ptx_check


def pytest_configure(config):
    from numba import cuda

    if not SIMULATOR and not cuda.is_available():
        raise pytest.UsageError(
            "tests/cuda needs NUMBA_ENABLE_CUDASIM=1 (set before numba is imported) or a usable GPU "
            "(FASTIOU_TEST_GPU=1 with numba-cuda and an NVIDIA driver)"
        )


def pytest_collection_finish(session):
    """Start test_ptx.py's compilation now, in a subprocess, when that test is to run: it
    then overlaps the simulator's tests (in a pytest-xdist worker, the test starts it)."""
    config = session.config
    if (SIMULATOR and not config.option.collectonly and not hasattr(config, "workerinput")
            and any(item.name == "test_kernels_compile_to_ptx" for item in session.items)):
        ptx_check_process()


def pytest_sessionfinish(session):
    stop_ptx_check()


@pytest.fixture(autouse=True)
def small_launches(monkeypatch):
    """2 x 4 tiles, 8 threads per block, at most 2 blocks per grid dimension."""
    from fastiou import _config
    from fastiou.backends import numba_cuda

    monkeypatch.setattr(_config, "CUDA_TILE", (2, 4))
    monkeypatch.setattr(_config, "CUDA_THREADS_PER_BLOCK", 8)
    monkeypatch.setattr(numba_cuda, "MAX_BLOCKS", 2)
