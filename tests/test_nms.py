"""The NMS family: nms, batched_nms (IoU and DIoU), soft_nms, weighted_boxes_fusion.

Exactness against torchvision.ops (same indices, same order, for distinct
scores), against the plain loops of fastiou.reference, against a transcription
of mmcv's soft-NMS loop and against ensemble-boxes; both CPU backends.
"""

from __future__ import annotations

import math
import sys
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import fastiou
from fastiou import reference, synthetic
from fastiou.backends import numba_cpu_nms

DTYPES = (np.float32, np.float64)
THRESHOLDS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)


def distinct_scores(n, rng, dtype=np.float64):
    """n distinct scores in (0, 1), distinct in float32 too."""
    return ((rng.permutation(n) + 1) / (n + 1)).astype(dtype)


def duplicate_heavy(n, rng, dtype):
    """Boxes on a coarse grid, most of them repeated several times."""
    base = rng.integers(0, 40, (max(1, n // 4), 2)).astype(np.float64)
    wh = rng.integers(1, 12, (max(1, n // 4), 2)).astype(np.float64)
    boxes = np.concatenate([base, base + wh], axis=1)[rng.integers(0, max(1, n // 4), n)]
    return boxes.astype(dtype)


def random_set(kind, n, seed, dtype):
    rng = np.random.default_rng(seed)
    if kind == "clustered":
        boxes = synthetic.clustered_boxes(n, n_objects=int(rng.integers(1, 12)), seed=seed, dtype=dtype,
                                          jitter=float(rng.uniform(0.03, 0.3)))[0]
    elif kind == "scattered":
        boxes = synthetic.scattered_boxes(n, image_size=float(rng.uniform(100, 2000)), seed=seed,
                                          dtype=dtype)[0]
    elif kind == "degenerate":
        boxes = synthetic.degenerate_boxes(n, seed=seed, dtype=dtype)[0]
    else:
        boxes = duplicate_heavy(n, rng, dtype)
    return boxes, distinct_scores(n, rng, dtype)


# around the size where the numba backend leaves its all-pairs path
SIZES = (1, 2, 7, 60, numba_cpu_nms.SMALL, numba_cpu_nms.SMALL + 1, 1500)


# ------------------------------------------------------------------ torchvision


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kind", ["clustered", "scattered", "duplicates", "degenerate"])
def test_nms_matches_torchvision(kind, dtype, backend):
    torch = pytest.importorskip("torch", reason="torchvision comparison needs torch")
    tv = pytest.importorskip("torchvision.ops", reason="comparison with torchvision.ops.nms")
    count = 0
    for seed, n in enumerate(SIZES):
        boxes, scores = random_set(kind, n, seed, dtype)
        tb, ts = torch.from_numpy(boxes), torch.from_numpy(scores)
        for t in THRESHOLDS:
            want = tv.nms(tb, ts, t).numpy()
            got = fastiou.nms(boxes, scores, t, backend=backend)
            assert got.dtype == np.int64
            np.testing.assert_array_equal(got, want, err_msg=f"{kind} n={n} seed={seed} t={t}")
            count += 1
    assert count == len(SIZES) * len(THRESHOLDS)


@pytest.mark.parametrize("dtype", DTYPES)
def test_nms_matches_torchvision_large_clustered(dtype, backend):
    torch = pytest.importorskip("torch", reason="torchvision comparison needs torch")
    tv = pytest.importorskip("torchvision.ops", reason="comparison with torchvision.ops.nms")
    boxes = synthetic.clustered_boxes(6000, seed=11, dtype=dtype)[0]
    scores = distinct_scores(6000, np.random.default_rng(11), dtype)
    for t in (0.3, 0.5, 0.7):
        want = tv.nms(torch.from_numpy(boxes), torch.from_numpy(scores), t).numpy()
        np.testing.assert_array_equal(fastiou.nms(boxes, scores, t, backend=backend), want)


@pytest.mark.parametrize("dtype", DTYPES)
def test_batched_nms_matches_torchvision(dtype, backend, force_parallel):
    torch = pytest.importorskip("torch", reason="torchvision comparison needs torch")
    tv = pytest.importorskip("torchvision.ops", reason="comparison with torchvision.ops.batched_nms")
    for seed, n in enumerate((5, 200, 300, 3000)):
        boxes, _, labels = synthetic.clustered_boxes(n, seed=seed, dtype=dtype)
        scores = distinct_scores(n, np.random.default_rng(seed), dtype)
        for t in (0.2, 0.5, 0.8):
            want = tv.batched_nms(torch.from_numpy(boxes), torch.from_numpy(scores),
                                  torch.from_numpy(labels), t).numpy()
            got = fastiou.batched_nms(boxes, scores, labels, t, backend=backend)
            np.testing.assert_array_equal(got, want, err_msg=f"n={n} t={t}")


# ------------------------------------------------------------------ reference


@pytest.mark.parametrize("metric", ["iou", "diou"])
@pytest.mark.parametrize("kind", ["clustered", "scattered", "duplicates"])
def test_nms_matches_reference(metric, kind, backend):
    for seed, n in enumerate((3, 90, 300)):
        boxes, scores = random_set(kind, n, 100 + seed, np.float64)
        for t in (0.1, 0.35, 0.5, 0.75):
            want = reference.nms(boxes, scores, t, metric)
            got = fastiou.nms(boxes, scores, t, metric=metric, backend=backend)
            np.testing.assert_array_equal(got, want, err_msg=f"{kind} n={n} t={t}")


@pytest.mark.parametrize("t", [-0.5, -0.1, 0.0])
def test_diou_nms_non_positive_threshold(t, backend):
    # DIoU of disjoint boxes is negative but may exceed a negative threshold.
    boxes, scores = random_set("scattered", 300, 5, np.float64)
    want = reference.nms(boxes, scores, t, "diou")
    np.testing.assert_array_equal(fastiou.nms(boxes, scores, t, metric="diou", backend=backend), want)


def test_window_edge_cases_match_reference(backend):
    """Boxes made to sit on the window's bounds: wide and thin, huge offsets, near-threshold IoU."""
    rng = np.random.default_rng(7)
    for trial in range(6):
        n = 400
        x1 = rng.uniform(0, 50, n)
        w = np.where(rng.random(n) < 0.3, rng.uniform(50, 200, n), rng.uniform(0.5, 5, n))
        y1 = rng.uniform(0, 3, n)
        h = rng.uniform(1, 3, n)
        boxes = np.stack([x1, y1, x1 + w, y1 + h], axis=1) + (1e6 if trial % 2 else 0.0)
        scores = distinct_scores(n, rng)
        for t in (0.05, 0.3, 0.5, 0.95):
            want = reference.nms(boxes, scores, t)
            np.testing.assert_array_equal(fastiou.nms(boxes, scores, t, backend=backend), want)


def test_identical_boxes_and_threshold_one(backend):
    boxes = np.array([[0, 0, 4, 4]] * 3 + [[0, 0, 4, 2]], dtype=np.float64)
    scores = np.array([0.2, 0.9, 0.5, 0.7])
    # IoU 1 is not > 1: nothing is suppressed at threshold 1.
    np.testing.assert_array_equal(fastiou.nms(boxes, scores, 1.0, backend=backend), [1, 3, 2, 0])
    np.testing.assert_array_equal(fastiou.nms(boxes, scores, 0.99, backend=backend), [1, 3])
    # IoU exactly 0.5 is not > 0.5
    np.testing.assert_array_equal(fastiou.nms(boxes, scores, 0.5, backend=backend), [1, 3])
    np.testing.assert_array_equal(fastiou.nms(boxes, scores, 0.49, backend=backend), [1])


def test_batched_equals_per_class_loop(backend, force_parallel):
    rng = np.random.default_rng(3)
    for n in (40, numba_cpu_nms.SMALL + 1, 2500):
        boxes, _, labels = synthetic.clustered_boxes(n, seed=n, dtype=np.float32)
        boxes = boxes - 600.0  # negative coordinates
        scores = rng.random(n).astype(np.float32)
        ids = np.array([-7, 0, 10**12, -(2**62), 3])[labels % 5]  # large and negative ids
        for t in (0.3, 0.6):
            want = []
            for c in np.unique(ids):
                members = np.flatnonzero(ids == c)
                want.extend(members[fastiou.nms(boxes[members], scores[members], t, backend=backend)])
            want = np.array(sorted(want, key=lambda i: (-scores[i], i)), dtype=np.int64)
            got = fastiou.batched_nms(boxes, scores, ids, t, backend=backend)
            np.testing.assert_array_equal(got, want)
            if n == 40:
                np.testing.assert_array_equal(got, reference.batched_nms(boxes, scores, ids, t))


def test_batched_float_labels_and_single_class(backend):
    boxes, scores = random_set("clustered", 500, 9, np.float64)
    labels = np.zeros(500)
    np.testing.assert_array_equal(fastiou.batched_nms(boxes, scores, labels, 0.5, backend=backend),
                                  fastiou.nms(boxes, scores, 0.5, backend=backend))
    with pytest.raises(ValueError, match="idxs"):
        fastiou.batched_nms(boxes, scores, labels + 0.5, 0.5, backend=backend)
    with pytest.raises(TypeError, match="idxs"):
        fastiou.batched_nms(boxes, scores, ["a"] * 500, 0.5, backend=backend)


# ---------------------------------------------------------------- conventions


def test_ties_keep_lower_index_first(backend):
    boxes = np.array([[0, 0, 10, 10], [0, 0, 10, 10], [50, 50, 60, 60], [50, 50, 60, 60]], float)
    scores = np.array([0.5, 0.5, 0.5, 0.5])
    np.testing.assert_array_equal(fastiou.nms(boxes, scores, 0.5, backend=backend), [0, 2])
    # Tie-heavy sets, small and large, against the reference (which sorts stably).
    rng = np.random.default_rng(0)
    for n in (100, 1000):
        boxes = synthetic.clustered_boxes(n, seed=n, dtype=np.float64)[0]
        scores = rng.integers(0, 5, n).astype(np.float64)
        for t in (0.3, 0.7):
            np.testing.assert_array_equal(fastiou.nms(boxes, scores, t, backend=backend),
                                          reference.nms(boxes, scores, t))


def test_output_sorted_by_decreasing_score(backend):
    boxes, scores = random_set("scattered", 800, 4, np.float32)
    keep = fastiou.nms(boxes, scores, 0.3, backend=backend)
    assert np.all(np.diff(scores[keep]) < 0)


def test_score_threshold_then_max_output(backend):
    boxes, scores = random_set("clustered", 1200, 2, np.float64)
    cand = np.flatnonzero(scores > 0.4)
    full = cand[fastiou.nms(boxes[cand], scores[cand], 0.5, backend=backend)]
    got = fastiou.nms(boxes, scores, 0.5, score_threshold=0.4, backend=backend)
    np.testing.assert_array_equal(got, full)
    for k in (0, 1, 5, len(full), len(full) + 10):
        np.testing.assert_array_equal(
            fastiou.nms(boxes, scores, 0.5, score_threshold=0.4, max_output=k, backend=backend), full[:k])
    labels = np.arange(1200) % 3
    full_b = fastiou.batched_nms(boxes, scores, labels, 0.5, backend=backend)
    np.testing.assert_array_equal(
        fastiou.batched_nms(boxes, scores, labels, 0.5, max_output=7, backend=backend), full_b[:7])
    small = fastiou.batched_nms(boxes[:50], scores[:50], labels[:50], 0.5, backend=backend)
    np.testing.assert_array_equal(
        fastiou.batched_nms(boxes[:50], scores[:50], labels[:50], 0.5, max_output=3, backend=backend),
        small[:3])


def test_score_threshold_compares_exactly(backend):
    # float32(0.1) is 0.100000001...: above the float64 threshold 0.1
    for n in (3, 2000):
        boxes = np.tile([[0, 0, 1, 1]], (n, 1)) + np.arange(n)[:, None] * 20  # disjoint
        scores = np.full(n, 0.1, np.float32)
        scores[1] = np.float32(0.05)
        keep = fastiou.nms(boxes, scores, 0.5, score_threshold=0.1, backend=backend)
        assert keep.shape == (n - 1,) and 1 not in keep


def test_nan_scores_raise(backend):
    boxes = np.array([[0, 0, 1, 1], [0, 0, 2, 2]], float)
    with pytest.raises(ValueError, match="scores.*NaN.*index 1"):
        fastiou.nms(boxes, [0.5, np.nan], 0.5, backend=backend)
    with pytest.raises(ValueError, match="scores"):
        fastiou.batched_nms(boxes, [np.nan, 0.5], [0, 1], 0.5, backend=backend)
    with pytest.raises(ValueError, match="scores"):
        fastiou.soft_nms(boxes, [np.nan, 0.5], backend=backend)
    # inf scores are ordinary values
    np.testing.assert_array_equal(fastiou.nms(boxes, [np.inf, -np.inf], 0.9, backend=backend), [0, 1])


def test_bad_boxes_raise(backend):
    with pytest.raises(ValueError, match="boxes.*row 1"):
        fastiou.nms([[0, 0, 1, 1], [0, 0, np.inf, 1]], [0.1, 0.2], 0.5, backend=backend)
    with pytest.raises(ValueError, match="boxes.*row 0"):
        fastiou.nms([[2, 0, 1, 1]], [0.1], 0.5, backend=backend)
    # validate=False: unspecified but no crash
    fastiou.nms([[0, 0, np.nan, 1], [2, 0, 1, 1], [0, 0, 1, 1]], [0.1, 0.2, 0.3], 0.5, validate=False,
                backend=backend)


def test_empty_and_shapes(backend):
    empty = fastiou.nms(np.zeros((0, 4)), np.zeros(0), 0.5, backend=backend)
    assert empty.dtype == np.int64 and empty.shape == (0,)
    assert fastiou.batched_nms(np.zeros((0, 4)), [], [], 0.5, backend=backend).shape == (0,)
    k, s = fastiou.soft_nms(np.zeros((0, 4), np.float32), np.zeros(0, np.float32), backend=backend)
    assert k.dtype == np.int64 and k.shape == (0,) and s.dtype == np.float32
    assert fastiou.nms([[0, 0, 1, 1]], [0.3], 0.5, score_threshold=0.5, backend=backend).shape == (0,)
    with pytest.raises(ValueError, match=r"scores must have shape \(2,\)"):
        fastiou.nms(np.zeros((2, 4)), np.zeros(3), 0.5, backend=backend)
    with pytest.raises(ValueError, match=r"idxs must have shape \(2,\)"):
        fastiou.batched_nms(np.zeros((2, 4)), np.zeros(2), [0], 0.5, backend=backend)
    with pytest.raises(ValueError, match=r"boxes must have shape \(N, 4\)"):
        fastiou.nms(np.zeros((2, 5)), np.zeros(2), 0.5, backend=backend)
    with pytest.raises(ValueError, match="iou_threshold"):
        fastiou.nms(np.zeros((2, 4)), np.zeros(2), float("nan"), backend=backend)
    with pytest.raises(ValueError, match="max_output"):
        fastiou.nms(np.zeros((2, 4)), np.zeros(2), 0.5, max_output=-1, backend=backend)
    with pytest.raises(ValueError, match="metric"):
        fastiou.nms(np.zeros((2, 4)), np.zeros(2), 0.5, metric="giou", backend=backend)
    with pytest.raises(TypeError, match="scores"):
        fastiou.nms(np.zeros((2, 4)), ["a", "b"], 0.5, backend=backend)


def test_layouts_dtypes_and_inputs_untouched(backend):
    boxes, scores = random_set("clustered", 400, 1, np.float64)
    boxes = np.round(boxes)  # exact in every dtype and format below
    want = fastiou.nms(boxes, scores, 0.5, backend=backend)
    b_copy, s_copy = boxes.copy(), scores.copy()
    readonly = boxes.copy()
    readonly.flags.writeable = False
    xywh = np.concatenate([boxes[:, :2], boxes[:, 2:] - boxes[:, :2]], axis=1)
    for b in (np.asfortranarray(boxes), readonly, boxes.tolist(), boxes.astype(np.int32),
              boxes.astype(np.float32), boxes.astype(">f8"), np.repeat(boxes, 2, axis=0)[::2]):
        np.testing.assert_array_equal(fastiou.nms(b, scores, 0.5, backend=backend), want)
    np.testing.assert_array_equal(fastiou.nms(xywh, scores, 0.5, fmt="xywh", backend=backend), want)
    np.testing.assert_array_equal(fastiou.nms(boxes, scores.tolist(), 0.5, backend=backend), want)
    np.testing.assert_array_equal(boxes, b_copy)
    np.testing.assert_array_equal(scores, s_copy)


def test_offset_matches_reference(backend):
    boxes = np.round(synthetic.clustered_boxes(300, seed=5, dtype=np.float64)[0])
    scores = distinct_scores(300, np.random.default_rng(5))
    for t in (0.3, 0.6):
        np.testing.assert_array_equal(fastiou.nms(boxes, scores, t, offset=1, backend=backend),
                                      reference.nms(boxes, scores, t, offset=1))


# ---------------------------------------------------------------- properties


@st.composite
def box_sets(draw):
    n = draw(st.integers(0, 40))
    coords = draw(st.lists(st.tuples(st.integers(-20, 20), st.integers(-20, 20), st.integers(0, 15),
                                     st.integers(0, 15)), min_size=n, max_size=n))
    scores = draw(st.lists(st.integers(0, 6), min_size=n, max_size=n))
    boxes = np.array([(x, y, x + w, y + h) for x, y, w, h in coords], dtype=np.float64).reshape(-1, 4)
    return boxes, np.array(scores, dtype=np.float64)


@settings(max_examples=150, deadline=None)
@given(data=box_sets(), t=st.sampled_from([0.0, 0.1, 0.3, 0.5, 0.7, 0.9]),
       metric=st.sampled_from(["iou", "diou"]), which=st.sampled_from(["numba", "cython"]))
def test_nms_properties(data, t, metric, which):
    boxes, scores = data
    try:
        keep = fastiou.nms(boxes, scores, t, metric=metric, backend=which)
    except ImportError:
        return  # that backend is not built here (the backend fixture reports it)
    m = reference.pairwise(boxes, boxes, metric)
    kept = set(keep.tolist())
    rank = {i: r for r, i in enumerate(sorted(range(len(scores)), key=lambda i: (-scores[i], i)))}
    for a in keep:
        for b in keep:
            assert a == b or m[a, b] <= t  # no kept pair above the threshold
    for j in range(len(scores)):
        if j not in kept:  # every suppressed box has a kept suppressor ranked before it
            assert any(m[k, j] > t and rank[k] < rank[j] for k in kept)
    np.testing.assert_array_equal(keep, reference.nms(boxes, scores, t, metric))


# ------------------------------------------------------------------ soft-NMS


def mmcv_soft_nms(boxes, scores, iou_threshold, sigma, min_score, method, offset=0):
    """A line-by-line transcription of mmcv's softnms_cpu (mmcv/ops/csrc/pytorch/cpu/nms.cpp).

    float32 throughout, swaps included.  method: 0 naive (hard), 1 linear, 2 gaussian.
    """
    f = np.float32
    x1, y1, x2, y2 = (boxes[:, k].astype(f).copy() for k in range(4))
    sc = scores.astype(f).copy()
    areas = (x2 - x1 + f(offset)) * (y2 - y1 + f(offset))
    inds = np.arange(len(sc))
    thr, sigma, min_score = f(iou_threshold), f(sigma), f(min_score)
    arrays = (x1, y1, x2, y2, sc, areas, inds)
    nboxes = len(sc)
    i = 0
    while i < nboxes:
        max_pos = i
        for pos in range(i + 1, nboxes):
            if sc[max_pos] < sc[pos]:
                max_pos = pos
        for a in arrays:
            a[i], a[max_pos] = a[max_pos], a[i]
        ix1, iy1, ix2, iy2, iarea = x1[i], y1[i], x2[i], y2[i], areas[i]
        pos = i + 1
        while pos < nboxes:
            w = max(f(0), min(ix2, x2[pos]) - max(ix1, x1[pos]) + f(offset))
            h = max(f(0), min(iy2, y2[pos]) - max(iy1, y1[pos]) + f(offset))
            inter = w * h
            ovr = inter / (iarea + areas[pos] - inter)
            weight = f(1)
            if method == 0 and ovr >= thr:
                weight = f(0)
            elif method == 1 and ovr >= thr:
                weight = f(1) - ovr
            elif method == 2:
                weight = np.exp(-(ovr * ovr) / sigma)
            sc[pos] *= weight
            if sc[pos] < min_score:
                for a in arrays:
                    a[pos] = a[nboxes - 1]
                nboxes -= 1
                pos -= 1
            pos += 1
        i += 1
    return inds[:nboxes], sc[:nboxes]


MMCV_METHODS = {"hard": 0, "linear": 1, "gaussian": 2}


@pytest.mark.parametrize("method", ["linear", "gaussian", "hard"])
def test_soft_nms_matches_mmcv_transcription(method, backend):
    for seed, n in enumerate((1, 30, 300)):
        boxes = synthetic.clustered_boxes(n, seed=seed, dtype=np.float32)[0]
        scores = (0.01 + 0.99 * distinct_scores(n, np.random.default_rng(seed))).astype(np.float32)
        for t, sigma in ((0.3, 0.5), (0.6, 0.1)):
            want_idx, want_s = mmcv_soft_nms(boxes, scores, t, sigma, 1e-3, MMCV_METHODS[method])
            idx, s = fastiou.soft_nms(boxes, scores, t, sigma, 1e-3, method, backend=backend)
            assert s.dtype == np.float32
            np.testing.assert_array_equal(idx, want_idx)
            np.testing.assert_allclose(s, want_s, rtol=1e-6, atol=0)


@pytest.mark.parametrize("method", ["linear", "gaussian", "hard"])
@pytest.mark.parametrize("classes", [False, True])
def test_soft_nms_matches_reference(method, classes, backend, force_parallel):
    rng = np.random.default_rng(1)
    for n in (5, 120, 700):
        boxes, scores, labels = synthetic.clustered_boxes(n, seed=n, dtype=np.float64)
        scores = rng.random(n)
        idxs = labels % 4 if classes else None
        for t, sigma, st_ in ((0.3, 0.5, 1e-3), (0.0, 2.0, 0.05), (-0.1, 0.5, 0.0), (0.7, 0.05, 0.2)):
            want_idx, want_s = reference.soft_nms(boxes, scores, t, sigma, st_, method, idxs)
            idx, s = fastiou.soft_nms(boxes, scores, t, sigma, st_, method, idxs, backend=backend)
            np.testing.assert_array_equal(idx, want_idx, err_msg=f"n={n} t={t}")
            np.testing.assert_allclose(s, want_s, rtol=1e-13, atol=0)
            if n == 700:
                k, _ = fastiou.soft_nms(boxes, scores, t, sigma, st_, method, idxs, max_output=9,
                                        backend=backend)
                np.testing.assert_array_equal(k, want_idx[:9])


def test_soft_nms_empty_classes_leave_the_next_class_alone(backend, force_parallel):
    # Class numbers with gaps leave empty classes between the others.  An empty class
    # once wrote the first block bound of the next class, which lost boxes whenever
    # the classes ran at the same time: run it many times, in parallel.
    boxes, _, labels = synthetic.clustered_boxes(700, seed=3, dtype=np.float64)
    scores = np.random.default_rng(3).random(700)
    idxs = (labels % 5) * 7
    want_idx, want_s = reference.soft_nms(boxes, scores, 0.3, 0.5, 1e-3, "linear", idxs)
    for _ in range(30):
        idx, s = fastiou.soft_nms(boxes, scores, 0.3, 0.5, 1e-3, "linear", idxs, backend=backend)
        np.testing.assert_array_equal(idx, want_idx)
        np.testing.assert_allclose(s, want_s, rtol=1e-13, atol=0)


def test_soft_nms_pick_in_an_empty_class_touches_no_bound():
    from fastiou.backends import numba_cpu_nms

    s = np.array([0.9, 0.8])
    bound = s.copy()  # the next class's block bounds start at the empty class's position
    assert numba_cpu_nms._pick(s, np.ones(2, np.bool_), np.arange(2), bound, 0, 0, 16) == -1
    assert bound.tolist() == [0.9, 0.8]


@pytest.mark.parametrize("method", ["linear", "gaussian", "hard"])
def test_soft_nms_ties_match_reference(method, backend):
    # many equal scores, in boxes spread over several x-blocks: the lower index goes first
    boxes = synthetic.scattered_boxes(600, image_size=300.0, seed=8, dtype=np.float64)[0]
    scores = np.random.default_rng(8).integers(1, 6, 600) / 5.0
    want_idx, want_s = reference.soft_nms(boxes, scores, 0.3, 0.5, 0.05, method)
    idx, s = fastiou.soft_nms(boxes, scores, 0.3, 0.5, 0.05, method, backend=backend)
    np.testing.assert_array_equal(idx, want_idx)
    np.testing.assert_allclose(s, want_s, rtol=1e-13, atol=0)


def test_soft_nms_conventions(backend):
    boxes = [[0, 0, 10, 10], [0, 0, 10, 10], [0, 0, 10, 9]]
    # hard with threshold 0 kills every later box; score 0 is not below a 0 threshold
    idx, s = fastiou.soft_nms(boxes, [0.9, 0.8, 0.7], 0.5, method="hard", score_threshold=0.0,
                              backend=backend)
    np.testing.assert_array_equal(idx, [0, 1, 2])
    np.testing.assert_array_equal(s, [0.9, 0.0, 0.0])
    # boxes below the score threshold are dropped up front, even the best one
    assert fastiou.soft_nms(boxes, [1e-4, 1e-4, 1e-4], backend=backend)[0].shape == (0,)
    with pytest.raises(ValueError, match="sigma"):
        fastiou.soft_nms(boxes, [0.9, 0.8, 0.7], sigma=0.0, backend=backend)
    with pytest.raises(ValueError, match="method"):
        fastiou.soft_nms(boxes, [0.9, 0.8, 0.7], method="greedy", backend=backend)
    idx, s = fastiou.soft_nms(np.array(boxes, np.float32), [1, 2, 3], backend=backend)
    assert s.dtype == np.float64  # integer scores are computed in float64
    # box 2 decays boxes 0 and 1 by 1 - 0.9; box 1 then decays box 0 by 1 - 1 = 0
    assert idx.tolist() == [2, 1]
    np.testing.assert_allclose(s, [3.0, 0.2])


# --------------------------------------------------------- weighted boxes fusion


def wbf_inputs(seed, n_models=3, n=80, n_labels=4):
    rng = np.random.default_rng(seed)
    objects = rng.uniform(0.05, 0.7, (12, 2))
    sizes = rng.uniform(0.05, 0.3, (12, 2))
    boxes, scores, labels = [], [], []
    for _ in range(n_models):
        owner = rng.integers(0, 12, n)
        xy = objects[owner] + rng.normal(0, 0.02, (n, 2))
        wh = sizes[owner] * np.exp(rng.normal(0, 0.1, (n, 2)))
        boxes.append(np.clip(np.concatenate([xy, xy + wh], axis=1), 0, 1))
        scores.append(rng.uniform(0.01, 1, n))
        labels.append(owner % n_labels)
    return boxes, scores, labels


def canonical(boxes, scores, labels):
    order = np.lexsort((boxes[:, 0], scores, labels))
    return boxes[order], scores[order], np.asarray(labels)[order]


@pytest.mark.parametrize("conf_type", ["avg", "max", "box_and_model_avg", "absent_model_aware_avg"])
def test_wbf_matches_ensemble_boxes(conf_type, backend, force_parallel):
    eb = pytest.importorskip("ensemble_boxes", reason="comparison with ensemble-boxes")
    for seed in range(8):
        boxes, scores, labels = wbf_inputs(seed, n_models=1 + seed % 4)
        weights = None if seed % 2 else list(np.random.default_rng(seed).uniform(0.5, 3, len(boxes)))
        kwargs = dict(weights=weights, iou_thr=(0.4, 0.55, 0.7)[seed % 3], skip_box_thr=0.05 * (seed % 3),
                      conf_type=conf_type, allows_overflow=bool(seed % 3 == 1))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            want = eb.weighted_boxes_fusion(boxes, scores, labels, **kwargs)
        got = fastiou.weighted_boxes_fusion(boxes, scores, labels, backend=backend, **kwargs)
        assert got[0].shape == want[0].shape, f"seed {seed}"
        assert got[2].dtype == np.int64
        # same clusters: ensemble-boxes fuses in float32, hence the tolerance
        w, g = canonical(*want), canonical(*got)
        np.testing.assert_allclose(g[0], w[0], atol=2e-6)
        np.testing.assert_allclose(g[1], w[1], rtol=2e-6)
        np.testing.assert_array_equal(g[2], w[2])
        assert np.all(np.diff(got[1]) <= 0)


@pytest.mark.parametrize("conf_type", ["avg", "max", "box_and_model_avg", "absent_model_aware_avg"])
def test_wbf_matches_reference(conf_type, backend):
    for seed in range(4):
        boxes, scores, labels = wbf_inputs(100 + seed, n_models=2 + seed % 2, n=60)
        weights = [1.0, 2.0, 0.5][: len(boxes)]
        want = reference.weighted_boxes_fusion(boxes, scores, labels, weights, 0.55, 0.02, conf_type)
        got = fastiou.weighted_boxes_fusion(boxes, scores, labels, weights, 0.55, 0.02, conf_type,
                                            backend=backend)
        for a, b in zip(got, want):
            np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-15)


def test_wbf_dtype_and_conventions(backend):
    boxes, scores, labels = wbf_inputs(3, n_models=2, n=30)
    b32 = [b.astype(np.float32) for b in boxes]
    s32 = [s.astype(np.float32) for s in scores]
    out = fastiou.weighted_boxes_fusion(b32, s32, labels, backend=backend)
    assert out[0].dtype == np.float32 and out[1].dtype == np.float32
    want = fastiou.weighted_boxes_fusion(boxes, scores, labels, backend=backend)
    np.testing.assert_allclose(out[0], want[0], atol=1e-5)
    with pytest.warns(UserWarning, match="clipped"):
        clipped = fastiou.weighted_boxes_fusion([[[-0.1, 0.2, 0.5, 1.3]]], [[0.5]], [[1]], backend=backend)
    np.testing.assert_allclose(clipped[0], [[0.0, 0.2, 0.5, 1.0]])
    # zero-area boxes (after clipping) and low scores are skipped
    skipped = fastiou.weighted_boxes_fusion([[[0.2, 0.2, 0.2, 0.5], [0.1, 0.1, 0.4, 0.4]]], [[0.9, 0.01]],
                                            [[0, 0]], skip_box_thr=0.1, backend=backend)
    assert skipped[0].shape == (0, 4) and skipped[2].dtype == np.int64
    with pytest.raises(ValueError, match="weights"):
        fastiou.weighted_boxes_fusion(boxes, scores, labels, weights=[1.0], backend=backend)
    with pytest.raises(ValueError, match="conf_type"):
        fastiou.weighted_boxes_fusion(boxes, scores, labels, conf_type="mean", backend=backend)
    with pytest.raises(ValueError, match=r"boxes_list\[1\].*row 0"):
        fastiou.weighted_boxes_fusion([[[0.1, 0.1, 0.2, 0.2]], [[0.5, 0.1, 0.2, 0.2]]], [[0.5], [0.5]],
                                      [[0], [0]], backend=backend)
    with pytest.raises(ValueError, match=r"scores_list\[0\].*NaN"):
        fastiou.weighted_boxes_fusion([[[0.1, 0.1, 0.2, 0.2]]], [[np.nan]], [[0]], backend=backend)
    with pytest.raises(ValueError, match="scores_list must have one entry"):
        fastiou.weighted_boxes_fusion(boxes, scores[:1], labels, backend=backend)


# ------------------------------------------------------------------- kernels


def test_window_bounds_contain_every_suppressible_box():
    """The window of numba_cpu_nms.window holds every box with IoU above the threshold."""
    rng = np.random.default_rng(0)
    a = np.array([10.0, 0.0, 30.0, 5.0])
    for _ in range(2000):
        x1 = rng.uniform(-30, 50)
        w = rng.uniform(0, 60)
        b = np.array([x1, 0.0, x1 + w, 5.0])
        iou = reference.pair_metric(a, b)
        for t in (0.1, 0.5, 0.9):
            if iou > t:
                left, right = numba_cpu_nms.window.py_func(a[0], a[2], t, 60.0)
                assert left <= b[0] <= right
    assert math.isinf(numba_cpu_nms.window.py_func(0.0, 1.0, 0.0, 1.0)[1])


# --- the small-input fast path (one compiled call: Cython, or its Numba twin) ---------------


def _fast_path_entries(monkeypatch):
    """The Cython entry and the Numba twin that replaces it when the extension is not built."""
    from fastiou import backends

    entries = {"cython": backends.serial_entry("small_nms")}
    with monkeypatch.context() as m:
        m.setitem(sys.modules, "fastiou._cy_nms", None)  # import fails as if not built
        m.setattr(backends, "_serial_entries", {})
        entries["numba"] = backends.serial_entry("small_nms")
    assert entries["numba"].__module__ == "fastiou.backends.numba_cpu_nms"
    return entries


@pytest.mark.parametrize("fmt", ["xyxy", "xywh", "cxcywh"])
@pytest.mark.parametrize("metric", ["iou", "diou"])
def test_small_fast_path_keeps_what_the_general_path_keeps(fmt, metric, monkeypatch):
    from fastiou._columns import FORMATS
    from fastiou.nms import NMS_METRICS, SMALL_NMS

    entries = _fast_path_entries(monkeypatch)
    rng = np.random.default_rng(7)
    for trial in range(60):
        n = SMALL_NMS if trial < 2 else int(rng.integers(1, 300))
        boxes, scores, _ = synthetic.clustered_boxes(n, seed=trial)
        boxes = boxes.astype([np.float32, np.float64][trial % 2])
        scores = [scores.astype(np.float32), scores.astype(np.float64),
                  np.round(scores, 1),  # ties: the lower index first
                  np.where(scores > 0.5, 0.0, -0.0),  # -0.0 and 0.0 tie
                  np.where(scores > 0.5, 0.0, -0.0).astype(np.float32),
                  np.where(scores > 0.8, np.inf, np.where(scores < 0.2, -np.inf, scores)),
                  (scores - np.float32(0.5)) * np.float32(1e-39)][trial % 7]  # negative, subnormal
        offset = trial % 3 == 0 and fmt == "xyxy"
        threshold = float(rng.choice([-0.5, 0.0, 0.3, 0.5, 0.7, 1.0]))
        general = fastiou.nms(boxes, scores, threshold, metric=metric, fmt=fmt, offset=int(offset),
                              backend="numba")
        for name, entry in entries.items():
            kept = entry(NMS_METRICS[metric], boxes, scores, FORMATS[fmt], int(offset), True, threshold,
                         SMALL_NMS)
            assert kept is not None and kept.dtype == np.int64, name
            np.testing.assert_array_equal(kept, general, err_msg=f"{name} trial {trial}")
    # strided views and ones the fast path leaves to the general path, whose answer it gives
    boxes, scores, _ = synthetic.clustered_boxes(2 * SMALL_NMS + 2, seed=1)
    for b, s in ((boxes[::2], scores[::2]), (boxes.T.copy().T, scores), (boxes.astype(">f4"), scores)):
        np.testing.assert_array_equal(fastiou.nms(b, s, 0.5), fastiou.nms(b, s, 0.5, backend="numba"))


def test_small_fast_path_leaves_bad_input_to_the_general_path(monkeypatch):
    """A NaN score, an invalid box, a NaN threshold or an extreme coordinate: None, so
    that the general path raises naming the problem (or computes in float64)."""
    from fastiou.nms import SMALL_NMS

    entries = _fast_path_entries(monkeypatch)
    boxes = np.array([[0, 0, 10, 10], [1, 1, 11, 11], [20, 20, 30, 30]], np.float32)
    scores = np.array([0.9, 0.8, 0.7], np.float32)
    bad_boxes = boxes.copy()
    bad_boxes[1, 2] = -5
    nan_scores = scores.copy()
    nan_scores[2] = np.nan
    for entry in entries.values():
        assert entry(0, boxes, scores, 0, 0, True, 0.5, SMALL_NMS).tolist() == [0, 2]
        assert entry(0, bad_boxes, scores, 0, 0, True, 0.5, SMALL_NMS) is None
        assert entry(0, boxes, nan_scores, 0, 0, True, 0.5, SMALL_NMS) is None
        assert entry(0, boxes, scores, 0, 0, True, float("nan"), SMALL_NMS) is None
        assert entry(0, boxes * np.float32(1e30), scores, 0, 0, True, 0.5, SMALL_NMS) is None
        assert entry(0, boxes, scores, 0, 0, True, 0.5, 2) is None  # above the limit
        assert entry(1, boxes, scores, 0, 0, True, 0.5, SMALL_NMS) is None  # not IoU or DIoU
        assert entry(0, boxes, scores[:2], 0, 0, True, 0.5, SMALL_NMS) is None
        assert entry(0, boxes, scores, 0, 0.5, True, 0.5, SMALL_NMS) is None
    with pytest.raises(ValueError, match="boxes has an invalid box at row 1"):
        fastiou.nms(bad_boxes, scores, 0.5)
    with pytest.raises(ValueError, match="scores must not contain NaN, got NaN at index 2"):
        fastiou.nms(boxes, nan_scores, 0.5)
    np.testing.assert_array_equal(fastiou.nms(boxes * np.float32(1e30), scores, 0.5), [0, 2])
    before = boxes.copy()
    fastiou.nms(boxes, scores, 0.5)
    np.testing.assert_array_equal(boxes, before)  # the input is not modified
