"""Hypothesis properties of the box metrics (DESIGN section 5), on bounded inputs."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

import fastiou

# Coordinates on a 0.01 grid: bounded and well conditioned, so that translating a box
# does not change its shape (a 1e-150 wide box would become a point when moved by 1).
coords = st.integers(-100_000, 100_000).map(lambda v: v / 100)
sizes = st.integers(0, 50_000).map(lambda v: v / 100)


@st.composite
def box_sets(draw, min_n=1, max_n=12):
    n = draw(st.integers(min_n, max_n))
    xy = draw(arrays(np.float64, (n, 2), elements=coords))
    wh = draw(arrays(np.float64, (n, 2), elements=sizes))
    return np.hstack([xy, xy + wh])


FAST = settings(max_examples=60, deadline=None)


@FAST
@given(box_sets(), box_sets())
def test_iou_is_symmetric_and_bounded(a, b):
    ab, ba = fastiou.box_iou(a, b), fastiou.box_iou(b, a)
    np.testing.assert_allclose(ab, ba.T, atol=1e-12)
    assert ((ab >= 0) & (ab <= 1)).all()


@FAST
@given(box_sets(), box_sets())
def test_metric_ordering(a, b):
    iou = fastiou.box_iou(a, b)
    giou = fastiou.generalized_box_iou(a, b)
    diou = fastiou.distance_box_iou(a, b)
    ciou = fastiou.complete_box_iou(a, b)
    tol = 1e-12
    assert (giou <= iou + tol).all() and (giou > -1 - tol).all()
    assert (ciou <= diou + tol).all() and (diou <= iou + tol).all()
    for m in (iou, giou, diou, ciou):
        assert np.isfinite(m).all()


@FAST
@given(box_sets())
def test_self_iou_is_one_for_positive_area(a):
    # positive area as floating point represents it (a 1e-313 x 1e-313 box has area 0)
    pos = a[(a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1]) > 0]
    for f in (fastiou.box_iou, fastiou.generalized_box_iou, fastiou.distance_box_iou, fastiou.complete_box_iou):
        assert (f(pos, pos, aligned=True) == 1).all()


@FAST
@given(box_sets(), box_sets(), st.floats(-100, 100), st.floats(-100, 100), st.sampled_from([0.5, 2.0, 4.0]))
def test_translation_and_scale_invariance(a, b, dx, dy, scale):
    shift = np.array([dx, dy, dx, dy])
    for f in (fastiou.box_iou, fastiou.generalized_box_iou, fastiou.distance_box_iou, fastiou.complete_box_iou):
        base = f(a, b)
        np.testing.assert_allclose(f(a + shift, b + shift), base, atol=1e-6)
        np.testing.assert_allclose(f(a * scale, b * scale), base, atol=1e-9)


@FAST
@given(box_sets(min_n=1, max_n=10))
def test_aligned_is_the_diagonal_of_pairwise(a):
    b = a[::-1].copy()
    for f in (fastiou.box_iou, fastiou.box_ioa, fastiou.generalized_box_iou, fastiou.distance_box_iou,
              fastiou.complete_box_iou):
        np.testing.assert_array_equal(f(a, b, aligned=True), np.diag(f(a, b)))
