"""The loss kernels' float32 exp and log1p polynomials: accuracy against float64 libm."""

from __future__ import annotations

import math

import numba
import numpy as np

from fastiou.backends import numba_cpu_losses as K


@numba.njit
def _apply_exp(x, out):
    for i in range(x.shape[0]):
        out[i] = K.exp_nonpositive(x[i])


@numba.njit
def _apply_log1p(x, out):
    for i in range(x.shape[0]):
        out[i] = K.log1p_unit(x[i])


def _ulps(actual, exact):
    exact32 = exact.astype(np.float32)
    return np.abs(actual.astype(np.float64) - exact) / np.spacing(np.abs(exact32)).astype(np.float64)


def test_float32_exp_within_3_ulp():
    x = np.concatenate([np.linspace(-87.3, 0, 400_001, dtype=np.float32), np.float32([0.0, -1e-30, -1e-7])])
    out = np.empty_like(x)
    _apply_exp(x, out)
    assert out.dtype == np.float32
    assert _ulps(out, np.exp(x.astype(np.float64))).max() <= 3
    assert out[x == 0].tolist() == [1.0, 1.0]


def test_float32_exp_flushes_the_denormal_range_to_zero():
    x = np.float32([-87.5, -100.0, -104.0, -1000.0, -3e38])
    out = np.empty_like(x)
    _apply_exp(x, out)
    assert np.all(out >= 0) and np.all(out < np.finfo(np.float32).tiny * 2)
    assert out[-3:].tolist() == [0.0, 0.0, 0.0]


def test_float32_log1p_within_3_ulp():
    e = np.concatenate([np.linspace(0, 1, 400_001, dtype=np.float32), np.float32([1e-30, 1e-10, 1e-38])])
    out = np.empty_like(e)
    _apply_log1p(e, out)
    exact = np.log1p(e.astype(np.float64))
    nonzero = exact > 0
    assert _ulps(out[nonzero], exact[nonzero]).max() <= 3
    assert out[e == 0].tolist() == [0.0]


def test_float64_uses_libm():
    x = np.linspace(-700, 0, 10_001)
    out = np.empty_like(x)
    _apply_exp(x, out)
    np.testing.assert_array_equal(out, [math.exp(v) for v in x])
    u = np.linspace(0, 1, 10_001)
    _apply_log1p(u, out)
    np.testing.assert_array_equal(out, [math.log1p(v) for v in u])
