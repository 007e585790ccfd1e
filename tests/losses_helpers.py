"""Helpers of the loss tests: tolerances, finite differences, PyTorch autograd."""

from __future__ import annotations

import numpy as np
import pytest

REDUCTIONS = ("none", "mean", "sum")
DTYPES = (np.float32, np.float64)


def torch_or_skip():
    return pytest.importorskip("torch", reason="PyTorch is the reference for values and gradients")


def assert_close(actual, expected, dtype, rtol=None):
    """Equal within the dtype's rounding, relative to the largest expected magnitude."""
    expected = np.asarray(expected, dtype=np.float64)
    scale = max(1.0, float(np.max(np.abs(expected)))) if expected.size else 1.0
    if rtol is None:
        rtol = 2e-5 if np.dtype(dtype) == np.float32 else 1e-10
    np.testing.assert_allclose(np.asarray(actual, dtype=np.float64), expected, rtol=rtol, atol=rtol * scale)


def check_result(result, ref_value, ref_grad, dtype, rtol=None):
    """``result`` is ``(value, grad)`` of ``dtype`` matching the reference value and gradient."""
    value, grad = result
    assert np.asarray(value).dtype == np.dtype(dtype)
    assert np.shape(value) == np.shape(ref_value)
    assert grad.dtype == np.dtype(dtype)
    assert grad.shape == np.shape(ref_grad)
    assert_close(value, ref_value, dtype, rtol)
    assert_close(grad, ref_grad, dtype, rtol)


def torch_value_grad(fn, x, *others):
    """``fn(x_tensor, *other_tensors)`` and d sum(fn) / d x by autograd (arrays of x's dtype)."""
    torch = torch_or_skip()
    xt = torch.tensor(np.asarray(x), requires_grad=True)
    out = fn(xt, *(torch.as_tensor(np.asarray(o)) if o is not None else None for o in others))
    out.sum().backward()
    return out.detach().numpy(), xt.grad.numpy()


def numeric_grad(f, x, h=1e-6):
    """Central differences of ``sum(f(x))`` in float64."""
    x = np.array(x, dtype=np.float64)
    g = np.zeros_like(x)
    flat, gflat = x.reshape(-1), g.reshape(-1)
    for i in range(flat.size):
        old = flat[i]
        flat[i] = old + h
        up = float(np.sum(f(x)))
        flat[i] = old - h
        down = float(np.sum(f(x)))
        flat[i] = old
        gflat[i] = (up - down) / (2 * h)
    return g
