"""Information measures vs SciPy and closed forms; gradients vs finite differences."""

from __future__ import annotations

import numpy as np
import pytest
from losses_helpers import DTYPES, REDUCTIONS, numeric_grad, torch_or_skip
from scipy import spatial, stats

from fastiou import losses

RNG = np.random.default_rng(3)
P = RNG.uniform(0.05, 1.0, size=(4, 6))  # unnormalised on purpose (SciPy normalises)
Q = RNG.uniform(0.05, 1.0, size=(4, 6))
PXY = RNG.uniform(0.05, 1.0, size=(3, 4, 5))


def test_closed_forms():
    kl = losses.kl_divergence([0.5, 0.5, 0.0], [0.25, 0.25, 0.5])
    assert float(kl) == pytest.approx(np.log(2), rel=1e-15)
    assert float(losses.entropy([0.25] * 4, base=2)) == pytest.approx(2.0)
    assert float(losses.js_divergence([1.0, 0.0], [0.0, 1.0])) == pytest.approx(np.log(2))
    assert float(losses.js_divergence([1.0, 0.0], [0.0, 1.0], base=2)) == pytest.approx(1.0)
    assert float(losses.js_divergence([0.3, 0.7], [0.3, 0.7])) == 0.0
    surprisal = losses.self_information([0.5, 0.25, 1.0, 0.0], base=2)
    np.testing.assert_allclose(surprisal, [1.0, 2.0, 0.0, np.inf])
    assert float(losses.mutual_information(np.eye(3) / 3)) == pytest.approx(np.log(3))
    independent = np.outer([0.2, 0.8], [0.5, 0.1, 0.4])
    assert float(losses.mutual_information(independent)) == pytest.approx(0.0, abs=1e-15)


def test_scipy_zero_conventions():
    # 0 log 0 = 0; q = 0 with p > 0 gives +inf (scipy.special.rel_entr)
    assert float(losses.entropy([1.0, 0.0])) == 0.0
    assert float(losses.kl_divergence([0.0, 1.0], [0.5, 0.5])) == pytest.approx(np.log(2))
    assert float(losses.kl_divergence([0.5, 0.5], [1.0, 0.0])) == np.inf
    assert float(losses.kl_divergence([0.0, 1.0], [0.0, 1.0])) == 0.0
    p, q = [0.2, 0.0, 0.8], [0.0, 0.3, 0.7]
    assert float(losses.kl_divergence(p, q)) == stats.entropy(p, q) == np.inf
    js = losses.js_divergence(p, q)
    np.testing.assert_allclose(js, spatial.distance.jensenshannon(p, q) ** 2, rtol=1e-12)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("base", [None, 2, 10])
def test_match_scipy(dtype, base):
    p, q = P.astype(dtype), Q.astype(dtype)
    rtol = 1e-5 if dtype == np.float32 else 1e-12
    h = losses.entropy(p, base=base)
    assert h.dtype == dtype and h.shape == (4,)
    np.testing.assert_allclose(h, stats.entropy(P, base=base, axis=1), rtol=rtol)
    kl = losses.kl_divergence(p, q, base=base)
    np.testing.assert_allclose(kl, stats.entropy(P, Q, base=base, axis=1), rtol=rtol)
    # SciPy's jensenshannon is the square root of the divergence
    np.testing.assert_allclose(losses.js_divergence(p, q, base=base),
                               spatial.distance.jensenshannon(P, Q, base=base, axis=1) ** 2, rtol=rtol * 10)
    # axis=0 is SciPy's default
    h0 = losses.entropy(P.T, axis=0, base=base)
    np.testing.assert_allclose(h0, stats.entropy(P.T, base=base), rtol=1e-12)


def test_joint_measures_identities():
    pxy = PXY / PXY.sum(axis=(1, 2), keepdims=True)
    px, py = pxy.sum(axis=2), pxy.sum(axis=1)
    h_xy = losses.joint_entropy(PXY)
    np.testing.assert_allclose(h_xy, stats.entropy(pxy.reshape(3, -1), axis=1), rtol=1e-12)
    h_x, h_y = stats.entropy(px, axis=1), stats.entropy(py, axis=1)
    np.testing.assert_allclose(losses.conditional_entropy(PXY), h_xy - h_x, rtol=1e-12)
    np.testing.assert_allclose(losses.mutual_information(PXY), h_x + h_y - h_xy, rtol=1e-10)
    kl = stats.entropy(pxy.reshape(3, -1), (px[:, :, None] * py[:, None, :]).reshape(3, -1), axis=1)
    np.testing.assert_allclose(losses.mutual_information(PXY, base=2), kl / np.log(2), rtol=1e-10)


def test_kl_matches_torch_kl_div_batchmean():
    torch = torch_or_skip()
    p = P / P.sum(axis=1, keepdims=True)
    q = Q / Q.sum(axis=1, keepdims=True)
    kl_div = torch.nn.functional.kl_div
    expected = kl_div(torch.tensor(np.log(q)), torch.tensor(p), reduction="batchmean").item()
    assert float(losses.kl_divergence(p, q, reduction="batchmean")) == pytest.approx(expected, rel=1e-12)
    assert float(losses.kl_divergence(p, q, reduction="mean")) == pytest.approx(expected, rel=1e-12)
    assert float(losses.kl_divergence(p, q, reduction="sum")) == pytest.approx(expected * 4, rel=1e-12)


CASES = [
    (lambda x, **kw: losses.entropy(x, **kw), P),
    (lambda x, **kw: losses.kl_divergence(x, Q, **kw), P),
    (lambda x, **kw: losses.js_divergence(x, Q, **kw), P),
    (lambda x, **kw: losses.joint_entropy(x, **kw), PXY),
    (lambda x, **kw: losses.conditional_entropy(x, **kw), PXY),
    (lambda x, **kw: losses.mutual_information(x, **kw), PXY),
    (lambda x, **kw: losses.self_information(x, **kw), P / 2),
]


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("case", range(len(CASES)))
@pytest.mark.parametrize("base", [None, 2])
def test_gradients_match_finite_differences(case, reduction, base):
    fn, x = CASES[case]
    value, grad = fn(x, base=base, reduction=reduction, return_grad=True)
    assert grad.shape == x.shape
    fd = numeric_grad(lambda z: fn(z, base=base, reduction=reduction), x)
    np.testing.assert_allclose(grad, fd, rtol=1e-6, atol=1e-8)


def test_gradient_at_zero_entries():
    value, grad = losses.kl_divergence([0.0, 0.4, 0.6], [0.3, 0.3, 0.4], return_grad=True)
    assert np.isfinite(value) and grad[0] == -np.inf and np.all(np.isfinite(grad[1:]))
    value, grad = losses.entropy([0.0, 0.5, 0.5], return_grad=True)
    assert grad[0] == np.inf and np.all(np.isfinite(grad[1:]))
    # where the divergence itself is infinite the gradient is undefined: NaN, as documented
    value, grad = losses.kl_divergence([0.5, 0.5], [1.0, 0.0], return_grad=True)
    assert value == np.inf and np.all(np.isnan(grad))


def test_dtypes_reductions_and_inputs_unchanged():
    p32 = P.astype(np.float32)
    before = p32.copy()
    value, grad = losses.kl_divergence(p32, Q.astype(np.float32), reduction="mean", return_grad=True)
    assert np.asarray(value).dtype == np.float32 and grad.dtype == np.float32
    np.testing.assert_array_equal(p32, before)
    per = losses.entropy(P)
    assert float(losses.entropy(P, reduction="sum")) == pytest.approx(per.sum())
    assert float(losses.entropy(P, reduction="mean")) == pytest.approx(per.mean())
    assert losses.entropy(np.empty((0, 3)), reduction="mean") == 0.0
    assert losses.entropy([3, 1]).dtype == np.float64  # counts (integers) are fine, in float64


@pytest.mark.parametrize(
    "call",
    [
        lambda: losses.entropy([0.5, -0.5, 1.0]),
        lambda: losses.entropy([0.0, 0.0]),
        lambda: losses.entropy([0.5, np.nan]),
        lambda: losses.entropy(P, base=1),
        lambda: losses.entropy(P, base=-2),
        lambda: losses.entropy(P, axis=2),
        lambda: losses.entropy(P, reduction="batchmean"),
        lambda: losses.kl_divergence(P, Q[:, :5]),
        lambda: losses.kl_divergence(P, Q, reduction="avg"),
        lambda: losses.js_divergence(P, Q, reduction="batchmean"),
        lambda: losses.joint_entropy([0.5, 0.5]),
        lambda: losses.self_information([1.5]),
    ],
)
def test_bad_input_raises_value_error(call):
    with pytest.raises(ValueError):
        call()
