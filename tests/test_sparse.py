"""Sparse joins, best matches and box matching against the dense matrix and plain loops."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.optimize
import scipy.sparse

import fastiou
from fastiou import reference, synthetic
from fastiou.backends import numba_cpu_sparse

DENSE = {
    "iou": fastiou.box_iou,
    "ioa": fastiou.box_ioa,
    "giou": fastiou.generalized_box_iou,
    "diou": fastiou.distance_box_iou,
    "ciou": fastiou.complete_box_iou,
}
METRICS = tuple(DENSE)
THRESHOLDS = (0.0, 0.1, 0.3, 0.5, 0.7, 0.9)


def _sets(kind, n, m, dtype=np.float32):
    if kind == "clustered":
        return (synthetic.clustered_boxes(n, seed=1, n_objects=8, image_size=256, dtype=dtype)[0],
                synthetic.clustered_boxes(m, seed=2, n_objects=8, image_size=256, dtype=dtype)[0])
    if kind == "scattered":
        return (synthetic.scattered_boxes(n, seed=3, image_size=300, dtype=dtype)[0],
                synthetic.scattered_boxes(m, seed=4, image_size=300, dtype=dtype)[0])
    if kind == "degenerate":  # zero widths/heights, points, duplicates, touching on a grid
        return (synthetic.degenerate_boxes(n, seed=5, image_size=32, dtype=dtype)[0],
                synthetic.degenerate_boxes(m, seed=6, image_size=32, dtype=dtype)[0])
    if kind == "self":  # a set with itself: exact duplicates everywhere, IoU 1 on the diagonal
        b = synthetic.clustered_boxes(n, seed=7, n_objects=5, image_size=128, dtype=dtype)[0]
        return b, b
    if kind == "far":  # far from the origin: float32 coordinates with few bits for the sizes
        b1, b2 = _sets("clustered", n, m, dtype)
        shift = np.array([1e5, -3e4, 1e5, -3e4], dtype)
        return b1 + shift, b2 + shift
    raise AssertionError(kind)


def _assert_equals_dense(result, dense, threshold):
    """``result`` holds exactly the entries of ``dense`` that are ``> threshold``, bit for bit.

    The comparison is exact, with the float64 threshold (``dense > threshold`` on a
    float32 array would round the threshold to float32 first).
    """
    assert isinstance(result, scipy.sparse.csr_array)
    assert result.shape == dense.shape
    assert result.dtype == dense.dtype
    rows, cols = np.nonzero(dense.astype(np.float64) > threshold)
    assert result.nnz == rows.size
    expect = scipy.sparse.csr_array((dense[rows, cols], (rows, cols)), shape=dense.shape)
    assert np.array_equal(result.indptr, expect.indptr)
    for i in range(dense.shape[0]):  # sorted columns in each row
        assert np.all(np.diff(result.indices[result.indptr[i]:result.indptr[i + 1]]) > 0)
    assert np.array_equal(result.indices, expect.indices)
    assert np.array_equal(result.data, expect.data)


@pytest.mark.parametrize("kind", ["clustered", "scattered", "degenerate", "self", "far"])
@pytest.mark.parametrize("metric", METRICS)
def test_sparse_equals_dense_thresholded(kind, metric, force_parallel):
    b1, b2 = _sets(kind, 400, 300)
    dense = DENSE[metric](b1, b2)
    for t in THRESHOLDS:
        _assert_equals_dense(fastiou.sparse_box_iou(b1, b2, t, metric=metric), dense, t)


@pytest.mark.parametrize("metric", ["giou", "diou", "ciou"])
@pytest.mark.parametrize("t", [-0.9, -0.3, -1e-9])
def test_negative_thresholds(metric, t, force_parallel):
    b1, b2 = _sets("scattered", 150, 120)
    _assert_equals_dense(fastiou.sparse_box_iou(b1, b2, t, metric=metric), DENSE[metric](b1, b2), t)


@pytest.mark.parametrize("metric", METRICS)
def test_float64_and_formats(metric):
    b1, b2 = _sets("clustered", 200, 250, np.float64)
    _assert_equals_dense(fastiou.sparse_box_iou(b1, b2, 0.4, metric=metric), DENSE[metric](b1, b2), 0.4)
    xywh1, xywh2 = fastiou.box_convert(b1, "xyxy", "xywh"), fastiou.box_convert(b2, "xyxy", "xywh")
    for offset in (0, 1):
        dense = DENSE[metric](xywh1, xywh2, fmt="xywh", offset=offset)
        _assert_equals_dense(fastiou.sparse_box_iou(xywh1, xywh2, 0.2, metric=metric, fmt="xywh", offset=offset),
                             dense, 0.2)


def test_touching_boxes_at_zero():
    # a grid of unit tiles: every neighbour touches, GIoU of touching tiles is exactly 0
    xs, ys = np.meshgrid(np.arange(6.0), np.arange(6.0))
    tiles = np.stack([xs.ravel(), ys.ravel(), xs.ravel() + 1, ys.ravel() + 1], axis=1)
    for metric in METRICS:
        dense = DENSE[metric](tiles, tiles)
        _assert_equals_dense(fastiou.sparse_box_iou(tiles, tiles, 0.0, metric=metric), dense, 0.0)


def test_matches_float64_reference():
    b1, b2 = _sets("clustered", 60, 50, np.float64)
    for metric in METRICS:
        ref = reference.pairwise(b1, b2, metric)
        got = fastiou.sparse_box_iou(b1, b2, 0.3, metric=metric).toarray()
        far = np.abs(ref - 0.3) > 1e-9  # pairs at the threshold itself may round either way
        assert np.array_equal((got != 0)[far], (ref > 0.3)[far])
        np.testing.assert_allclose(got[got != 0], ref[got != 0], rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("shapes", [(0, 5), (5, 0), (0, 0)])
def test_empty_inputs(shapes):
    n, m = shapes
    b1, b2 = np.zeros((n, 4), np.float32), np.zeros((m, 4), np.float32)
    result = fastiou.sparse_box_iou(b1, b2, 0.5)
    assert result.shape == (n, m) and result.nnz == 0 and result.dtype == np.float32
    assert result.indptr.shape == (n + 1,)
    values, indices = fastiou.max_box_iou(b1, b2, metric="giou")
    assert values.shape == indices.shape == (n,)
    assert values.dtype == np.float32 and indices.dtype == np.int64
    assert np.all(indices == -1) and np.all(values == 0)


def test_dtype_policy_and_inputs_untouched():
    b1, b2 = _sets("clustered", 50, 40)
    keep1, keep2 = b1.copy(), b2.copy()
    assert fastiou.sparse_box_iou(b1.astype(np.float16), b2.astype(np.float16), 0.5).dtype == np.float32
    ints = fastiou.sparse_box_iou(b1.astype(np.int64), b2.astype(np.int64), 0.5)
    assert ints.dtype == np.float64
    _assert_equals_dense(ints, fastiou.box_iou(b1.astype(np.int64), b2.astype(np.int64)), 0.5)
    assert fastiou.sparse_box_iou(b1, b2, 0.5, dtype=np.float64).dtype == np.float64
    as_lists = fastiou.sparse_box_iou(b1.tolist(), b2.tolist(), 0.5)
    _assert_equals_dense(as_lists, fastiou.box_iou(b1.tolist(), b2.tolist()), 0.5)
    fastiou.sparse_box_iou(np.asfortranarray(b1), b2[::-1], 0.5)
    fastiou.max_box_iou(b1, b2)
    assert np.array_equal(b1, keep1) and np.array_equal(b2, keep2)


# ------------------------------------------------------------------------------ best match


@pytest.mark.parametrize("kind", ["clustered", "scattered", "degenerate", "self", "far"])
@pytest.mark.parametrize("metric", METRICS)
def test_max_equals_dense_max_argmax(kind, metric, force_parallel):
    b1, b2 = _sets(kind, 300, 200)
    dense = DENSE[metric](b1, b2)
    values, indices = fastiou.max_box_iou(b1, b2, metric=metric)
    assert values.dtype == dense.dtype and indices.dtype == np.int64
    assert np.array_equal(values, dense.max(axis=1))
    assert np.array_equal(indices, dense.argmax(axis=1))  # ties: the lowest column


def test_max_ties_take_the_lowest_column():
    boxes2 = np.array([[50, 50, 60, 60], [0, 0, 10, 10], [0, 0, 10, 10], [70, 0, 80, 10]], np.float64)
    values, indices = fastiou.max_box_iou([[0, 0, 10, 10], [200, 200, 210, 210]], boxes2)
    assert values.tolist() == [1.0, 0.0] and indices.tolist() == [1, 0]


# ------------------------------------------------------------------------------ matching


def _detections(seed, n_pred=60, n_gt=25):
    """Integer boxes (exact IoUs in float64, so exact ties) and scores with ties."""
    rng = np.random.default_rng(seed)
    gt = rng.integers(0, 60, (n_gt, 2))
    gt = np.concatenate([gt, gt + rng.integers(4, 20, (n_gt, 2))], axis=1).astype(np.float64)
    owner = rng.integers(0, n_gt, n_pred)
    pred = gt[owner] + rng.integers(-3, 4, (n_pred, 4))
    pred[:, 2:] = np.maximum(pred[:, 2:], pred[:, :2])
    pred[: n_pred // 5] = pred[n_pred // 5: 2 * (n_pred // 5)]  # duplicate predictions
    scores = rng.integers(0, 8, n_pred) / 8.0  # many equal scores
    return pred, scores, gt


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("threshold", [0.3, 0.5, 0.75])
@pytest.mark.parametrize("with_ignore", [False, True])
def test_greedy_equals_plain_loop(seed, threshold, with_ignore):
    pred, scores, gt = _detections(seed)
    ignore = np.random.default_rng(seed).random(len(gt)) < 0.3 if with_ignore else None
    got = fastiou.match_boxes(pred, scores, gt, threshold, gt_ignore=ignore)
    want = reference.greedy_match(pred, scores, gt, threshold, gt_ignore=ignore)
    assert got[0].dtype == got[1].dtype == np.int64
    assert np.array_equal(got[0], want[0]) and np.array_equal(got[1], want[1])


def _total(pred, gt, p, g):
    return float(fastiou.box_iou(pred, gt)[p, g].sum())


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("threshold", [0.1, 0.5, 0.7])
def test_hungarian_beats_greedy_and_is_optimal(seed, threshold):
    pred, scores, gt = _detections(seed, n_pred=30, n_gt=20)
    iou = fastiou.box_iou(pred, gt)
    hp, hg = fastiou.match_boxes(pred, scores, gt, threshold, method="hungarian")
    gp, gg = fastiou.match_boxes(pred, scores, gt, threshold)
    assert np.all(iou[hp, hg] >= threshold)
    assert len(set(hp.tolist())) == hp.size and len(set(hg.tolist())) == hg.size
    assert _total(pred, gt, hp, hg) >= _total(pred, gt, gp, gg) - 1e-12
    # the optimum over the eligible pairs, from the dense assignment
    weight = np.where(iou >= threshold, iou, 0.0)
    a, b = scipy.optimize.linear_sum_assignment(weight, maximize=True)
    assert _total(pred, gt, hp, hg) == pytest.approx(weight[a, b].sum(), abs=1e-9)
    # decreasing score order, as greedy's output
    assert np.all(np.diff(-scores[hp]) >= 0)


def test_hungarian_with_ignored_ground_truth():
    gt = [[0, 0, 10, 10], [20, 0, 30, 10]]
    pred = [[0, 0, 10, 9], [1, 0, 11, 10], [20, 0, 30, 12], [21, 0, 31, 12]]
    p, g = fastiou.match_boxes(pred, [0.9, 0.8, 0.7, 0.6], gt, 0.5, method="hungarian", gt_ignore=[False, True])
    # pred 0 takes gt 0 (pred 1 then has only the taken gt 0); preds 2 and 3 go to the ignored gt 1
    assert p.tolist() == [0, 2, 3] and g.tolist() == [0, 1, 1]


def test_greedy_is_cocos_rule():
    gt = [[0, 0, 10, 10], [0, 0, 10, 11]]
    pred = [[0, 0, 10, 10.5], [0, 0, 10, 10]]
    # the higher-scored prediction 1 takes its best gt 0; prediction 0 then takes gt 1
    p, g = fastiou.match_boxes(pred, [0.5, 0.9], gt, 0.5)
    assert p.tolist() == [1, 0] and g.tolist() == [0, 1]
    # equal scores: lower index first
    p, g = fastiou.match_boxes(pred, [0.5, 0.5], gt, 0.5)
    assert p.tolist() == [0, 1]
    # IoU exactly at the threshold is a match (>=)
    p, g = fastiou.match_boxes([[0, 0, 10, 5]], [1.0], [[0, 0, 10, 10]], 0.5)
    assert p.tolist() == [0] and g.tolist() == [0]


@pytest.mark.parametrize("method", ["greedy", "hungarian"])
def test_matching_empty_and_threshold_zero(method):
    for n, m in ((0, 3), (3, 0), (0, 0)):
        p, g = fastiou.match_boxes(np.zeros((n, 4)), np.zeros(n), np.zeros((m, 4)), 0.5, method=method)
        assert p.shape == g.shape == (0,) and p.dtype == np.int64
    # threshold 0: every pair is eligible, disjoint ones too
    p, g = fastiou.match_boxes([[0, 0, 1, 1]], [1.0], [[5, 5, 6, 6]], 0.0, method=method)
    assert p.tolist() == [0] and g.tolist() == [0]


# ------------------------------------------------------------------------------ validation


def test_validation_errors():
    b = [[0, 0, 1, 1]]
    with pytest.raises(ValueError, match="min_iou"):
        fastiou.sparse_box_iou(b, b, 1.5)
    with pytest.raises(ValueError, match="min_iou"):
        fastiou.sparse_box_iou(b, b, -0.1)
    with pytest.raises(ValueError, match="min_iou"):
        fastiou.sparse_box_iou(b, b, -1.5, metric="giou")
    with pytest.raises(ValueError, match="min_iou"):
        fastiou.sparse_box_iou(b, b, float("nan"))
    with pytest.raises(TypeError, match="min_iou"):
        fastiou.sparse_box_iou(b, b, "0.5")
    with pytest.raises(ValueError, match="metric"):
        fastiou.sparse_box_iou(b, b, 0.5, metric="dice")
    with pytest.raises(ValueError, match="metric"):
        fastiou.max_box_iou(b, b, metric="IoU")
    with pytest.raises(ValueError, match="backend"):
        fastiou.sparse_box_iou(b, b, 0.5, backend="cython")
    with pytest.raises(ValueError, match=r"boxes1 must have shape \(N, 4\)"):
        fastiou.sparse_box_iou([[0, 0, 1]], b, 0.5)
    with pytest.raises(ValueError, match=r"boxes2 must have shape \(N, 4\)"):
        fastiou.max_box_iou(b, [0, 0, 1, 1])
    with pytest.raises(ValueError, match="boxes2 has an invalid box at row 1"):
        fastiou.sparse_box_iou(b, [[0, 0, 1, 1], [2, 0, 1, 1]], 0.5)
    with pytest.raises(TypeError, match="boxes1"):
        fastiou.sparse_box_iou("boxes", b, 0.5)
    with pytest.raises(ValueError, match="method"):
        fastiou.match_boxes(b, [1.0], b, 0.5, method="auction")
    with pytest.raises(ValueError, match="iou_threshold"):
        fastiou.match_boxes(b, [1.0], b, 1.5)
    with pytest.raises(ValueError, match="pred_scores"):
        fastiou.match_boxes(b, [float("nan")], b, 0.5)
    with pytest.raises(ValueError, match="pred_scores"):
        fastiou.match_boxes(b, [1.0, 2.0], b, 0.5)
    with pytest.raises(ValueError, match="gt_ignore"):
        fastiou.match_boxes(b, [1.0], b, 0.5, gt_ignore=[True, False])
    with pytest.raises(ValueError, match="gt_ignore"):
        fastiou.match_boxes(b, [1.0], b, 0.5, gt_ignore=[2])
    with pytest.raises(ValueError, match="pred_boxes has an invalid box at row 0"):
        fastiou.match_boxes([[1, 0, 0, 1]], [1.0], b, 0.5)


def test_validate_false_never_crashes():
    bad = np.array([[np.nan, 0, 1, 1], [5, 5, 1, 1], [0, 0, np.inf, 1], [0, 0, 1, 1]], np.float32)
    for metric in METRICS:
        fastiou.sparse_box_iou(bad, bad, 0.0, metric=metric, validate=False)
        fastiou.max_box_iou(bad, bad, metric=metric, validate=False)


def test_tree_covers_every_box():
    # many more boxes than a leaf, with coincident coordinates that stress the median splits
    rng = np.random.default_rng(0)
    b = rng.integers(0, 4, (5000, 4)).astype(np.float32)
    b[:, 2:] = b[:, :2] + rng.integers(0, 3, (5000, 2))
    cs, perm, seg, bounds, first_leaf = numba_cpu_sparse.build_tree(
        fastiou._validate.as_box_columns(b, "b", np.dtype(np.float32), "xyxy", 0, True), False)
    assert np.array_equal(np.sort(perm), np.arange(5000))
    assert np.array_equal(cs[:4].T, b[perm])
    leaves = seg[first_leaf:]
    assert leaves[0, 0] == 0 and leaves[-1, 1] == 5000 and np.all(leaves[1:, 0] == leaves[:-1, 1])
    assert np.all(leaves[:, 1] - leaves[:, 0] <= numba_cpu_sparse.LEAF_SIZE + 1)
    _assert_equals_dense(fastiou.sparse_box_iou(b, b, 0.0), fastiou.box_iou(b, b), 0.0)
