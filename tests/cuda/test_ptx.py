"""Every CUDA kernel compiles for a real GPU (PTX for sm_90), also on machines without one."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from cuda_helpers import SIMULATOR


@pytest.mark.skipif(not SIMULATOR, reason="on a GPU the other tests compile every kernel for real")
def test_kernels_compile_to_ptx():
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_ENABLE_CUDASIM"}
    script = Path(__file__).with_name("ptx_check.py")
    proc = subprocess.run([sys.executable, str(script)], env=env, capture_output=True, text=True, timeout=600)
    if proc.returncode == 77:
        pytest.skip(f"no CUDA toolkit (NVVM) to compile with: {proc.stdout.strip()}")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.count(": ok") == 18
