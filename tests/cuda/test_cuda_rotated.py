"""CUDA rotated-box metrics vs the CPU kernels: pairwise, aligned, IoU / IoA / GIoU, dtypes, edge cases."""

from __future__ import annotations

import numpy as np
import pytest
from cuda_helpers import SIMULATOR

import fastiou

#: The clipping's float operations; a GPU fuses multiply-adds (a few ulp of the area).
TOL = {np.dtype(np.float32): 1e-6 if SIMULATOR else 1e-5, np.dtype(np.float64): 1e-15 if SIMULATOR else 1e-12}

METRICS = {"iou": fastiou.box_iou, "ioa": fastiou.box_ioa, "giou": fastiou.generalized_box_iou}


def rotated(n, seed, dtype):
    rng = np.random.default_rng(seed)
    centres = rng.uniform(0, 20, (3, 2))
    k = rng.integers(0, 3, n)
    b = np.c_[centres[k] + rng.normal(0, 1, (n, 2)), rng.uniform(2, 8, (n, 2)), rng.uniform(-400, 400, n)]
    b[1] = b[0]  # identical boxes
    b[2, 2] = 0  # zero width
    b[3] = [1e4, 1e4, 1, 1, 0]  # far apart
    b[4] = b[5]
    b[4, 4] += 1e-6  # nearly identical
    return b.astype(dtype)


@pytest.mark.parametrize("metric", METRICS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_pairwise_and_aligned_match_cpu(metric, dtype):
    fn = METRICS[metric]
    b1, b2 = rotated(11, 1, dtype), rotated(9, 2, dtype)
    want = fn(b1, b2, fmt="cxcywhr", backend="numba")
    got = fn(b1, b2, fmt="cxcywhr", backend="cuda")
    assert got.dtype == want.dtype and got.shape == (11, 9) and np.isfinite(got).all()
    np.testing.assert_allclose(got, want, rtol=0, atol=TOL[np.dtype(dtype)])
    a = fn(b1[:9], b2, fmt="cxcywhr", aligned=True, backend="cuda")
    np.testing.assert_allclose(a, np.diagonal(want[:9]), rtol=0, atol=TOL[np.dtype(dtype)])


def test_batched_boxes_match_cpu():
    b1 = rotated(2 * 7, 5, np.float32).reshape(2, 7, 5)
    b2 = rotated(2 * 5, 6, np.float32).reshape(2, 5, 5)
    got = fastiou.box_iou(b1, b2, fmt="cxcywhr", backend="cuda")
    assert got.shape == (2, 7, 5)
    for k in range(2):  # each batch item meets only its own boxes
        np.testing.assert_allclose(got[k], fastiou.box_iou(b1[k], b2[k], fmt="cxcywhr", backend="numba"),
                                   rtol=0, atol=TOL[np.dtype(np.float32)])


def test_edge_cases_on_the_gpu():
    b = rotated(8, 3, np.float64)
    got = fastiou.box_iou(b, b, fmt="cxcywhr", backend="cuda")
    assert got[0, 1] == 1.0 and got[1, 0] == 1.0  # identical: exactly 1
    assert np.all(got[3, [0, 1, 2, 4, 5, 6, 7]] == 0)  # far apart: exactly 0
    assert np.all(got[2] == 0)  # zero width: 0, not NaN
    assert got.max() <= 1 and got.min() >= 0
    assert fastiou.box_iou(b[:0], b, fmt="cxcywhr", backend="cuda").shape == (0, 8)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_nms_matches_cpu(dtype):
    """Rotated NMS and batched NMS on the GPU: the CPU kernel's indices (ties, max_output,
    score_threshold, classes spread over the 64-box tiles).  The GPU's IoU may differ from
    the CPU's in the last bits (fused multiply-adds), so no pair's IoU is near a threshold."""
    b = rotated(150, 4, dtype)
    rng = np.random.default_rng(5)
    scores = np.round(rng.random(150), 1)  # ties: lower index first
    labels = rng.integers(0, 3, 150)
    iou = np.unique(fastiou.box_iou(b, b, fmt="cxcywhr", backend="numba"))
    for near in (1e-2, 0.3, 0.7):  # the midpoint of the gap between IoUs around each
        lo, hi = iou[iou < near].max(), iou[iou > near].min()
        t = (lo + hi) / 2
        assert hi - lo > 2e-5
        want = fastiou.nms(b, scores, t, fmt="cxcywhr", backend="numba")
        np.testing.assert_array_equal(fastiou.nms(b, scores, t, fmt="cxcywhr", backend="cuda"), want)
        want = fastiou.batched_nms(b, scores, labels, t, fmt="cxcywhr", backend="numba")
        np.testing.assert_array_equal(
            fastiou.batched_nms(b, scores, labels, t, fmt="cxcywhr", backend="cuda"), want)
    np.testing.assert_array_equal(
        fastiou.batched_nms(b, scores, labels, 0.4, fmt="cxcywhr", max_output=7, backend="cuda"),
        fastiou.batched_nms(b, scores, labels, 0.4, fmt="cxcywhr", backend="numba")[:7])
    np.testing.assert_array_equal(
        fastiou.nms(b, scores, 0.4, fmt="cxcywhr", score_threshold=0.5, max_output=5, backend="cuda"),
        fastiou.nms(b, scores, 0.4, fmt="cxcywhr", score_threshold=0.5, max_output=5, backend="numba"))
    assert fastiou.nms(b[:0], scores[:0], 0.5, fmt="cxcywhr", backend="cuda").shape == (0,)
    assert fastiou.batched_nms(b, scores, labels, 0.5, fmt="cxcywhr", score_threshold=2.0,
                               backend="cuda").shape == (0,)
