"""Small safety items (issue 16 item 4): exact integer score order, backend names checked
on empty input, tensors that require grad, named errors of weighted_boxes_fusion and
batched_nms, and the documented edges of NMS (negative thresholds) and CIoU ([-1.5, 1]).
"""

from __future__ import annotations

import numpy as np
import pytest

import fastiou
from fastiou.backends import numba_cpu_nms

BIG = 2**62  # float64(BIG + 1) == float64(BIG): distinct int64 scores that float64 ties


def disjoint_boxes(n):
    x = np.arange(n, dtype=np.float64) * 10
    return np.stack([x, np.zeros(n), x + 5, np.full(n, 5.0)], axis=1)


def exact_order(scores):
    """Indices by decreasing score, ties by lower index, compared as Python ints."""
    return sorted(range(len(scores)), key=lambda i: (-int(scores[i]), i))


# ------------------------------------------------------------ (a) integer scores


def test_float64_really_ties_these_scores():
    # the premise of the tests below
    assert float(BIG) == float(BIG + 1)


@pytest.mark.parametrize("n", [2, 7, numba_cpu_nms.SMALL + 5])  # both numba paths
def test_nms_ranks_int64_scores_exactly(backend, n):
    rng = np.random.default_rng(n)
    scores = (BIG + rng.permutation(n)).astype(np.int64)
    scores[-1] = scores[0]  # one exact tie: lower index first
    boxes = disjoint_boxes(n)
    np.testing.assert_array_equal(fastiou.nms(boxes, scores, 0.5, backend=backend), exact_order(scores))


def test_nms_keeps_the_higher_of_two_huge_scores(backend):
    boxes = [[0, 0, 10, 10], [0, 0, 10, 10]]
    np.testing.assert_array_equal(fastiou.nms(boxes, np.array([BIG, BIG + 1]), 0.5, backend=backend), [1])
    np.testing.assert_array_equal(fastiou.nms(boxes, np.array([BIG + 1, BIG]), 0.5, backend=backend), [0])


def test_nms_uint64_and_negative_int64_scores(backend):
    boxes = disjoint_boxes(3)
    u = np.array([2**64 - 2, 2**64 - 1, 2**63], dtype=np.uint64)
    np.testing.assert_array_equal(fastiou.nms(boxes, u, 0.5, backend=backend), [1, 0, 2])
    i = np.array([-(2**63) + 1, -(2**63), 2**53 + 1], dtype=np.int64)
    np.testing.assert_array_equal(fastiou.nms(boxes, i, 0.5, backend=backend), [2, 0, 1])


def test_nms_score_threshold_is_exact_on_int64(backend):
    boxes = disjoint_boxes(4)
    scores = np.array([BIG, BIG + 1, BIG + 2, BIG - 1], dtype=np.int64)
    # float(BIG) is exactly BIG: keep the scores > BIG, which float64 would all drop
    np.testing.assert_array_equal(fastiou.nms(boxes, scores, 0.5, score_threshold=float(BIG),
                                              backend=backend), [2, 1])
    np.testing.assert_array_equal(fastiou.nms(boxes, scores, 0.5, score_threshold=float(BIG) - 1024,
                                              backend=backend), [2, 1, 0, 3])
    assert fastiou.nms(boxes, scores, 0.5, score_threshold=1e300, backend=backend).size == 0
    assert fastiou.nms(boxes, scores, 0.5, score_threshold=-1e300, backend=backend).size == 4


def test_batched_nms_ranks_int64_scores_exactly(backend, force_parallel):
    n = numba_cpu_nms.SMALL + 5
    rng = np.random.default_rng(3)
    scores = (BIG + rng.permutation(n)).astype(np.int64)
    labels = rng.integers(0, 4, n)
    got = fastiou.batched_nms(disjoint_boxes(n), scores, labels, 0.5, backend=backend)
    np.testing.assert_array_equal(got, exact_order(scores))


def test_soft_nms_initial_order_is_exact(backend):
    boxes = disjoint_boxes(3)
    keep, new = fastiou.soft_nms(boxes, np.array([BIG, BIG + 2, BIG + 1]), backend=backend)
    np.testing.assert_array_equal(keep, [1, 2, 0])
    assert new.dtype == np.float64 and np.all(new == float(BIG))  # decayed in float64: rounded
    # equal integers: lower index first
    keep, _ = fastiou.soft_nms(boxes, np.array([BIG + 1, BIG, BIG + 1]), backend=backend)
    np.testing.assert_array_equal(keep, [0, 2, 1])


def test_soft_nms_int64_decay_picks_the_higher_score(backend):
    # identical boxes: the first pick decays the other to 0 (linear), so only it is kept
    boxes = [[0, 0, 10, 10], [0, 0, 10, 10]]
    keep, _ = fastiou.soft_nms(boxes, np.array([BIG, BIG + 1]), backend=backend)
    np.testing.assert_array_equal(keep, [1])
    keep, _ = fastiou.soft_nms(boxes + [[50, 50, 60, 60]], np.array([BIG, BIG + 1, BIG + 2]),
                               idxs=[0, 0, 1], backend=backend)
    np.testing.assert_array_equal(keep, [2, 1])


def test_soft_nms_small_int_scores_unchanged(backend):
    # the exact path only runs where float64 rounds: small integers give the float answer
    boxes = [[0, 0, 10, 10], [1, 1, 11, 11], [20, 20, 30, 30]]
    keep_i, new_i = fastiou.soft_nms(boxes, np.array([3, 5, 4]), backend=backend)
    keep_f, new_f = fastiou.soft_nms(boxes, np.array([3.0, 5.0, 4.0]), backend=backend)
    np.testing.assert_array_equal(keep_i, keep_f)
    np.testing.assert_array_equal(new_i, new_f)


def test_weighted_boxes_fusion_takes_the_higher_huge_score_first(backend):
    boxes = [[[0.1, 0.1, 0.2, 0.2], [0.5, 0.5, 0.6, 0.6]]]
    fused, scores, _ = fastiou.weighted_boxes_fusion(boxes, [np.array([BIG, BIG + 1])], [[0, 0]],
                                                     backend=backend)
    # two clusters of equal float score: the one of the higher integer score comes first
    np.testing.assert_allclose(fused, [[0.5, 0.5, 0.6, 0.6], [0.1, 0.1, 0.2, 0.2]])
    assert scores[0] == scores[1]
    fused, _, _ = fastiou.weighted_boxes_fusion(boxes, [np.array([BIG + 1, BIG])], [[0, 0]],
                                                backend=backend)
    np.testing.assert_allclose(fused, [[0.1, 0.1, 0.2, 0.2], [0.5, 0.5, 0.6, 0.6]])


# ------------------------------------------------------------ (b) backend names


EMPTY = np.zeros((0, 4))
NO_SCORES = np.zeros(0)

EMPTY_CALLS = {
    "nms": lambda b: fastiou.nms(EMPTY, NO_SCORES, 0.5, backend=b),
    "batched_nms": lambda b: fastiou.batched_nms(EMPTY, NO_SCORES, NO_SCORES, 0.5, backend=b),
    "soft_nms": lambda b: fastiou.soft_nms(EMPTY, NO_SCORES, backend=b),
    "weighted_boxes_fusion": lambda b: fastiou.weighted_boxes_fusion([], [], [], backend=b),
    "masks_to_boxes": lambda b: fastiou.masks_to_boxes(np.zeros((0, 4, 4), bool), backend=b),
    "sparse_box_iou": lambda b: fastiou.sparse_box_iou(EMPTY, EMPTY, 0.5, backend=b),
    "max_box_iou": lambda b: fastiou.max_box_iou(EMPTY, EMPTY, backend=b),
    "box_iou": lambda b: fastiou.box_iou(EMPTY, EMPTY, backend=b),
    "complete_box_iou_aligned": lambda b: fastiou.complete_box_iou(EMPTY, EMPTY, aligned=True, backend=b),
    "bbox_overlaps": lambda b: fastiou.bbox_overlaps(EMPTY, EMPTY, mode="iof", backend=b),
    "mask_iou": lambda b: fastiou.mask_iou(np.zeros((0, 4, 4), bool), np.zeros((0, 4, 4), bool), backend=b),
    "mask_dice": lambda b: fastiou.mask_dice(np.zeros((0, 4, 4), bool), np.zeros((0, 4, 4), bool),
                                             backend=b),
    "rle_decode": lambda b: fastiou.rle_decode([], backend=b),
    "dice": lambda b: fastiou.dice(np.zeros((0, 4, 4)), np.zeros((0, 4, 4)), backend=b),
}


@pytest.mark.parametrize("name", sorted(EMPTY_CALLS))
def test_unknown_backend_raises_on_empty_input(name):
    call = EMPTY_CALLS[name]
    call("auto")  # the empty call itself is fine
    for bad in ("gpu", "Numba", None):
        with pytest.raises(ValueError, match=r"backend must be one of .*got"):
            call(bad)


def test_check_backend():
    from fastiou import _validate

    assert _validate.check_backend("cython") == "cython"
    with pytest.raises(ValueError, match="'auto', 'numba', 'cython', 'cuda'.*got 'gpu'"):
        _validate.check_backend("gpu")
    with pytest.raises(ValueError, match="got 'cython'"):
        _validate.check_backend("cython", ("auto", "numba"))


# ------------------------------------------------------------ (c) tensors that require grad


def _grad_cases():
    boxes = np.array([[0, 0, 10, 10], [1, 1, 11, 11], [20, 20, 30, 30], [0, 0, 5, 10]], np.float64)
    scores = np.array([0.9, 0.8, 0.7, 0.6])
    labels = np.array([0, 0, 1, 1])
    masks = np.zeros((2, 6, 6))
    masks[0, 1:4, 1:4] = 1
    masks[1, 2:5, 2:6] = 1
    logits = np.array([[0.5, -1.0], [2.0, 0.0]])
    targets = np.array([[1.0, 0.0], [0.0, 1.0]])
    return {
        "box_iou": (fastiou.box_iou, (boxes, boxes)),
        "complete_box_iou": (fastiou.complete_box_iou, (boxes, boxes)),
        "box_convert": (lambda b: fastiou.box_convert(b, "xyxy", "cxcywh"), (boxes,)),
        "nms": (lambda b, s: fastiou.nms(b, s, 0.5), (boxes, scores)),
        "batched_nms": (lambda b, s: fastiou.batched_nms(b, s, labels, 0.5), (boxes, scores)),
        "soft_nms": (fastiou.soft_nms, (boxes, scores)),
        "weighted_boxes_fusion": (lambda b, s: fastiou.weighted_boxes_fusion([b], [s], [labels]),
                                  (boxes / 40, scores)),
        "sparse_box_iou": (lambda a, b: fastiou.sparse_box_iou(a, b, 0.1).toarray(), (boxes, boxes)),
        "mask_iou": (fastiou.mask_iou, (masks, masks)),
        "masks_to_boxes": (fastiou.masks_to_boxes, (masks,)),
        "sigmoid_focal_loss": (fastiou.sigmoid_focal_loss, (logits, targets)),
        "generalized_box_iou_loss": (fastiou.generalized_box_iou_loss, (boxes, boxes[::-1].copy())),
    }


GRAD_CASES = _grad_cases()


@pytest.mark.parametrize("name", sorted(GRAD_CASES))
def test_tensors_that_require_grad_are_read(name):
    torch = pytest.importorskip("torch", reason="torch is not installed: no tensors to test")
    func, arrays = GRAD_CASES[name]
    tensors = [torch.tensor(a, requires_grad=True) for a in arrays]
    want = func(*arrays)
    got = func(*tensors)
    for w, g in zip(want if isinstance(want, tuple) else (want,), got if isinstance(got, tuple) else (got,)):
        assert isinstance(g, np.ndarray)
        np.testing.assert_array_equal(g, w)
    for t, a in zip(tensors, arrays):  # read, not modified or detached in place
        assert t.requires_grad
        np.testing.assert_array_equal(t.detach().numpy(), a)


# ------------------------------------------------------------ (d), (e) named errors


def test_weighted_boxes_fusion_names_the_list_that_is_not_one():
    boxes, scores, labels = [[[0.1, 0.1, 0.2, 0.2]]], [[0.9]], [[0]]
    with pytest.raises(TypeError, match="boxes_list must be a sequence.*got int"):
        fastiou.weighted_boxes_fusion(5, scores, labels)
    with pytest.raises(TypeError, match="scores_list must be a sequence, got int"):
        fastiou.weighted_boxes_fusion(boxes, 5, labels)
    with pytest.raises(TypeError, match="labels_list must be a sequence, got float"):
        fastiou.weighted_boxes_fusion(boxes, scores, 0.5)
    with pytest.raises(ValueError, match=r"scores_list must have one entry per box \(1\), got 2"):
        fastiou.weighted_boxes_fusion(boxes, scores * 2, labels)


def test_batched_nms_requires_idxs():
    boxes = [[0, 0, 10, 10], [1, 1, 11, 11]]
    with pytest.raises(TypeError, match="idxs"):
        fastiou.batched_nms(boxes, [0.9, 0.8], None, 0.5)
    # no boxes: as torchvision (its own test passes None for the rest), no indices before the
    # other arguments are read; there is no box whose category could be missing
    out = fastiou.batched_nms(EMPTY, NO_SCORES, None, 0.5)
    assert out.shape == (0,) and out.dtype == np.int64


# ------------------------------------------------------------ (f) documented edges


@pytest.mark.parametrize("metric", ["iou", "diou"])
def test_zero_area_boxes_suppress_each_other_only_below_zero(backend, metric):
    point = [[3.0, 3.0, 3.0, 3.0]]
    boxes, scores = point * 2, [0.9, 0.8]
    assert fastiou.box_iou(point, point)[0, 0] == 0  # zero union: IoU 0, not NaN
    np.testing.assert_array_equal(fastiou.nms(boxes, scores, 0.0, metric=metric, backend=backend), [0, 1])
    np.testing.assert_array_equal(fastiou.nms(boxes, scores, -0.1, metric=metric, backend=backend), [0])


def test_zero_area_boxes_below_zero_differ_from_torchvision():
    torch = pytest.importorskip("torch", reason="torch is not installed")
    ops = pytest.importorskip("torchvision.ops", reason="torchvision is not installed")
    boxes = torch.tensor([[3.0, 3.0, 3.0, 3.0]] * 2, dtype=torch.float64)
    scores = torch.tensor([0.9, 0.8], dtype=torch.float64)
    # torchvision's 0/0 = NaN never suppresses; fastiou's IoU 0 does below 0 (docs/numeric-policy.md)
    assert ops.nms(boxes, scores, -0.1).tolist() == [0, 1]
    assert fastiou.nms(boxes.numpy(), scores.numpy(), -0.1).tolist() == [0]


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_ciou_of_far_apart_opposite_aspects_approaches_minus_one_and_a_half(dtype):
    wide = np.array([[0, 0, 1e3, 1e-3]], dtype)
    values = []
    for d in (1e5, 1e7, 1e9):
        tall = np.array([[d, d, d + 1e-3, d + 1e3]], dtype)
        values.append(float(fastiou.complete_box_iou(wide, tall)[0, 0]))
    assert all(-1.5 <= v for v in values)
    assert values[0] > values[1] > values[2]  # decreasing towards -1.5
    assert values[-1] < -1.4999
    # DIoU alone stays above -1: the aspect term adds at most 1/2
    assert fastiou.distance_box_iou(wide, np.array([[1e9, 1e9, 1e9 + 1e-3, 1e9 + 1e3]], dtype))[0, 0] >= -1


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_ciou_never_below_minus_one_and_a_half_beyond_rounding(dtype):
    rng = np.random.default_rng(7)
    n = 600
    w, h = 10.0 ** rng.uniform(-4, 4, n), 10.0 ** rng.uniform(-4, 4, n)
    w[:100] = 0  # atan(0 / h) = 0 against atan(w / 0) = pi / 2: the largest aspect term
    h[100:200] = 0
    x, y = rng.uniform(-1e8, 1e8, n), rng.uniform(-1e8, 1e8, n)
    c = fastiou.complete_box_iou(np.stack([x, y, x + w, y + h], 1).astype(dtype),
                                 np.stack([x, y, x + w, y + h], 1).astype(dtype))
    eps = np.finfo(dtype).eps
    assert c.min() >= -1.5 - 4 * eps  # mathematically >= -1.5; the last bit may round below
    assert c.min() < -1.5 + 1e-4  # and the extreme is reached
    assert c.max() <= 1
