"""Batched boxes (torchvision 0.29), eps= of DIoU/CIoU, (0,) boxes and bbox_overlaps' spellings.

Batched results are compared with one unbatched call per batch item (the same
kernels, so to the last bit or two) and, where torchvision is installed, with
torchvision on the same batch.
"""

from __future__ import annotations

import numpy as np
import pytest

import fastiou
from fastiou import losses, reference

METRICS = {
    "iou": fastiou.box_iou,
    "ioa": fastiou.box_ioa,
    "giou": fastiou.generalized_box_iou,
    "diou": fastiou.distance_box_iou,
    "ciou": fastiou.complete_box_iou,
}
TV_METRICS = {"iou": "box_iou", "giou": "generalized_box_iou", "diou": "distance_box_iou",
              "ciou": "complete_box_iou"}
TV_LOSSES = ("generalized_box_iou_loss", "distance_box_iou_loss", "complete_box_iou_loss")
ATOL = {np.float64: 1e-12, np.float32: 3e-6}


def make_boxes(shape, seed, dtype=np.float64, degenerate=False):
    """xyxy boxes of shape ``shape + (4,)``: clustered enough that most pairs overlap."""
    rng = np.random.default_rng(seed)
    xy = rng.uniform(0, 20, shape + (2,))
    wh = rng.uniform(0, 15, shape + (2,))
    if degenerate:
        wh[..., ::3, 0] = 0  # zero widths, and zero-area points
        wh[..., ::5, :] = 0
    return np.concatenate([xy, xy + wh], axis=-1).astype(dtype)


def torch_ops():
    torch = pytest.importorskip("torch", reason="torch not installed")
    ops = pytest.importorskip("torchvision.ops", reason="torchvision not installed")
    return torch, ops


# --- batched pairwise metrics -------------------------------------------------------


@pytest.mark.parametrize("metric", METRICS)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("n,m", [(7, 5), (1, 9), (6, 1)])
def test_batched_equals_one_call_per_batch_item(metric, dtype, n, m, backend, force_parallel):
    # odd and even rows per batch: the kernels' row pairs must not straddle two batches
    b1 = make_boxes((2, 3, n), 1, dtype, degenerate=True)
    b2 = make_boxes((2, 3, m), 2, dtype, degenerate=True)
    got = METRICS[metric](b1, b2, backend=backend)
    assert got.shape == (2, 3, n, m) and got.dtype == dtype
    for index in np.ndindex(2, 3):
        want = METRICS[metric](b1[index], b2[index], backend=backend)
        np.testing.assert_allclose(got[index], want, rtol=0, atol=ATOL[dtype])
        ref = reference.pairwise(b1[index], b2[index], metric)
        np.testing.assert_allclose(got[index], ref, rtol=0, atol=ATOL[dtype] * 10)


@pytest.mark.parametrize("metric", METRICS)
def test_batched_aligned(metric, backend, force_parallel):
    b1 = make_boxes((4, 9), 3, degenerate=True)
    b2 = make_boxes((4, 9), 4, degenerate=True)
    got = METRICS[metric](b1, b2, aligned=True, backend=backend)
    assert got.shape == (4, 9)
    for k in range(4):
        np.testing.assert_allclose(got[k], np.diag(reference.pairwise(b1[k], b2[k], metric)),
                                   rtol=0, atol=1e-12)


@pytest.mark.parametrize("metric", TV_METRICS)
@pytest.mark.parametrize("shapes", [((4, 7), (4, 5)), ((2, 3, 6), (2, 3, 8)), ((7,), (3, 5)),
                                    ((1, 6), (3, 4))])
def test_batched_matches_torchvision(metric, shapes, backend):
    torch, ops = torch_ops()
    b1, b2 = make_boxes(shapes[0], 5), make_boxes(shapes[1], 6)
    want = getattr(ops, TV_METRICS[metric])(torch.from_numpy(b1), torch.from_numpy(b2)).numpy()
    got = METRICS[metric](b1, b2, backend=backend)
    assert got.shape == want.shape
    # torchvision's DIoU/CIoU add eps = 1e-7 to c^2 and to CIoU's alpha denominator
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-12 if metric in ("iou", "giou") else 1e-7)
    if metric in ("diou", "ciou"):
        np.testing.assert_allclose(METRICS[metric](b1, b2, eps=1e-7, backend=backend), want,
                                   rtol=0, atol=1e-12)


def test_broadcast_leading_dimensions_match_repeated_input(backend):
    b1 = make_boxes((6,), 7)
    b2 = make_boxes((3, 5), 8)
    got = fastiou.box_iou(b1, b2, backend=backend)
    assert got.shape == (3, 6, 5)
    np.testing.assert_array_equal(got, fastiou.box_iou(np.broadcast_to(b1, (3, 6, 4)).copy(), b2,
                                                       backend=backend))
    got = fastiou.box_iou(make_boxes((1, 6), 7), b2, backend=backend)
    assert got.shape == (3, 6, 5)


@pytest.mark.parametrize("metric", ["iou", "ciou"])
def test_batched_out_contiguous_and_strided(metric, backend, force_parallel):
    b1 = make_boxes((3, 5), 9)
    b2 = make_boxes((3, 4), 10)
    want = METRICS[metric](b1, b2, backend=backend)
    out = np.full((3, 5, 4), np.nan)
    assert METRICS[metric](b1, b2, out=out, backend=backend) is out
    np.testing.assert_array_equal(out, want)
    big = np.full((3, 5, 8), -7.0)
    strided = big[:, :, ::2]  # no flat (15, 4) view of it exists: a copy-back path
    assert METRICS[metric](b1, b2, out=strided, backend=backend) is strided
    np.testing.assert_array_equal(strided, want)
    assert np.all(big[:, :, 1::2] == -7.0)
    aligned_out = np.empty((3, 5))
    METRICS[metric](b1, b1, aligned=True, out=aligned_out, backend=backend)
    np.testing.assert_allclose(aligned_out, 1.0)
    with pytest.raises(ValueError, match=r"out must have shape \(3, 5, 4\)"):
        METRICS[metric](b1, b2, out=np.empty((15, 4)), backend=backend)


def test_batched_inputs_not_modified(backend):
    b1 = make_boxes((2, 5), 11, np.float32)
    b2 = make_boxes((2, 6), 12, np.float32)
    c1, c2 = b1.copy(), b2.copy()
    b1.flags.writeable = False
    for f in METRICS.values():
        f(b1, b2, backend=backend)
        f(b1, b2, fmt="cxcywh", offset=1, backend=backend)
    fastiou.box_convert(b1, "xyxy", "cxcywh")
    fastiou.clip_boxes_to_image(b1, (5, 5))
    losses.complete_box_iou_loss(b1, b1)
    np.testing.assert_array_equal(b1, c1)
    np.testing.assert_array_equal(b2, c2)


def test_mismatched_leading_dimensions_name_the_argument():
    with pytest.raises(ValueError, match=r"boxes2 must have the leading \(batch\) dimensions of boxes1"):
        fastiou.box_iou(make_boxes((2, 5), 1), make_boxes((3, 5), 2))
    with pytest.raises(ValueError, match="boxes2 must have the leading"):
        fastiou.complete_box_iou(make_boxes((2, 2, 5), 1), make_boxes((2, 3, 5), 2))
    with pytest.raises(ValueError, match="aligned=True needs boxes1 and boxes2 of the same length"):
        fastiou.box_iou(make_boxes((2, 5), 1), make_boxes((2, 6), 2), aligned=True)
    with pytest.raises(ValueError, match=r"boxes1 must have shape \(\.\.\., N, 4\)"):
        fastiou.box_iou(np.zeros((2, 5, 3)), make_boxes((2, 5), 2))
    with pytest.raises(ValueError, match="bboxes2 must have the leading"):
        fastiou.bbox_overlaps(make_boxes((2, 5), 1), make_boxes((3, 5), 2))


def test_invalid_box_in_a_batch_is_named_by_its_full_index():
    b = make_boxes((2, 3, 4), 1)
    b[1, 2, 3] = [5, 5, 1, 9]  # x2 < x1
    with pytest.raises(ValueError, match=r"boxes2 has an invalid box at row \[1, 2, 3\]"):
        fastiou.box_iou(make_boxes((2, 3, 4), 2), b)
    b[1, 2, 3, 0] = np.nan
    with pytest.raises(ValueError, match=r"boxes1 has an invalid box at row \[1, 2, 3\]"):
        fastiou.generalized_box_iou(b, b)


def test_batched_extreme_coordinates_take_the_exact_path(backend):
    # float32 sides beyond 2^56 are outside the fast formulas' range: exact, per batch item
    b = make_boxes((2, 4), 13, np.float64) * 1e20
    b32 = b.astype(np.float32)
    got = fastiou.complete_box_iou(b32, b32[:, ::-1], backend=backend)
    assert got.dtype == np.float32 and np.isfinite(got).all()
    for k in range(2):
        np.testing.assert_array_equal(got[k], fastiou.complete_box_iou(b32[k], b32[k, ::-1],
                                                                      backend=backend))
    np.testing.assert_allclose(got, fastiou.complete_box_iou(b / 1e20, b[:, ::-1] / 1e20), atol=1e-6)


# --- empty boxes ----------------------------------------------------------------------


@pytest.mark.parametrize("metric", METRICS)
def test_empty_boxes(metric, backend):
    f = METRICS[metric]
    b = make_boxes((3,), 1)
    assert f(np.empty((0,)), b, backend=backend).shape == (0, 3)
    assert f(b, [], backend=backend).shape == (3, 0)
    assert f(np.empty((0,), np.float32), np.empty((0,), np.float32), backend=backend).dtype == np.float32
    assert f(make_boxes((2, 0), 1), make_boxes((2, 3), 2), backend=backend).shape == (2, 0, 3)
    assert f(make_boxes((0, 4), 1), make_boxes((0, 3), 2), backend=backend).shape == (0, 4, 3)
    assert f(make_boxes((2, 0), 1), make_boxes((2, 0), 2), aligned=True, backend=backend).shape == (2, 0)


def test_empty_1d_boxes_in_nms_and_utilities():
    torch = pytest.importorskip("torch", reason="torch not installed")
    empty = torch.empty((0,))
    # torchvision's own test passes torch.empty((0,)) to batched_nms
    assert fastiou.batched_nms(empty, empty, empty.long(), 0.5).shape == (0,)
    assert fastiou.nms(empty, empty, 0.5).shape == (0,)
    assert fastiou.box_convert(empty, "xyxy", "cxcywh").shape == (0, 4)
    assert fastiou.box_area(empty).shape == (0,)
    assert losses.generalized_box_iou_loss(empty, empty, reduction="mean") == 0.0
    with pytest.raises(ValueError, match=r"boxes must have shape \(N, 4\)"):
        fastiou.nms(np.empty((3,)), np.empty((0,)), 0.5)


# --- eps= ----------------------------------------------------------------------------------


@pytest.mark.parametrize("metric", ["diou", "ciou"])
@pytest.mark.parametrize("eps", [1e-7, 0.5, 30.0])
def test_eps_reproduces_torchvision(metric, eps, backend):
    torch, ops = torch_ops()
    b1 = make_boxes((2, 6), 14)
    b2 = make_boxes((2, 5), 15)
    b2[0, 0] = b1[0, 0]  # identical boxes: CIoU's S = 0, where eps decides alpha
    fn = getattr(ops, TV_METRICS[metric])
    want = fn(torch.from_numpy(b1), torch.from_numpy(b2), eps=eps).numpy()
    got = METRICS[metric](b1, b2, eps=eps, backend=backend)
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-12)
    got_aligned = METRICS[metric](b1[:, :5], b2, eps, aligned=True, backend=backend)  # positional
    np.testing.assert_allclose(got_aligned, np.diagonal(want[:, :5], axis1=1, axis2=2), rtol=0, atol=1e-12)
    if eps >= 0.5:  # a large eps must change the result (the argument is not ignored)
        assert np.abs(got - METRICS[metric](b1, b2, backend=backend)).max() > 1e-3


@pytest.mark.parametrize("metric", ["diou", "ciou"])
def test_eps_none_and_zero_are_the_guarded_division(metric, backend):
    b1 = make_boxes((40,), 16, degenerate=True)
    b2 = make_boxes((30,), 17, degenerate=True)
    b1[:3] = [4, 4, 4, 4]  # points: c = 0 against each other
    b2[:3] = [4, 4, 4, 4]
    guarded = METRICS[metric](b1, b2, backend=backend)
    np.testing.assert_array_equal(METRICS[metric](b1, b2, eps=0, backend=backend), guarded)
    np.testing.assert_array_equal(METRICS[metric](b1, b2, eps=None, backend=backend), guarded)
    assert np.isfinite(METRICS[metric](b1, b2, eps=1e-7, backend=backend)).all()
    with pytest.raises(ValueError, match="eps must be a finite number"):
        METRICS[metric](b1, b2, eps=-1.0)
    with pytest.raises(TypeError, match="eps must be a real number"):
        METRICS[metric](b1, b2, eps="1e-7")


def test_eps_with_coordinates_outside_the_fast_range(backend):
    b = make_boxes((2, 4), 29) * 1e20  # float32 areas overflow: computed in float64, rounded
    b32 = b.astype(np.float32)
    got = fastiou.complete_box_iou(b32, b32[:, ::-1], eps=1e-7, backend=backend)
    assert got.dtype == np.float32 and np.isfinite(got).all()
    want = fastiou.complete_box_iou(b32.astype(np.float64), b32[:, ::-1].astype(np.float64), eps=1e-7)
    np.testing.assert_array_equal(got, want.astype(np.float32))


def test_eps_float32_stays_float32(backend):
    b = make_boxes((3, 5), 18, np.float32)
    got = fastiou.complete_box_iou(b, b[:, ::-1], eps=1e-7, backend=backend)
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, fastiou.complete_box_iou(b.astype(np.float64), b[:, ::-1].astype(np.float64),
                                                             eps=1e-7), atol=3e-6)


# --- bbox_overlaps: mmcv's and mmdet's spellings ----------------------------------------


def mmdet_bbox_overlaps(b1, b2, mode, eps):
    """mmdet's formula (pairwise), in NumPy: denominators floored at eps."""
    area1 = (b1[:, 2] - b1[:, 0]) * (b1[:, 3] - b1[:, 1])
    area2 = (b2[:, 2] - b2[:, 0]) * (b2[:, 3] - b2[:, 1])
    lt = np.maximum(b1[:, None, :2], b2[None, :, :2])
    rb = np.minimum(b1[:, None, 2:], b2[None, :, 2:])
    wh = np.clip(rb - lt, 0, None)
    overlap = wh[..., 0] * wh[..., 1]
    union = area1[:, None] + area2[None] - overlap if mode != "iof" else area1[:, None] + 0 * overlap
    union = np.maximum(union, eps)
    ious = overlap / union
    if mode != "giou":
        return ious
    elt = np.minimum(b1[:, None, :2], b2[None, :, :2])
    erb = np.maximum(b1[:, None, 2:], b2[None, :, 2:])
    ewh = np.clip(erb - elt, 0, None)
    enclose = np.maximum(ewh[..., 0] * ewh[..., 1], eps)
    return ious - (enclose - union) / enclose


@pytest.mark.parametrize("mode", ["iou", "iof", "giou"])
def test_mmdet_spelling_and_eps(mode, backend):
    b1 = make_boxes((12,), 19, degenerate=True) * 1e-3  # areas near eps
    b2 = make_boxes((9,), 20, degenerate=True) * 1e-3
    eps = 1e-4
    got = fastiou.bbox_overlaps(b1, b2, mode, False, eps=eps, backend=backend)
    np.testing.assert_allclose(got, mmdet_bbox_overlaps(b1, b2, mode, eps), rtol=1e-12, atol=1e-15)
    aligned = fastiou.bbox_overlaps(b1[:9], b2, mode=mode, is_aligned=True, eps=eps, backend=backend)
    np.testing.assert_allclose(aligned, np.diag(mmdet_bbox_overlaps(b1[:9], b2, mode, eps)),
                               rtol=1e-12, atol=1e-15)
    # the floor changes tiny pairs only, and eps=None is fastiou's guarded division
    assert np.abs(got - fastiou.bbox_overlaps(b1, b2, mode, backend=backend)).max() > 1e-3
    big1, big2 = make_boxes((12,), 19) + [0, 0, 1, 1], make_boxes((9,), 20) + [0, 0, 1, 1]  # areas >= 1
    np.testing.assert_array_equal(fastiou.bbox_overlaps(big1, big2, mode, eps=1e-9, backend=backend),
                                  fastiou.bbox_overlaps(big1, big2, mode, backend=backend))


def test_mmcv_spelling_positional_aligned_and_offset(backend):
    b1 = make_boxes((8,), 21).round()
    b2 = make_boxes((8,), 22).round()
    got = fastiou.bbox_overlaps(b1, b2, "iou", True, 1, backend=backend)  # mmcv: mode, aligned, offset
    np.testing.assert_allclose(got, fastiou.box_iou(b1, b2, aligned=True, offset=1), rtol=0, atol=1e-15)
    np.testing.assert_array_equal(fastiou.bbox_overlaps(b1, b2, "iof", aligned=True, offset=1, backend=backend),
                                  fastiou.box_ioa(b1, b2, aligned=True, offset=1))
    np.testing.assert_array_equal(fastiou.bbox_overlaps(b1, b2, aligned=False), fastiou.box_iou(b1, b2))
    with pytest.raises(ValueError, match="give one of aligned"):
        fastiou.bbox_overlaps(b1, b2, is_aligned=True, aligned=False)
    with pytest.raises(TypeError, match="aligned must be True or False"):
        fastiou.bbox_overlaps(b1, b2, aligned="yes")
    batched = fastiou.bbox_overlaps(np.stack([b1, b2]), np.stack([b2, b1]), "giou", backend=backend)
    np.testing.assert_array_equal(batched[1], fastiou.generalized_box_iou(b2, b1))


# --- box utilities and losses over (..., 4) -----------------------------------------------


@pytest.mark.parametrize("shape", [(3, 5), (2, 3, 4), (4,), ()])
def test_box_utilities_batched_match_torchvision(shape):
    torch, ops = torch_ops()
    b = make_boxes(shape, 23)
    t = torch.from_numpy(b)
    for in_fmt in ("xyxy", "xywh", "cxcywh"):
        for out_fmt in ("xyxy", "xywh", "cxcywh"):
            got = fastiou.box_convert(b, in_fmt, out_fmt)
            assert got.shape == b.shape
            np.testing.assert_allclose(got, ops.box_convert(t, in_fmt, out_fmt).numpy(), rtol=0, atol=1e-12)
    np.testing.assert_allclose(fastiou.box_area(b), ops.box_area(t).numpy(), rtol=0, atol=1e-12)
    np.testing.assert_array_equal(fastiou.clip_boxes_to_image(b, (9, 11)),
                                  ops.clip_boxes_to_image(t, (9, 11)).numpy())


def test_box_utilities_batched_equal_flat_calls():
    b = make_boxes((2, 3, 5), 24, np.float32)
    flat = b.reshape(-1, 4)
    assert fastiou.box_convert(b, "xyxy", "cxcywh").dtype == np.float32
    np.testing.assert_array_equal(fastiou.box_convert(b, "xywh", "cxcywh").reshape(-1, 4),
                                  fastiou.box_convert(flat, "xywh", "cxcywh"))
    np.testing.assert_array_equal(fastiou.box_area(b, fmt="cxcywh", offset=1).reshape(-1),
                                  fastiou.box_area(flat, fmt="cxcywh", offset=1))
    np.testing.assert_array_equal(fastiou.clip_boxes_to_image(b, (4, 6)).reshape(-1, 4),
                                  fastiou.clip_boxes_to_image(flat, (4, 6)))
    with pytest.raises(ValueError, match=r"boxes must have shape \(\.\.\., 4\)"):
        fastiou.box_convert(np.zeros((3, 5)), "xyxy", "xywh")


@pytest.mark.parametrize("name", TV_LOSSES)
@pytest.mark.parametrize("shape", [(3, 5), (2, 2, 3), (4,)])
@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
def test_box_losses_batched_match_torchvision(name, shape, reduction):
    torch, ops = torch_ops()
    b1, b2 = make_boxes(shape, 25), make_boxes(shape, 26)
    want = getattr(ops, name)(torch.from_numpy(b1), torch.from_numpy(b2), reduction=reduction).numpy()
    got = getattr(losses, name)(b1, b2, reduction=reduction)
    assert np.shape(got) == want.shape
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)
    value, grad = getattr(losses, name)(b1, b2, reduction=reduction, return_grad=True)
    assert grad.shape == b1.shape
    flat_value, flat_grad = getattr(losses, name)(b1.reshape(-1, 4), b2.reshape(-1, 4), reduction=reduction,
                                                  return_grad=True)
    np.testing.assert_array_equal(np.reshape(value, -1), np.reshape(flat_value, -1))
    np.testing.assert_array_equal(grad.reshape(-1, 4), flat_grad)


def test_box_losses_shape_errors_and_eps_none():
    b = make_boxes((2, 3), 27)
    with pytest.raises(ValueError, match=r"boxes2 must have the shape of boxes1, \(2, 3, 4\)"):
        losses.distance_box_iou_loss(b, b[:, :2])
    with pytest.raises(ValueError, match=r"boxes1 must have shape \(\.\.\., 4\)"):
        losses.generalized_box_iou_loss(np.zeros((2, 3)), np.zeros((2, 3)))
    np.testing.assert_array_equal(losses.complete_box_iou_loss(b, b[::-1], eps=None),
                                  losses.complete_box_iou_loss(b, b[::-1], eps=0))
    np.testing.assert_allclose(1 - losses.complete_box_iou_loss(b, b[::-1], eps=None),
                               fastiou.complete_box_iou(b, b[::-1], aligned=True), rtol=0, atol=1e-12)


# --- torchvision's own test cases, batched ------------------------------------------------
# TestIouBase of torchvision's test/test_ops.py: golden values, and the cartesian test
# (every pair computed alone equals the matrix), run on stacked batches.

INT_BOXES = [[0, 0, 100, 100], [0, 0, 50, 50], [200, 200, 300, 300], [0, 0, 25, 25]]
INT_BOXES2 = [[0, 0, 100, 100], [0, 0, 50, 50], [200, 200, 300, 300]]
INT_EXPECTED = {
    "iou": [[1.0, 0.25, 0.0], [0.25, 1.0, 0.0], [0.0, 0.0, 1.0], [0.0625, 0.25, 0.0]],
    "giou": [[1.0, 0.25, -0.7778], [0.25, 1.0, -0.8611], [-0.7778, -0.8611, 1.0], [0.0625, 0.25, -0.8819]],
    "diou": [[1.0000, 0.1875, -0.4444], [0.1875, 1.0000, -0.5625], [-0.4444, -0.5625, 1.0000],
             [-0.0781, 0.1875, -0.6267]],
    "ciou": [[1.0000, 0.1875, -0.4444], [0.1875, 1.0000, -0.5625], [-0.4444, -0.5625, 1.0000],
             [-0.0781, 0.1875, -0.6267]],
}


@pytest.mark.parametrize("metric", TV_METRICS)
@pytest.mark.parametrize("dtype", [np.int16, np.int32, np.int64, np.float32])
def test_torchvision_golden_values_batched(metric, dtype, backend):
    b1 = np.stack([INT_BOXES, INT_BOXES]).astype(dtype)
    b2 = np.stack([INT_BOXES2, INT_BOXES2]).astype(dtype)
    got = METRICS[metric](b1, b2, backend=backend)
    assert got.shape == (2, 4, 3)
    np.testing.assert_allclose(got, np.stack([INT_EXPECTED[metric]] * 2), rtol=0, atol=1e-4)


@pytest.mark.parametrize("metric", TV_METRICS)
def test_torchvision_cartesian_batched(metric, backend):
    rng = np.random.default_rng(28)
    xy1 = rng.random((3, 5, 2))
    boxes1 = np.concatenate([xy1, xy1 + rng.random((3, 5, 2))], axis=-1)
    xy2 = rng.random((3, 7, 2))
    boxes2 = np.concatenate([xy2, xy2 + rng.random((3, 7, 2))], axis=-1)
    matrix = METRICS[metric](boxes1, boxes2, backend=backend)
    for b in range(3):
        for i in range(5):
            for j in range(7):
                one = METRICS[metric](boxes1[b, i:i + 1], boxes2[b, j:j + 1], backend=backend)
                np.testing.assert_allclose(matrix[b, i, j], one[0, 0], rtol=0, atol=1e-15)


def test_torchvision_loss_cases_batched():
    # get_boxes / assert_iou_loss of torchvision's tests: box1s = [box2, box2], box2s = [box3, box4]
    box2, box3, box4 = [0, 0, 1, 1], [0, 1, 1, 2], [1, 1, 2, 2]
    box1s = np.array([[box2, box2]] * 3, np.float32)
    box2s = np.array([[box3, box4]] * 3, np.float32)
    assert losses.generalized_box_iou_loss(box1s, box2s, reduction="sum") == pytest.approx(3 * 2.5, abs=1e-6)
    assert losses.generalized_box_iou_loss(box1s, box2s, reduction="mean") == pytest.approx(1.25, abs=1e-6)
    for name in ("distance_box_iou_loss", "complete_box_iou_loss"):
        assert getattr(losses, name)(box1s, box2s, reduction="mean") == pytest.approx(1.2250, abs=1e-4)
        assert getattr(losses, name)(box1s, box2s, reduction="sum") == pytest.approx(3 * 2.4500, abs=1e-4)
        assert getattr(losses, name)(box1s, box2s).shape == (3, 2)
