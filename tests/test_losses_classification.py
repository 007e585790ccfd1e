"""Classification losses: values and gradients vs PyTorch / torchvision, references, closed forms."""

from __future__ import annotations

import numpy as np
import pytest
from losses_helpers import (
    DTYPES,
    REDUCTIONS,
    check_result,
    numeric_grad,
    torch_or_skip,
    torch_value_grad,
)

from fastiou import losses, reference

RNG = np.random.default_rng(1)
N, C = 9, 5
LOGITS = RNG.normal(size=(N, C)) * 3
LABELS = RNG.integers(0, C, size=N)
WEIGHT = RNG.uniform(0.2, 2.0, size=C)
EXTREME = np.array([[1000.0, -1000.0, 0.0], [-1000.0, 1000.0, 999.0], [0.0, 0.0, -1000.0]])


# --- cross-entropy ------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("use_weight", [False, True], ids=["unweighted", "weighted"])
@pytest.mark.parametrize("smoothing", [0.0, 0.2])
@pytest.mark.parametrize("ignore", [False, True], ids=["all", "ignore"])
def test_cross_entropy_indices_matches_torch(dtype, reduction, use_weight, smoothing, ignore):
    torch = torch_or_skip()
    x = LOGITS.astype(dtype)
    y = LABELS.copy()
    if ignore:
        y[[1, 4]] = -100
    w = WEIGHT.astype(dtype) if use_weight else None

    def fn(xt, w_t):
        return torch.nn.functional.cross_entropy(xt, torch.as_tensor(y), weight=w_t, reduction=reduction,
                                                 label_smoothing=smoothing)

    ref_value, ref_grad = torch_value_grad(fn, x, w)
    ours = losses.cross_entropy(x, y, w, reduction=reduction, label_smoothing=smoothing, return_grad=True)
    check_result(ours, ref_value, ref_grad, dtype)
    # the naive per-sample loop agrees too
    per_sample = reference.cross_entropy_loss(LOGITS, y, WEIGHT if use_weight else None, -100, smoothing)
    none = losses.cross_entropy(LOGITS, y, WEIGHT if use_weight else None, reduction="none",
                                label_smoothing=smoothing)
    np.testing.assert_allclose(none, per_sample, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("smoothing", [0.0, 0.3])
@pytest.mark.parametrize("use_weight", [False, True], ids=["unweighted", "weighted"])
def test_cross_entropy_probabilities_matches_torch(dtype, reduction, smoothing, use_weight):
    torch = torch_or_skip()
    x = LOGITS.astype(dtype)
    p = losses.softmax(RNG.normal(size=(N, C))).astype(dtype)
    w = WEIGHT.astype(dtype) if use_weight else None

    def fn(xt, w_t):
        return torch.nn.functional.cross_entropy(xt, torch.as_tensor(p), weight=w_t, reduction=reduction,
                                                 label_smoothing=smoothing)

    ref_value, ref_grad = torch_value_grad(fn, x, w)
    ours = losses.cross_entropy(x, p, w, reduction=reduction, label_smoothing=smoothing, return_grad=True)
    check_result(ours, ref_value, ref_grad, dtype)


def test_cross_entropy_unbatched_matches_torch():
    torch = torch_or_skip()
    x = LOGITS[0]
    for target in (3, losses.softmax(LOGITS[1])):
        ref = torch_value_grad(lambda xt: torch.nn.functional.cross_entropy(xt, torch.as_tensor(target)), x)
        value, grad = losses.cross_entropy(x, target, return_grad=True)
        assert np.shape(value) == () and grad.shape == (C,)
        check_result((value, grad), *ref, np.float64)


def test_cross_entropy_weighted_mean_semantics():
    # 'mean' divides by the sum of the targets' weights over samples not ignored
    y = np.array([0, 1, -100, 1])
    w = np.array([1.0, 3.0, 5.0, 7.0, 9.0])
    per_sample = losses.cross_entropy(LOGITS[:4], y, w, reduction="none")
    assert per_sample[2] == 0.0
    expected = per_sample.sum() / (w[0] + w[1] + w[1])
    assert float(losses.cross_entropy(LOGITS[:4], y, w)) == pytest.approx(expected, rel=1e-12)
    assert float(losses.cross_entropy(LOGITS[:4], y, w, reduction="sum")) == pytest.approx(per_sample.sum())
    # every sample ignored: the mean is 0.0 (PyTorch gives NaN), with a zero gradient
    value, grad = losses.cross_entropy(LOGITS[:2], [-100, -100], return_grad=True)
    assert value == 0.0 and not grad.any()
    # custom ignore_index
    assert losses.cross_entropy(LOGITS[:2], [1, 7], ignore_index=7, reduction="none")[1] == 0.0


def test_cross_entropy_smoothing_equals_smoothed_targets():
    smoothed = losses.smooth_labels(LABELS, C, epsilon=0.25)
    np.testing.assert_allclose(smoothed.sum(axis=1), 1.0)
    a = losses.cross_entropy(LOGITS, LABELS, label_smoothing=0.25, reduction="none", return_grad=True)
    b = losses.cross_entropy(LOGITS, smoothed, reduction="none", return_grad=True)
    np.testing.assert_allclose(a[0], b[0], rtol=1e-12)
    np.testing.assert_allclose(a[1], b[1], rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_cross_entropy_finite_differences(reduction):
    y = LABELS.copy()
    y[2] = -100
    cases = ((y, {"weight": WEIGHT, "label_smoothing": 0.1}), (losses.softmax(LOGITS * 0.5), {}))
    for target, kwargs in cases:
        _, grad = losses.cross_entropy(LOGITS, target, reduction=reduction, return_grad=True, **kwargs)

        def fn(z):
            return losses.cross_entropy(z, target, reduction=reduction, **kwargs)

        expected = numeric_grad(fn, LOGITS)
        np.testing.assert_allclose(grad, expected, rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("dtype", DTYPES)
def test_extreme_logits_are_finite_and_exact(dtype):
    x = EXTREME.astype(dtype)
    value, grad = losses.cross_entropy(x, [0, 1, 2], reduction="none", return_grad=True)
    assert np.all(np.isfinite(value)) and np.all(np.isfinite(grad))
    # float32 logits of 1000 carry an absolute rounding of 6e-5 (PyTorch's too)
    atol = 1e-4 if dtype == np.float32 else 1e-12
    expected = [0.0, np.log1p(np.exp(-1.0)), 1000.0 + np.log(2.0)]
    np.testing.assert_allclose(value, expected, rtol=1e-6, atol=atol)
    for fn in (losses.softmax_focal_loss,):
        v, g = fn(x, [0, 1, 2], reduction="none", return_grad=True)
        assert np.all(np.isfinite(v)) and np.all(np.isfinite(g))
    for fn in (losses.binary_cross_entropy_with_logits, losses.sigmoid_focal_loss):
        v, g = fn(x, (x > 0).astype(dtype), reduction="none", return_grad=True)
        assert np.all(np.isfinite(v)) and np.all(np.isfinite(g))
        v, g = fn(x, (x <= 0).astype(dtype), reduction="none", return_grad=True)
        assert np.all(np.isfinite(v)) and np.all(np.isfinite(g))
    v, g = losses.logistic_loss(x, np.ones_like(x), reduction="none", return_grad=True)
    assert np.all(np.isfinite(v)) and np.all(np.isfinite(g))
    np.testing.assert_allclose(v[0], [0.0, 1000.0, np.log(2.0)], rtol=1e-6)
    np.testing.assert_allclose(losses.log_softmax(x)[0], [0.0, -2000.0, -1000.0], rtol=1e-6)
    assert np.all(np.isfinite(losses.softmax(x)))


def test_softmax_log_softmax_match_torch():
    torch = torch_or_skip()
    x = RNG.normal(size=(3, 4, 5)) * 10
    for dim in (0, 1, -1):
        xt = torch.tensor(x)
        np.testing.assert_allclose(losses.softmax(x, dim), torch.softmax(xt, dim).numpy(), rtol=1e-12)
        np.testing.assert_allclose(losses.log_softmax(x, dim), torch.log_softmax(xt, dim).numpy(), rtol=1e-12)
    assert losses.softmax(x.astype(np.float32)).dtype == np.float32
    with pytest.raises(ValueError, match="dim"):
        losses.softmax(x, 3)


# --- binary cross-entropy -----------------------------------------------------------------


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("use_weight", [False, True], ids=["unweighted", "weighted"])
def test_binary_cross_entropy_matches_torch(dtype, reduction, use_weight):
    torch = torch_or_skip()
    p = RNG.uniform(0.01, 0.99, size=(N, C)).astype(dtype)
    p[0, :2] = [0.0, 1.0]  # PyTorch's clamps at the ends
    t = RNG.uniform(size=(N, C)).astype(dtype)
    t[0, :2] = [1.0, 0.0]
    w = RNG.uniform(0.5, 2, size=(C,)).astype(dtype) if use_weight else None

    def fn(pt, w_t):
        return torch.nn.functional.binary_cross_entropy(pt, torch.as_tensor(t), weight=w_t,
                                                        reduction=reduction)

    ref = torch_value_grad(fn, p, w)
    check_result(losses.binary_cross_entropy(p, t, w, reduction=reduction, return_grad=True), *ref, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("weights", ["none", "weight", "pos_weight", "both"])
def test_binary_cross_entropy_with_logits_matches_torch(dtype, reduction, weights):
    torch = torch_or_skip()
    x = (LOGITS * 3).astype(dtype)
    x[0, :3] = [1000.0, -1000.0, 30.0]
    t = RNG.uniform(size=(N, C)).astype(dtype)
    w = RNG.uniform(0.5, 2, size=(N, 1)).astype(dtype) if weights in ("weight", "both") else None
    pw = RNG.uniform(0.5, 3, size=(C,)).astype(dtype) if weights in ("pos_weight", "both") else None

    def fn(xt, w_t, pw_t):
        return torch.nn.functional.binary_cross_entropy_with_logits(xt, torch.as_tensor(t), weight=w_t,
                                                                    reduction=reduction, pos_weight=pw_t)

    ref = torch_value_grad(fn, x, w, pw)
    ours = losses.binary_cross_entropy_with_logits(x, t, w, reduction=reduction, pos_weight=pw,
                                                   return_grad=True)
    check_result(ours, *ref, dtype)


def test_bce_with_logits_equals_bce_of_sigmoid():
    x = RNG.normal(size=20) * 4
    t = RNG.uniform(size=20)
    p = 1 / (1 + np.exp(-x))
    np.testing.assert_allclose(
        losses.binary_cross_entropy_with_logits(x, t, reduction="none"),
        losses.binary_cross_entropy(p, t, reduction="none"),
        rtol=1e-10,
    )


# --- focal losses -------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize(
    "alpha,gamma", [(0.25, 2.0), (-1.0, 2.0), (0.5, 0.0), (0.75, 1.5), (0.25, 0.5), (0.3, 3.0)]
)
def test_sigmoid_focal_matches_torchvision(dtype, reduction, alpha, gamma):
    torch = torch_or_skip()
    tv = pytest.importorskip("torchvision.ops", reason="torchvision is the reference for focal loss")
    x = (LOGITS * 2).astype(dtype)
    t = (RNG.uniform(size=(N, C)) < 0.3).astype(dtype)
    t[1] = RNG.uniform(size=C)  # soft targets too

    def fn(xt):
        return tv.sigmoid_focal_loss(xt, torch.as_tensor(t), alpha=alpha, gamma=gamma, reduction=reduction)

    ref = torch_value_grad(fn, x)
    ours = losses.sigmoid_focal_loss(x, t, alpha, gamma, reduction, return_grad=True)
    check_result(ours, *ref, dtype, rtol=1e-4 if dtype == np.float32 else 1e-9)
    np.testing.assert_allclose(losses.sigmoid_focal_loss(LOGITS, t, alpha, gamma),
                               reference.sigmoid_focal_loss(LOGITS, t, alpha, gamma), rtol=1e-10, atol=1e-15)


def test_sigmoid_focal_default_reduction_is_none():
    assert losses.sigmoid_focal_loss(LOGITS, LOGITS > 0).shape == LOGITS.shape


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("alpha", [None, 0.25, "per-class"])
@pytest.mark.parametrize("gamma", [0.0, 0.5, 2.0, 3.0])
def test_softmax_focal_reference_and_finite_differences(reduction, alpha, gamma):
    a = WEIGHT if isinstance(alpha, str) else alpha
    y = LABELS.copy()
    y[3] = -100
    value, grad = losses.softmax_focal_loss(LOGITS, y, a, gamma, reduction, return_grad=True)
    per_sample = reference.softmax_focal_loss(LOGITS, y, a, gamma)
    expected = {"none": per_sample, "sum": per_sample.sum(), "mean": per_sample.sum() / (N - 1)}[reduction]
    np.testing.assert_allclose(value, expected, rtol=1e-12, atol=1e-15)
    fd = numeric_grad(lambda z: losses.softmax_focal_loss(z, y, a, gamma, reduction), LOGITS)
    np.testing.assert_allclose(grad, fd, rtol=1e-6, atol=1e-8)


def test_softmax_focal_gamma_zero_is_cross_entropy():
    for reduction in REDUCTIONS:
        a = losses.softmax_focal_loss(LOGITS, LABELS, gamma=0.0, reduction=reduction, return_grad=True)
        b = losses.cross_entropy(LOGITS, LABELS, reduction=reduction, return_grad=True)
        np.testing.assert_allclose(a[0], b[0], rtol=1e-12)
        np.testing.assert_allclose(a[1], b[1], rtol=1e-12, atol=1e-16)


def test_softmax_focal_spatial_matches_rows():
    x = RNG.normal(size=(2, C, 3, 4))
    y = RNG.integers(0, C, size=(2, 3, 4))
    value, grad = losses.softmax_focal_loss(x, y, WEIGHT, 2.0, "none", return_grad=True)
    rows = np.moveaxis(x, 1, -1).reshape(-1, C)
    v_rows, g_rows = losses.softmax_focal_loss(rows, y.reshape(-1), WEIGHT, 2.0, "none", return_grad=True)
    np.testing.assert_allclose(value.reshape(-1), v_rows, rtol=1e-12)
    np.testing.assert_allclose(np.moveaxis(grad, 1, -1).reshape(-1, C), g_rows, rtol=1e-12, atol=1e-16)


# --- margin losses ------------------------------------------------------------------------


SCORES = RNG.normal(size=(6, 4)) * 2
SIGNS = RNG.choice([-1, 1], size=(6, 4))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_logistic_matches_torch_soft_margin(dtype, reduction):
    torch = torch_or_skip()
    f, y = SCORES.astype(dtype), SIGNS
    def fn(ft):
        labels = torch.as_tensor(y, dtype=ft.dtype)
        return torch.nn.functional.soft_margin_loss(ft, labels, reduction=reduction)

    ref = torch_value_grad(fn, f)
    check_result(losses.logistic_loss(f, y, reduction=reduction, return_grad=True), *ref, dtype)


def test_margin_losses_closed_forms():
    f = np.array([2.0, 0.5, -1.0, 0.0])
    y = np.array([1, 1, 1, -1])
    np.testing.assert_allclose(losses.hinge_loss(f, y, reduction="none"), [0.0, 0.5, 2.0, 1.0])
    np.testing.assert_allclose(losses.exponential_loss(f, y, reduction="none"), np.exp(-y * f))
    np.testing.assert_allclose(losses.logistic_loss(f, y, reduction="none"), np.log1p(np.exp(-y * f)))
    np.testing.assert_allclose(losses.zero_one_loss(f, y, reduction="none"), [0.0, 0.0, 1.0, 1.0])
    # the surrogates bound the 0-1 loss from above (logistic in bits)
    zero_one = losses.zero_one_loss(SCORES, SIGNS, reduction="none")
    bits = 1 / np.log(2)
    surrogates = ((losses.hinge_loss, 1.0), (losses.exponential_loss, 1.0), (losses.logistic_loss, bits))
    for fn, scale in surrogates:
        assert np.all(fn(SCORES, SIGNS, reduction="none") * scale >= zero_one)
    # the exponential loss overflows to inf, never NaN
    v, g = losses.exponential_loss([-1000.0, 1000.0], [1, 1], reduction="none", return_grad=True)
    assert v[0] == np.inf and v[1] == 0.0 and g[0] == -np.inf and not np.isnan(g).any()


def test_multiclass_hinge_and_zero_one():
    value, grad = losses.hinge_loss(SCORES, LABELS[:6] % 4, reduction="none", return_grad=True)
    np.testing.assert_allclose(value, reference.crammer_singer_hinge(SCORES, LABELS[:6] % 4), rtol=1e-15)
    for reduction in REDUCTIONS:
        _, g = losses.hinge_loss(SCORES, LABELS[:6] % 4, reduction=reduction, return_grad=True)
        fd = numeric_grad(lambda z: losses.hinge_loss(z, LABELS[:6] % 4, reduction=reduction), SCORES)
        np.testing.assert_allclose(g, fd, rtol=1e-6, atol=1e-8)
    wrong = np.argmax(SCORES, axis=1) != LABELS[:6] % 4
    assert float(losses.zero_one_loss(SCORES, LABELS[:6] % 4)) == pytest.approx(wrong.mean())


@pytest.mark.parametrize("name", ["hinge_loss", "logistic_loss", "exponential_loss"])
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_binary_margin_finite_differences(name, reduction):
    fn = getattr(losses, name)
    f = SCORES + 0.05 * (np.abs(1 - SCORES) < 0.05)  # keep away from the hinge's kink
    _, grad = fn(f, SIGNS, reduction=reduction, return_grad=True)
    fd = numeric_grad(lambda z: fn(z, SIGNS, reduction=reduction), f)
    np.testing.assert_allclose(grad, fd, rtol=1e-6, atol=1e-8)


def test_bce_and_focal_finite_differences():
    x = RNG.normal(size=(4, 3)) * 2
    t = RNG.uniform(size=(4, 3))
    p = RNG.uniform(0.05, 0.95, size=(4, 3))
    cases = [
        (losses.binary_cross_entropy, p, {"weight": np.arange(1.0, 4.0)}),
        (losses.binary_cross_entropy_with_logits, x, {"weight": 2.0, "pos_weight": np.arange(1.0, 4.0)}),
        (losses.sigmoid_focal_loss, x, {"alpha": 0.3, "gamma": 2.5}),
        (losses.sigmoid_focal_loss, x, {"alpha": -1, "gamma": 0.7}),
    ]
    for fn, inp, kwargs in cases:
        for reduction in REDUCTIONS:
            _, grad = fn(inp, t, reduction=reduction, return_grad=True, **kwargs)
            fd = numeric_grad(lambda z: fn(z, t, reduction=reduction, **kwargs), inp)
            np.testing.assert_allclose(grad, fd, rtol=1e-6, atol=1e-8)


# --- shared contract ----------------------------------------------------------------------


def test_empty_batches():
    for dtype in DTYPES:
        x = np.empty((0, C), dtype=dtype)
        for fn, target in (
            (losses.cross_entropy, np.empty(0, dtype=int)),
            (losses.softmax_focal_loss, np.empty(0, dtype=int)),
            (losses.binary_cross_entropy_with_logits, x),
            (losses.sigmoid_focal_loss, x),
            (losses.hinge_loss, np.empty(0, dtype=int)),
        ):
            value, grad = fn(x, target, reduction="mean", return_grad=True)
            assert value == 0.0 and np.asarray(value).dtype == dtype
            assert grad.shape == x.shape and grad.dtype == dtype
    assert losses.zero_one_loss(np.empty(0), np.empty(0)) == 0.0
    none = losses.cross_entropy(np.empty((0, 3, 2, 2)), np.empty((0, 2, 2), dtype=int), reduction="none")
    assert none.shape == (0, 2, 2)


def test_float32_stays_float32_and_inputs_unchanged():
    x = LOGITS.astype(np.float32)
    x_before = x.copy()
    value, grad = losses.cross_entropy(x, LABELS, WEIGHT, return_grad=True)
    assert np.asarray(value).dtype == np.float32 and grad.dtype == np.float32
    np.testing.assert_array_equal(x, x_before)
    readonly = LOGITS.copy()
    readonly.flags.writeable = False
    losses.cross_entropy(readonly, LABELS, return_grad=True)
    assert losses.hinge_loss(np.float32([1.0]), [1], reduction="none").dtype == np.float32


def test_parallel_equals_serial(force_parallel):
    x = RNG.normal(size=(3000, 7)).astype(np.float32)
    y = RNG.integers(0, 7, size=3000)
    value, grad = losses.cross_entropy(x, y, reduction="sum", return_grad=True, label_smoothing=0.1)
    _, g_small = losses.cross_entropy(x[:4], y[:4], reduction="sum", return_grad=True, label_smoothing=0.1)
    np.testing.assert_allclose(grad[:4], g_small, rtol=1e-6)
    none = losses.cross_entropy(x, y, reduction="none", label_smoothing=0.1)
    np.testing.assert_allclose(value, none.sum(dtype=np.float64), rtol=1e-6)
    t = (x > 0).astype(np.float32)
    v, g = losses.sigmoid_focal_loss(x, t, reduction="none", return_grad=True)
    np.testing.assert_allclose(v[:2], losses.sigmoid_focal_loss(x[:2], t[:2]), rtol=1e-6)


@pytest.mark.parametrize(
    "call",
    [
        lambda: losses.cross_entropy(LOGITS, LABELS, label_smoothing=1.5),
        lambda: losses.cross_entropy(LOGITS, LABELS, label_smoothing=-0.1),
        lambda: losses.cross_entropy(LOGITS, LABELS, reduction="batchmean"),
        lambda: losses.cross_entropy(LOGITS, LABELS[:-1]),
        lambda: losses.cross_entropy(LOGITS, LABELS + C),
        lambda: losses.cross_entropy(LOGITS, LABELS, weight=np.ones(C + 1)),
        lambda: losses.sigmoid_focal_loss(LOGITS, LOGITS > 0, gamma=-1.0),
        lambda: losses.sigmoid_focal_loss(LOGITS, LOGITS > 0, alpha=1.5),
        lambda: losses.sigmoid_focal_loss(LOGITS, LOGITS > 0, reduction="avg"),
        lambda: losses.softmax_focal_loss(LOGITS, LABELS, gamma=-0.5),
        lambda: losses.binary_cross_entropy([0.5, 1.5], [1.0, 0.0]),
        lambda: losses.binary_cross_entropy_with_logits(LOGITS, LOGITS, weight=np.ones(3)),
        lambda: losses.hinge_loss([1.0, 2.0], [1, 0]),
        lambda: losses.logistic_loss([1.0, 2.0], [1, 2]),
        lambda: losses.smooth_labels([0, 3], 3),
        lambda: losses.smooth_labels([0, 1], 3, epsilon=2.0),
        lambda: losses.zero_one_loss([1.0], [1], reduction="max"),
    ],
)
def test_bad_parameters_raise_value_error(call):
    with pytest.raises(ValueError):
        call()


def test_wrong_kinds_raise_type_error():
    with pytest.raises(TypeError, match="target"):
        losses.cross_entropy(LOGITS, LABELS.astype(float))
    with pytest.raises(TypeError, match="ignore_index"):
        losses.cross_entropy(LOGITS, LABELS, ignore_index=1.5)
    with pytest.raises(TypeError, match="input"):
        losses.cross_entropy("logits", LABELS)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("at", [0, 3, 6])  # where the row maximum's running chains start and end
def test_cross_entropy_rows_with_nan_or_inf(dtype, at):
    """A NaN anywhere in a row makes that row's loss and gradient NaN (wherever the row
    maximum's search meets it) and leaves the other rows alone; an inf logit is not NaN's cause."""
    rng = np.random.default_rng(at)
    x = rng.standard_normal((4, 7)).astype(dtype)
    y = np.array([1, 2, 5, 4])  # row 2's target logit stays finite
    clean_v, clean_g = losses.cross_entropy(x, y, reduction="none", return_grad=True)
    x[1, at] = np.nan
    x[2, at] = -np.inf
    v, g = losses.cross_entropy(x, y, reduction="none", return_grad=True)
    assert np.isnan(v[1]) and np.isnan(g[1]).all()
    np.testing.assert_array_equal(v[[0, 3]], clean_v[[0, 3]])
    np.testing.assert_array_equal(g[[0, 3]], clean_g[[0, 3]])
    assert np.isfinite(v[2]) and np.isfinite(g[2]).all() and g[2, at] == 0
