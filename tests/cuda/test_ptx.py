"""Every CUDA kernel compiles for a real GPU (PTX for sm_90), also on machines without one."""

from __future__ import annotations

import subprocess

import pytest
from cuda_helpers import SIMULATOR, ptx_check_process, stop_ptx_check


@pytest.mark.skipif(not SIMULATOR, reason="on a GPU the other tests compile every kernel for real")
def test_kernels_compile_to_ptx():
    proc = ptx_check_process()  # usually started when the tests were collected (conftest.py)
    try:
        stdout, stderr = proc.communicate(timeout=600)
    except subprocess.TimeoutExpired:
        stop_ptx_check()
        raise
    if proc.returncode == 77:
        pytest.skip(f"no CUDA toolkit (NVVM) to compile with: {stdout.strip()}")
    assert proc.returncode == 0, stdout + stderr
    assert stdout.count(": ok") == 23
