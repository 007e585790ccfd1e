"""Helpers of the CUDA tests (simulator or GPU), imported by the test modules."""

from __future__ import annotations

import os

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
