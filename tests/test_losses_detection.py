"""IoU-family box losses vs torchvision (values and autograd), the aligned metrics, references."""

from __future__ import annotations

import math

import numpy as np
import pytest
from losses_helpers import DTYPES, REDUCTIONS, check_result, numeric_grad, torch_or_skip, torch_value_grad

import fastiou
from fastiou import losses, reference, synthetic

NAMES = ("box_iou_loss", "generalized_box_iou_loss", "distance_box_iou_loss", "complete_box_iou_loss")
KINDS = dict(zip(NAMES, ("iou", "giou", "diou", "ciou")))
METRICS = dict(zip(NAMES, (fastiou.box_iou, fastiou.generalized_box_iou, fastiou.distance_box_iou,
                           fastiou.complete_box_iou)))


def _pairs(n=40, seed=0):
    """Overlapping, disjoint, nested, identical and edge-sharing pairs."""
    rng = np.random.default_rng(seed)
    b1 = synthetic.scattered_boxes(n, seed=seed)[0].astype(np.float64)
    b2 = b1 + rng.normal(scale=8.0, size=b1.shape)
    b2[:, 2:] = np.maximum(b2[:, 2:], b2[:, :2] + 0.5)
    b2[0] = b1[0]  # identical
    b2[1] = [b1[1, 2], b1[1, 1], b1[1, 2] + 5, b1[1, 3]]  # shares an edge
    b2[2] = b1[2] + [500, 500, 500, 500]  # far apart
    b2[3] = [b1[3, 0] + 1, b1[3, 1] + 1, b1[3, 2] - 1, b1[3, 3] - 1]  # nested
    return b1, b2


B1, B2 = _pairs()


def _torchvision_fn(name, reduction, eps):
    tv = pytest.importorskip("torchvision.ops", reason="torchvision is the reference for box losses")
    torch = torch_or_skip()
    if name == "box_iou_loss":
        from torchvision.ops._utils import _loss_inter_union

        def fn(b1, b2):
            inter, union = _loss_inter_union(b1, b2)
            loss = 1 - inter / (union + eps)
            return {"none": loss, "mean": loss.mean(), "sum": loss.sum()}[reduction]

        return fn
    del torch
    return lambda b1, b2: getattr(tv, name)(b1, b2, reduction=reduction, eps=eps)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("eps", [1e-7, 1e-2])
def test_matches_torchvision(name, reduction, dtype, eps):
    if name == "complete_box_iou_loss" and eps != 1e-7:
        pytest.skip("torchvision's CIoU applies eps only to alpha (its DIoU part uses 1e-7): "
                    "the same as fastiou only at the default eps")
    b1, b2 = B1.astype(dtype), B2.astype(dtype)
    ref = torch_value_grad(_torchvision_fn(name, reduction, eps), b1, b2)
    ours = getattr(losses, name)(b1, b2, reduction, eps, return_grad=True)
    # float32 box coordinates of a few hundred carry rounding of 3e-5 in the intersection
    check_result(ours, *ref, dtype, rtol=2e-4 if dtype == np.float32 else None)


@pytest.mark.parametrize("name", NAMES)
def test_eps_zero_equals_the_aligned_metric(name):
    value = getattr(losses, name)(B1, B2, eps=0.0)
    np.testing.assert_allclose(value, 1 - METRICS[name](B1, B2, aligned=True), rtol=1e-12, atol=1e-15)
    # and the naive reference agrees at any eps
    for eps in (0.0, 1e-7, 0.5):
        expected = [reference.box_loss(a, b, KINDS[name], eps) for a, b in zip(B1, B2)]
        np.testing.assert_allclose(getattr(losses, name)(B1, B2, eps=eps), expected, rtol=1e-12, atol=1e-15)


def _ciou_frozen_alpha(b1, b2, alpha):
    """The CIoU loss with alpha held at given values (what the gradient differentiates)."""
    diou = losses.distance_box_iou_loss(b1, b2)
    w1, h1 = b1[:, 2] - b1[:, 0], b1[:, 3] - b1[:, 1]
    w2, h2 = b2[:, 2] - b2[:, 0], b2[:, 3] - b2[:, 1]
    v = 4 / math.pi**2 * (np.arctan(w2 / h2) - np.arctan(w1 / h1)) ** 2
    return diou + alpha * v


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("name", NAMES)
def test_finite_differences(name, reduction):
    b1, b2 = B1[4:14], B2[4:14]  # generic pairs: no ties of coordinates
    fn = getattr(losses, name)
    _, grad = fn(b1, b2, reduction, return_grad=True)
    if name == "complete_box_iou_loss":
        iou = 1 - losses.box_iou_loss(b1, b2)
        w1, h1 = b1[:, 2] - b1[:, 0], b1[:, 3] - b1[:, 1]
        w2, h2 = b2[:, 2] - b2[:, 0], b2[:, 3] - b2[:, 1]
        v = 4 / math.pi**2 * (np.arctan(w2 / h2) - np.arctan(w1 / h1)) ** 2
        alpha = v / (1 - iou + v + 1e-7)
        per_pair = numeric_grad(lambda z: _ciou_frozen_alpha(z, b2, alpha), b1, h=1e-5)
        fd = per_pair / len(b1) if reduction == "mean" else per_pair
    else:
        fd = numeric_grad(lambda z: fn(z, b2, reduction), b1, h=1e-5)
    np.testing.assert_allclose(grad, fd, rtol=1e-5, atol=1e-9)


def test_single_box_and_symmetry():
    for name in NAMES:
        fn = getattr(losses, name)
        value, grad = fn([0, 0, 2, 2], [1, 1, 3, 4], return_grad=True)
        assert np.shape(value) == () and grad.shape == (4,)
        assert float(value) == pytest.approx(float(fn([1, 1, 3, 4], [0, 0, 2, 2])), rel=1e-12)
        same, g_same = fn([[0, 0, 2, 3]], [[0, 0, 2, 3]], eps=0.0, return_grad=True)
        assert same[0] == 0.0 and np.all(np.isfinite(g_same))


def test_degenerate_boxes_are_finite():
    # zero-area boxes: torchvision gives NaN at eps=0 (0/0); fastiou's guarded division gives finite values
    b = np.array([[1.0, 1.0, 1.0, 1.0], [0.0, 0.0, 0.0, 5.0], [0.0, 0.0, 4.0, 0.0]])
    for name in NAMES:
        for eps in (0.0, 1e-7):
            value, grad = getattr(losses, name)(b, b[::-1].copy(), eps=eps, return_grad=True)
            assert np.all(np.isfinite(value)) and np.all(np.isfinite(grad))


def test_dtypes_empty_and_inputs_unchanged():
    for name in NAMES:
        fn = getattr(losses, name)
        b1 = B1.astype(np.float32)
        before = b1.copy()
        value, grad = fn(b1, B2.astype(np.float32), "sum", return_grad=True)
        assert np.asarray(value).dtype == np.float32 and grad.dtype == np.float32
        np.testing.assert_array_equal(b1, before)
        empty = np.empty((0, 4))
        value, grad = fn(empty, empty, "mean", return_grad=True)
        assert value == 0.0 and grad.shape == (0, 4)
        assert fn(empty, empty).shape == (0,)


def test_parallel_equals_serial(force_parallel):
    b1 = synthetic.clustered_boxes(3000, seed=3)[0]
    b2 = synthetic.clustered_boxes(3000, seed=4)[0]
    for name in NAMES:
        value, grad = getattr(losses, name)(b1, b2, "none", return_grad=True)
        v_small, g_small = getattr(losses, name)(b1[:3], b2[:3], "none", return_grad=True)
        np.testing.assert_array_equal(value[:3], v_small)
        np.testing.assert_array_equal(grad[:3], g_small)


@pytest.mark.parametrize(
    "call",
    [
        lambda: losses.generalized_box_iou_loss(B1, B2, eps=-1e-7),
        lambda: losses.generalized_box_iou_loss(B1, B2, reduction="batchmean"),
        lambda: losses.distance_box_iou_loss(B1, B2[:-1]),
        lambda: losses.complete_box_iou_loss(B1[:, :3], B2[:, :3]),
        lambda: losses.box_iou_loss([[2, 0, 1, 1]], [[0, 0, 1, 1]]),  # x2 < x1
        lambda: losses.box_iou_loss([[0, 0, np.nan, 1]], [[0, 0, 1, 1]]),
    ],
)
def test_bad_input_raises_value_error(call):
    with pytest.raises(ValueError):
        call()


def test_validate_false_skips_the_box_check():
    value = losses.box_iou_loss([[2, 0, 1, 1]], [[0, 0, 1, 1]], validate=False)
    assert value.shape == (1,)
