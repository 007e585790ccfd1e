"""Regression losses: values and gradients vs PyTorch, closed forms, finite differences, errors."""

from __future__ import annotations

import numpy as np
import pytest
from losses_helpers import DTYPES, REDUCTIONS, assert_close, check_result, numeric_grad, torch_value_grad

from fastiou import losses

RNG = np.random.default_rng(0)
X = RNG.normal(size=(7, 5)) * 2
T = RNG.normal(size=(7, 5)) * 2
X[0, :3] = T[0, :3]  # exact zeros of the difference (kinks)
X[1, 0] = T[1, 0] + 1.0  # exactly at |d| = delta = beta = 1


def _torch_fns():
    import torch.nn.functional as tf

    return {
        "mse_loss": lambda r, kw: (lambda x, t: tf.mse_loss(x, t, reduction=r)),
        "l1_loss": lambda r, kw: (lambda x, t: tf.l1_loss(x, t, reduction=r)),
        "huber_loss": lambda r, kw: (lambda x, t: tf.huber_loss(x, t, reduction=r, **kw)),
        "smooth_l1_loss": lambda r, kw: (lambda x, t: tf.smooth_l1_loss(x, t, reduction=r, **kw)),
    }


TORCH_CASES = [
    ("mse_loss", {}),
    ("l1_loss", {}),
    ("huber_loss", {"delta": 1.0}),
    ("huber_loss", {"delta": 0.3}),
    ("smooth_l1_loss", {"beta": 1.0}),
    ("smooth_l1_loss", {"beta": 2.5}),
    ("smooth_l1_loss", {"beta": 0.0}),
]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("name,kwargs", TORCH_CASES)
def test_matches_torch(name, kwargs, reduction, dtype):
    x, t = X.astype(dtype), T.astype(dtype)
    pytest.importorskip("torch", reason="PyTorch is the reference")
    ref_value, ref_grad = torch_value_grad(_torch_fns()[name](reduction, kwargs), x, t)
    ours = getattr(losses, name)(x, t, reduction=reduction, return_grad=True, **kwargs)
    check_result(ours, ref_value, ref_grad, dtype)
    # without return_grad: the same value alone
    assert_close(getattr(losses, name)(x, t, reduction=reduction, **kwargs), ref_value, dtype)


def test_log_cosh_closed_form():
    value = losses.log_cosh_loss([0.0, 1.0, 10.0, 1000.0], [0.0, 0.0, 0.0, 0.0], reduction="none")
    np.testing.assert_allclose(value, [0.0, 0.4337808, 9.3068528, 999.3068528], atol=5e-8)
    # symmetric, and exactly log(cosh(d)) where cosh does not overflow
    d = np.linspace(-20, 20, 41)
    value = losses.log_cosh_loss(d, np.zeros_like(d), reduction="none")
    np.testing.assert_allclose(value, np.log(np.cosh(d)), rtol=1e-12, atol=1e-15)
    v32 = losses.log_cosh_loss(np.float32([1000.0, -1000.0]), np.float32([0.0, 0.0]), reduction="none")
    assert v32.dtype == np.float32 and np.all(np.isfinite(v32))


def test_quantile_closed_form():
    y = [3.0, -0.5, 2.0, 7.0, 2.0]
    pred = [2.5, 0.0, 2.0, 8.0, 1.25]
    assert float(losses.quantile_loss(pred, y, quantile=0.5)) == pytest.approx(0.275, abs=1e-15)
    # q = 0.9 weighs under-prediction (target above input) 9 times more
    none = losses.quantile_loss(pred, y, quantile=0.9, reduction="none")
    r = np.subtract(y, pred)
    np.testing.assert_allclose(none, np.maximum(0.9 * r, -0.1 * r), rtol=1e-15)
    # q = 0.5 is half the absolute error
    assert float(losses.quantile_loss(pred, y)) == pytest.approx(0.5 * float(losses.l1_loss(pred, y)))


def test_huber_is_delta_times_smooth_l1():
    x, t = X.ravel(), T.ravel()
    for delta in (0.2, 1.0, 3.0):
        np.testing.assert_allclose(
            losses.huber_loss(x, t, delta, reduction="none"),
            delta * losses.smooth_l1_loss(x, t, beta=delta, reduction="none"),
            rtol=1e-12,
        )


FD_CASES = [
    ("mse_loss", {}),
    ("l1_loss", {}),
    ("huber_loss", {"delta": 0.7}),
    ("smooth_l1_loss", {"beta": 0.7}),
    ("log_cosh_loss", {}),
    ("quantile_loss", {"quantile": 0.3}),
]


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("name,kwargs", FD_CASES)
def test_gradient_matches_finite_differences(name, kwargs, reduction):
    x = RNG.normal(size=(4, 3)) * 3
    t = x + RNG.uniform(0.2, 2.0, size=x.shape) * RNG.choice([-1, 1], size=x.shape)  # away from kinks
    fn = getattr(losses, name)
    value, grad = fn(x, t, reduction=reduction, return_grad=True, **kwargs)
    expected = numeric_grad(lambda z: fn(z, t, reduction=reduction, **kwargs), x)
    np.testing.assert_allclose(grad, expected, rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("name", [n for n, _ in FD_CASES])
def test_empty_batch(name):
    fn = getattr(losses, name)
    for dtype in DTYPES:
        empty = np.empty((0, 3), dtype=dtype)
        value, grad = fn(empty, empty, reduction="mean", return_grad=True)
        assert value == 0.0 and np.asarray(value).dtype == dtype
        assert grad.shape == (0, 3) and grad.dtype == dtype
        assert fn(empty, empty, reduction="sum") == 0.0
        assert fn(empty, empty, reduction="none").shape == (0, 3)


@pytest.mark.parametrize("name", [n for n, _ in FD_CASES])
def test_dtypes_and_inputs_unchanged(name):
    fn = getattr(losses, name)
    x32 = X.astype(np.float32)
    t32 = T.astype(np.float32)
    before = x32.copy(), t32.copy()
    value, grad = fn(x32, t32, reduction="none", return_grad=True)
    assert value.dtype == np.float32 and grad.dtype == np.float32
    np.testing.assert_array_equal(x32, before[0])
    np.testing.assert_array_equal(t32, before[1])
    assert fn([1, 2], [0, 0], reduction="none").dtype == np.float64  # integers compute in float64
    fortran = np.asfortranarray(X)
    np.testing.assert_allclose(fn(fortran, T, reduction="none"), fn(X, T, reduction="none"), rtol=1e-15)


def test_parallel_equals_serial(force_parallel):
    x = RNG.normal(size=10_001)
    t = RNG.normal(size=10_001)
    for name, kwargs in FD_CASES:
        fn = getattr(losses, name)
        value, grad = fn(x, t, reduction="sum", return_grad=True, **kwargs)
        none = fn(x, t, reduction="none", **kwargs)
        np.testing.assert_allclose(value, none.sum(), rtol=1e-12)
        expected_grad = fn(x[:5], t[:5], reduction="sum", return_grad=True, **kwargs)[1]
        np.testing.assert_allclose(grad[:5], expected_grad, rtol=1e-15)


@pytest.mark.parametrize(
    "call",
    [
        lambda: losses.huber_loss([1.0], [0.0], delta=0.0),
        lambda: losses.huber_loss([1.0], [0.0], delta=-1.0),
        lambda: losses.huber_loss([1.0], [0.0], delta=float("nan")),
        lambda: losses.smooth_l1_loss([1.0], [0.0], beta=-0.1),
        lambda: losses.quantile_loss([1.0], [0.0], quantile=0.0),
        lambda: losses.quantile_loss([1.0], [0.0], quantile=1.0),
        lambda: losses.quantile_loss([1.0], [0.0], quantile=1.5),
        lambda: losses.mse_loss([1.0], [0.0], reduction="avg"),
        lambda: losses.l1_loss([1.0], [0.0], reduction="batchmean"),
        lambda: losses.mse_loss([1.0, 2.0], [0.0]),
    ],
)
def test_bad_parameters_raise_value_error(call):
    with pytest.raises(ValueError):
        call()


def test_wrong_kinds_raise_type_error():
    with pytest.raises(TypeError, match="input"):
        losses.mse_loss("abc", [0.0])
    with pytest.raises(TypeError, match="delta"):
        losses.huber_loss([1.0], [0.0], delta="1")
    with pytest.raises(TypeError, match="target"):
        losses.l1_loss([1.0], [1j])
