"""Every finite coordinate: box metrics and IoU losses against exact rational arithmetic.

Inside ``fastiou._formulas.SAFE_*`` the fast kernels run; outside it (one coordinate
is enough) ``fastiou._extreme`` computes the call.  The reference is Python's
``fractions.Fraction`` on the very same floating-point inputs: exact, except CIoU's
``atan``, taken in float64 from the exact side ratio.  The bound is the numeric
policy's: float64 within 1e-12 of the exact value (or 1e-6 relative), float32
within 1e-6 (its own rounding near 1 is 6e-8).
"""

from __future__ import annotations

import math
import zlib
from fractions import Fraction

import numpy as np
import pytest

import fastiou
from fastiou import _formulas
from fastiou.losses import (box_iou_loss, complete_box_iou_loss, distance_box_iou_loss,
                            generalized_box_iou_loss)

METRICS = {
    "iou": fastiou.box_iou,
    "ioa": fastiou.box_ioa,
    "giou": fastiou.generalized_box_iou,
    "diou": fastiou.distance_box_iou,
    "ciou": fastiou.complete_box_iou,
}
LOSSES = {"iou": box_iou_loss, "giou": generalized_box_iou_loss, "diou": distance_box_iou_loss,
          "ciou": complete_box_iou_loss}
# log2 of the box scales each dtype is tested at: its whole finite range
SCALES = {np.float32: (-100, 125), np.float64: (-990, 1020)}
TOL = {np.float32: 1e-6, np.float64: 1e-12}


def _angle(w: Fraction, h: Fraction) -> float:
    m = max(w, h)
    return 0.0 if m == 0 else math.atan2(float(w / m), float(h / m))


def exact(kind: str, a, b, offset=0) -> float:
    """The metric ``kind`` of two xyxy boxes, in exact rational arithmetic."""
    ax1, ay1, ax2, ay2 = (Fraction(float(v)) for v in a)
    bx1, by1, bx2, by2 = (Fraction(float(v)) for v in b)
    ax2, ay2, bx2, by2 = ax2 + offset, ay2 + offset, bx2 + offset, by2 + offset
    iw = max(Fraction(0), min(ax2, bx2) - max(ax1, bx1))
    ih = max(Fraction(0), min(ay2, by2) - max(ay1, by1))
    inter = iw * ih
    area_a, area_b = (ax2 - ax1) * (ay2 - ay1), (bx2 - bx1) * (by2 - by1)
    if kind == "ioa":
        return float(inter / area_a) if area_a else 0.0
    union = area_a + area_b - inter
    iou = inter / union if union else Fraction(0)
    if kind == "iou":
        return float(iou)
    cw, ch = max(ax2, bx2) - min(ax1, bx1), max(ay2, by2) - min(ay1, by1)
    if kind == "giou":
        enclosing = cw * ch
        return float(iou - (enclosing - union) / enclosing) if enclosing else float(iou)
    rho2 = ((ax1 + ax2 - bx1 - bx2) / 2) ** 2 + ((ay1 + ay2 - by1 - by2) / 2) ** 2
    c2 = cw * cw + ch * ch
    diou = iou - rho2 / c2 if c2 else iou
    if kind == "diou":
        return float(diou)
    d = _angle(ax2 - ax1, ay2 - ay1) - _angle(bx2 - bx1, by2 - by1)
    v = 4 / math.pi**2 * d * d
    s = 1 - float(iou) + v
    return float(diou) - (v * v / s if s > 0 else 0.0)


def random_boxes(rng, n: int, dtype, log2_scales) -> np.ndarray:
    """``n`` xyxy boxes of ``dtype``, box i near the scale ``2**log2_scales[i]``:
    overlapping, nested, touching, degenerate and far-apart pairs."""
    scale = np.ldexp(1.0, np.asarray(log2_scales))
    centre = rng.uniform(-2, 2, (n, 2)) * scale[:, None]
    size = rng.uniform(0, 2, (n, 2)) * scale[:, None]
    size[rng.random(n) < 0.1, 0] = 0  # zero width
    boxes = np.concatenate([centre - size / 2, centre + size / 2], axis=1).astype(dtype)
    boxes[:, 2:] = np.maximum(boxes[:, 2:], boxes[:, :2])
    return boxes


def assert_exact(got, expected, dtype):
    got, expected = np.asarray(got, np.float64), np.asarray(expected, np.float64)
    assert np.isfinite(got).all()
    tol = TOL[dtype]
    err = np.abs(got - expected)
    bad = ~((err <= tol) | (err <= 1e-6 * np.abs(expected)))
    assert not bad.any(), (
        f"{bad.sum()} values off, worst: got {got[bad][:3]}, exact {expected[bad][:3]}"
    )


def _cases():
    for dtype in (np.float32, np.float64):
        lo, hi = SCALES[dtype]
        for where in (lo, lo // 2, 0, hi // 2, hi, "mixed"):
            yield pytest.param(dtype, where, id=f"{dtype.__name__}-{where}")


@pytest.mark.parametrize("dtype, where", list(_cases()))
@pytest.mark.parametrize("kind", sorted(METRICS))
def test_metrics_match_exact_arithmetic_anywhere_in_range(kind, dtype, where, backend):
    rng = np.random.default_rng(zlib.crc32(f"{kind}{dtype.__name__}{where}".encode()))
    lo, hi = SCALES[dtype]
    n = 16
    log2 = rng.integers(lo, hi, n) if where == "mixed" else np.full(n, where) + rng.integers(-2, 3, n)
    boxes = random_boxes(rng, n, dtype, np.clip(log2, lo, hi))
    boxes2 = boxes[rng.permutation(n)]
    boxes2[:4] = boxes[:4]  # identical pairs on the diagonal
    got = METRICS[kind](boxes, boxes2, backend=backend)
    expected = [[exact(kind, a, b) for b in boxes2] for a in boxes]
    assert got.dtype == dtype
    assert_exact(got, expected, dtype)
    aligned = METRICS[kind](boxes, boxes2, aligned=True, backend=backend)
    np.testing.assert_array_equal(aligned, np.diagonal(got))
    if where != "mixed" and kind != "ioa":
        assert (np.diagonal(got)[:4][(boxes[:4, 2:] > boxes[:4, :2]).all(axis=1)] == 1).all()


@pytest.mark.parametrize("fmt", ["xywh", "cxcywh"])
def test_conversion_that_overflows_the_dtype_still_gives_the_exact_metric(fmt, backend):
    big = np.finfo(np.float64).max / 2
    # xyxy (big, 0, 2 big, 1): x2 overflows float64, the boxes themselves do not
    boxes = np.array([[big, 0.0, big, 1.0], [big, 0.0, big / 2, 1.0]])
    if fmt == "cxcywh":
        boxes[:, 0] += boxes[:, 2] / 2 - big / 2
    got = fastiou.box_iou(boxes, boxes, fmt=fmt, backend=backend)
    np.testing.assert_allclose(got, [[1, 0.5], [0.5, 1]], rtol=1e-12)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_offset_with_tiny_boxes(dtype, backend):
    boxes = np.array([[0, 0, 1e-30, 1e-30], [0, 0, 0, 0]], dtype)
    got = fastiou.box_iou(boxes, boxes, offset=1, backend=backend)
    expected = [[exact("iou", a, b, offset=1) for b in boxes] for a in boxes]
    assert_exact(got, expected, dtype)


def test_issue_examples():
    # (each printed NaN, inf, 0 or 1e-19 before the extreme path existed)
    big32 = np.array([[0, 0, 2e19, 2e19]], np.float32)
    assert fastiou.box_iou(big32, big32)[0, 0] == 1
    assert fastiou.complete_box_iou(big32, big32)[0, 0] == 1
    big64 = np.array([[0, 0, 1.3e154, 1.3e154]])
    assert fastiou.box_iou(big64, big64)[0, 0] == 1
    assert fastiou.generalized_box_iou(big64, big64)[0, 0] == 1
    got = fastiou.distance_box_iou(np.array([[0, 0, 1e19, 1]], np.float32),
                                   np.array([[0, 0, 1, 1]], np.float32))
    assert got[0, 0] == pytest.approx(-0.25, rel=1e-6)
    tiny = np.array([[0, 0, 1e-30, 1e-30]], np.float32)
    assert fastiou.box_iou(tiny, tiny)[0, 0] == 1


def test_the_safe_range_decides_the_path(monkeypatch):
    """Inside the range the fast kernels run alone; one coordinate outside sends the call
    to the extreme path, which gives the same values where both apply."""
    from fastiou import _extreme

    calls = []
    real = _extreme.metric
    monkeypatch.setattr(_extreme, "metric", lambda *a: calls.append(1) or real(*a))
    boxes = np.array([[0, 0, 1, 1], [0.5, 0.5, 2, 3]], np.float32)
    inside = fastiou.generalized_box_iou(boxes, boxes)
    assert calls == []
    far = np.vstack([boxes, [[0, 0, np.float32(_formulas.SAFE_HI32) * 2, 1]]]).astype(np.float32)
    outside = fastiou.generalized_box_iou(far, far)
    assert calls == [1]
    np.testing.assert_allclose(outside[:2, :2], inside, atol=1e-6)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("kind", sorted(LOSSES))
def test_losses_are_scale_invariant_over_the_whole_range(kind, dtype):
    """With ``eps=0`` the losses do not change when both boxes scale by 2**k, and the
    gradient scales by 2**-k: checked from 2**lo to 2**hi against the scale-1 values."""
    rng = np.random.default_rng(7)
    unit = random_boxes(rng, 12, np.float64, np.zeros(12, int))
    target = random_boxes(rng, 12, np.float64, np.zeros(12, int))
    value1, grad1 = LOSSES[kind](unit.astype(dtype), target.astype(dtype), eps=0, return_grad=True)
    lo, hi = SCALES[dtype]
    for k in (lo + 4, lo // 2, hi // 2, hi - 4):
        value, grad = LOSSES[kind](np.ldexp(unit, k).astype(dtype), np.ldexp(target, k).astype(dtype),
                                   eps=0, return_grad=True)
        assert value.dtype == grad.dtype == dtype
        assert np.isfinite(value).all() and np.isfinite(grad).all()
        np.testing.assert_allclose(value, value1, atol=TOL[dtype] * 4)
        np.testing.assert_allclose(np.ldexp(grad.astype(np.float64), k), grad1, rtol=1e-4,
                                   atol=TOL[dtype] * 4 * np.abs(grad1).max())


@pytest.mark.parametrize("kind", sorted(LOSSES))
def test_loss_values_match_exact_arithmetic_at_extreme_scales(kind):
    rng = np.random.default_rng(3)
    log2 = rng.integers(-990, 1020, 16)
    a = random_boxes(rng, 16, np.float64, log2)
    b = random_boxes(rng, 16, np.float64, log2)
    b[:3] = a[:3]
    got = LOSSES[kind](a, b, eps=0)
    assert_exact(got, [1 - exact(kind, x, y) for x, y in zip(a, b)], np.float64)


def test_unrepresentable_gradient_names_the_row():
    tiny = np.array([[0, 0, 1, 1], [0, 0, 4e-45, 4e-45]], np.float32)  # float32 subnormals
    target = tiny.copy()
    target[:, 2] *= 2
    with pytest.raises(ValueError, match="gradient at row 1 of boxes1"):
        generalized_box_iou_loss(tiny, target, eps=0, return_grad=True)
    # the value alone is representable
    assert np.isfinite(generalized_box_iou_loss(tiny, target, eps=0)).all()


@pytest.mark.parametrize("dtype, scale", [(np.float32, 2.0**70), (np.float32, 2.0**-80),
                                          (np.float64, 2.0**600), (np.float64, 2.0**-700)])
def test_nms_and_sparse_joins_at_one_extreme_scale(dtype, scale, backend):
    """NMS, sparse joins and best matches compare a whole call at one scale: a call
    outside the safe range gives what the same boxes give at scale 1."""
    rng = np.random.default_rng(11)
    unit = random_boxes(rng, 60, np.float64, np.zeros(60, int))
    scores = rng.random(60).astype(dtype)
    boxes = (unit * scale).astype(dtype)
    base = unit.astype(dtype)
    np.testing.assert_array_equal(fastiou.nms(boxes, scores, 0.3, backend=backend),
                                  fastiou.nms(base, scores, 0.3, backend=backend))
    keep, new = fastiou.soft_nms(boxes, scores, backend=backend)
    keep1, new1 = fastiou.soft_nms(base, scores, backend=backend)
    np.testing.assert_array_equal(keep, keep1)
    assert new.dtype == dtype
    np.testing.assert_allclose(new, new1, rtol=1e-5)
    joined = fastiou.sparse_box_iou(boxes, boxes, 0.2)
    assert joined.dtype == dtype
    np.testing.assert_allclose(joined.toarray(), fastiou.sparse_box_iou(base, base, 0.2).toarray(),
                               atol=TOL[dtype])
    values, indices = fastiou.max_box_iou(boxes, boxes[::-1])
    assert values.dtype == dtype and np.isfinite(values).all()


def test_one_scale_functions_name_a_box_too_small_for_the_call():
    boxes = np.array([[0, 0, 1e300, 1e300], [0, 0, 1e-300, 1e-300]])
    with pytest.raises(ValueError, match=r"boxes row 1 .* below 2\^-400 of the largest"):
        fastiou.nms(boxes, [1.0, 0.5], 0.5)
    with pytest.raises(ValueError, match=r"boxes2 row 1 .* below 2\^-400"):
        fastiou.sparse_box_iou(boxes[:1], boxes, 0.5)
