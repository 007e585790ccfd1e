"""Helpers of the CUDA tests (simulator or GPU), imported by the test modules."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np

SIMULATOR = os.environ.get("NUMBA_ENABLE_CUDASIM") == "1"

#: Float tolerance against the CPU.  The simulator computes the same float
#: operations as the CPU; a GPU fuses multiply-adds (FMA), a few ulp apart.
TOL = {np.dtype(np.float32): 2e-6, np.dtype(np.float64): 1e-13}


def assert_matches(got, want, exact=True):
    """``got`` (host) equals the CPU's ``want``: bit for bit in the simulator, within TOL on a GPU.

    ``exact=False`` where the simulator rounds differently too: its float32
    ``atan2`` (CIoU's aspect angle) is computed in float64, then rounded.
    """
    got = np.asarray(got)
    assert got.dtype == want.dtype and got.shape == want.shape
    assert np.isfinite(got).all()
    if SIMULATOR and exact:
        np.testing.assert_array_equal(got, want)
    else:
        np.testing.assert_allclose(got, want, rtol=0, atol=TOL[want.dtype])


_ptx_check = None


def ptx_check_process() -> subprocess.Popen:
    """``ptx_check.py`` running in a subprocess without the simulator (started at the first call).

    conftest.py starts it as soon as the tests are collected: its compilation (one
    core, some 15 s) then overlaps the simulator's tests, which keep to one core (the GIL).
    """
    global _ptx_check
    if _ptx_check is None:
        env = {k: v for k, v in os.environ.items() if k != "NUMBA_ENABLE_CUDASIM"}
        script = Path(__file__).with_name("ptx_check.py")
        _ptx_check = subprocess.Popen([sys.executable, str(script)], env=env, stdout=subprocess.PIPE,
                                      stderr=subprocess.PIPE, text=True)
    return _ptx_check


def stop_ptx_check() -> None:
    """End the ``ptx_check.py`` subprocess if it is still running (its test was not reached)."""
    if _ptx_check is not None and _ptx_check.poll() is None:
        _ptx_check.kill()
        _ptx_check.communicate()
