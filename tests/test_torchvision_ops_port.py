"""torchvision 0.29's box-op test cases (test/test_ops.py of pytorch/vision), pointed at fastiou.

Ported, with torchvision's inputs, golden values and tolerances:

- TestBoxConvert (xyxy / xywh / cxcywh both ways, same-format identity, invalid formats) and
  the rotated formats of 0.29 (cxcywhr / xywhr / xyxyxyxy, every direction);
- TestBoxArea (integer, float32/64 and float16 boxes);
- TestIouBase with TestBoxIou, TestGeneralizedBoxIou, TestDistanceBoxIoU, TestCompleteBoxIou:
  the golden matrices, the cartesian test (every pair alone equals the matrix), box_iou's
  ``fmt=`` parametrisation and the batched test of 0.29 (a stacked batch equals one call per
  batch item);
- TestRotatedBoxIou of 0.29 (box_iou with fmt='cxcywhr' / 'xywhr' / 'xyxyxyxy');
- TestGeneralizedBoxIouLoss, TestCompleteBoxIouLoss, TestDistanceBoxIouLoss (get_boxes /
  assert_iou_loss / assert_empty_loss, float32 and half);
- TestMasksToBoxes (float16/32/64 masks, float32 boxes out);
- TestNMS: test_nms_ref (against torchvision's greedy reference, with its borderline box),
  test_nms_input_errors, test_nms_float16 (run on the CPU here) and
  test_batched_nms_implementations (per-category NMS, and the empty (0,) input).

Where torchvision's test compares with a reference computed by torch (the greedy NMS
reference, seeded ``torch.rand`` inputs, rotated conversions and IoU of boxes without a
closed form), that reference is computed with torch/torchvision here, and those tests skip
when torchvision is not installed; everything else runs on NumPy alone.

Left out, because fastiou does not claim them: torchscript (the ``*_jit`` tests), autograd
(the ``.backward()`` half of assert_empty_loss), CUDA / MPS tensors and autocast
(test_nms_gpu, test_autocast, the ``device`` parametrisation), quantized tensors (test_qnms)
and torchvision's private ``_batched_nms_vanilla`` / ``_batched_nms_coordinate_trick`` (their
common definition, NMS per category, is tested instead).

Differences fastiou documents (README, *Numeric policy*) are asserted as fastiou's value with
a comment: a pair of zero-area boxes has IoU 0 where torchvision divides 0 by 0.

Source: the complete test/test_ops.py of torchvision 0.29 was not available here; the
axis-aligned, loss, mask and NMS cases are those of test/test_ops.py as stored (pre-0.29
revision, unchanged cases), and the 0.29 additions (``fmt=``, batched boxes, rotated
formats, TestRotatedBoxIou) are taken from pytorch/vision pull requests #9058, #9019 and
#9379, with torchvision 0.29.1 itself as the reference where their golden values were not
available. masks_to_boxes' golden boxes come from torchvision's assets/masks.tiff, which is
not available here either: the masks are rebuilt as shapes spanning exactly those boxes.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import fastiou
from fastiou import losses


def tv():
    torch = pytest.importorskip("torch", reason="the reference is computed with torch")
    ops = pytest.importorskip("torchvision.ops", reason="the reference is computed with torchvision")
    return torch, ops


# --- TestBoxConvert -------------------------------------------------------------------------

CONVERT_XYXY = [[0, 0, 100, 100], [0, 0, 0, 0], [10, 15, 30, 35], [23, 35, 93, 95]]
CONVERT_XYWH = [[0, 0, 100, 100], [0, 0, 0, 0], [10, 15, 20, 20], [23, 35, 70, 60]]
CONVERT_CXCYWH = [[50, 50, 100, 100], [0, 0, 0, 0], [20, 25, 20, 20], [58, 65, 70, 60]]


def test_bbox_same():
    boxes = np.array(CONVERT_XYXY, np.float32)
    for fmt in ("xyxy", "xywh", "cxcywh"):
        out = fastiou.box_convert(boxes, in_fmt=fmt, out_fmt=fmt)
        assert out.shape == (4, 4)
        np.testing.assert_array_equal(out, CONVERT_XYXY)


@pytest.mark.parametrize("fmt_a, boxes_a, fmt_b, boxes_b", [
    ("xyxy", CONVERT_XYXY, "xywh", CONVERT_XYWH),      # test_bbox_xyxy_xywh
    ("xyxy", CONVERT_XYXY, "cxcywh", CONVERT_CXCYWH),  # test_bbox_xyxy_cxcywh
    ("xywh", CONVERT_XYWH, "cxcywh", CONVERT_CXCYWH),  # test_bbox_xywh_cxcywh
])
def test_bbox_convert_and_back(fmt_a, boxes_a, fmt_b, boxes_b):
    boxes = np.array(boxes_a, np.float32)
    there = fastiou.box_convert(boxes, in_fmt=fmt_a, out_fmt=fmt_b)
    assert there.shape == (4, 4)
    np.testing.assert_array_equal(there, boxes_b)  # torchvision: assert_equal, exact
    np.testing.assert_array_equal(fastiou.box_convert(there, in_fmt=fmt_b, out_fmt=fmt_a), boxes)


@pytest.mark.parametrize("inv_infmt", ["xwyh", "cxwyh"])
@pytest.mark.parametrize("inv_outfmt", ["xwcx", "xhwcy"])
def test_bbox_invalid(inv_infmt, inv_outfmt):
    boxes = np.array(CONVERT_XYWH, np.float32)
    with pytest.raises(ValueError):
        fastiou.box_convert(boxes, inv_infmt, inv_outfmt)


def test_bbox_convert_batched():
    # 0.29: box_convert takes (..., K); a batch converts as its items do
    batch = np.stack([CONVERT_XYXY, CONVERT_XYXY[::-1]]).astype(np.float32)
    for out_fmt, want in (("xywh", CONVERT_XYWH), ("cxcywh", CONVERT_CXCYWH)):
        out = fastiou.box_convert(batch, "xyxy", out_fmt)
        assert out.shape == (2, 4, 4)
        np.testing.assert_array_equal(out, np.stack([want, want[::-1]]))


ROTATED_FORMATS = ("cxcywhr", "xywhr", "xyxyxyxy")
# cxcywhr boxes: angles of every quadrant, a square, a zero-area box and a box at the origin
ROTATED_CXCYWHR = [[50, 50, 100, 100, 0], [10, 20, 6, 4, 30], [20, 25, 20, 20, 90],
                   [58, 65, 70, 60, -45], [0, 0, 10, 10, -135], [3, 4, 0, 0, 60],
                   [-7, 12, 8, 2, 180], [30, 30, 40, 10, 135]]


def test_bbox_rotated_same():
    boxes = np.array(ROTATED_CXCYWHR, np.float64)
    for fmt in ("cxcywhr", "xywhr"):
        np.testing.assert_array_equal(fastiou.box_convert(boxes, fmt, fmt), boxes)
    corners = fastiou.box_convert(boxes, "cxcywhr", "xyxyxyxy")
    np.testing.assert_array_equal(fastiou.box_convert(corners, "xyxyxyxy", "xyxyxyxy"), corners)


def test_bbox_rotated_golden():
    # an unrotated box: xywhr is the top-left corner; xyxyxyxy runs top-left, top-right,
    # bottom-right, bottom-left
    box = np.array([[58, 65, 70, 60, 0]], np.float64)
    np.testing.assert_allclose(fastiou.box_convert(box, "cxcywhr", "xywhr"), [[23, 35, 70, 60, 0]],
                               atol=1e-12)
    np.testing.assert_allclose(fastiou.box_convert(box, "cxcywhr", "xyxyxyxy"),
                               [[23, 35, 93, 35, 93, 95, 23, 95]], atol=1e-12)
    # 90 degrees counter-clockwise (y down): the top-left corner moves to the bottom-left
    box = np.array([[20, 25, 20, 10, 90]], np.float64)
    np.testing.assert_allclose(fastiou.box_convert(box, "cxcywhr", "xyxyxyxy"),
                               [[15, 35, 15, 15, 25, 15, 25, 35]], atol=1e-12)


@pytest.mark.parametrize("in_fmt", ROTATED_FORMATS)
@pytest.mark.parametrize("out_fmt", ROTATED_FORMATS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_bbox_rotated_matches_torchvision(in_fmt, out_fmt, dtype):
    torch, ops = tv()
    src = ops.box_convert(torch.tensor(ROTATED_CXCYWHR, dtype=torch.float64), "cxcywhr", in_fmt)
    src = src.to(torch.float32 if dtype == np.float32 else torch.float64)
    want = ops.box_convert(src, in_fmt, out_fmt).numpy()
    got = fastiou.box_convert(src.numpy(), in_fmt, out_fmt)
    assert got.shape == want.shape and got.dtype == dtype
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-9 if dtype == np.float64 else 2e-5)


# --- TestBoxArea ----------------------------------------------------------------------------

INT_BOXES = [[0, 0, 100, 100], [0, 0, 50, 50], [200, 200, 300, 300], [0, 0, 25, 25]]
INT_BOXES2 = [[0, 0, 100, 100], [0, 0, 50, 50], [200, 200, 300, 300]]
FLOAT_BOXES = [
    [285.3538, 185.5758, 1193.5110, 851.4551],
    [285.1472, 188.7374, 1192.4984, 851.0669],
    [279.2440, 197.9812, 1189.4746, 849.2019],
]


def area_check(box, expected, atol=1e-4, fmt="xyxy"):
    out = fastiou.box_area(box, fmt=fmt)
    np.testing.assert_allclose(out, expected, rtol=0, atol=atol)  # check_dtype=False


@pytest.mark.parametrize("dtype", [np.int8, np.int16, np.int32, np.int64])
def test_area_int_boxes(dtype):
    area_check(np.array([[0, 0, 100, 100], [0, 0, 0, 0]], dtype), np.array([10000, 0], np.int32))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_area_float_boxes(dtype):
    area_check(np.array(FLOAT_BOXES, dtype), np.array([604723.0806, 600965.4666, 592761.0085], dtype))


def test_area_float16_box():
    boxes = np.array([[2.825, 1.8625, 3.90, 4.85], [2.825, 4.875, 19.20, 5.10], [2.925, 1.80, 8.90, 4.90]],
                     np.float16)
    area_check(boxes, np.array([3.2170, 3.7108, 18.5071], np.float16), atol=0.01)


@pytest.mark.parametrize("fmt", ["xywh", "cxcywh"])
def test_area_fmt_and_batched(fmt):
    # 0.29: box_area(boxes, fmt=...) on (..., 4)
    boxes = fastiou.box_convert(np.array(FLOAT_BOXES, np.float64), "xyxy", fmt)
    expected = [604723.0806, 600965.4666, 592761.0085]
    area_check(boxes, expected, fmt=fmt)
    area_check(np.stack([boxes, boxes[::-1]]), [expected, expected[::-1]], fmt=fmt)


# --- TestIouBase: TestBoxIou, TestGeneralizedBoxIou, TestDistanceBoxIoU, TestCompleteBoxIou ---

METRICS = {
    "box_iou": fastiou.box_iou,
    "generalized_box_iou": fastiou.generalized_box_iou,
    "distance_box_iou": fastiou.distance_box_iou,
    "complete_box_iou": fastiou.complete_box_iou,
}
INT_EXPECTED = {
    "box_iou": [[1.0, 0.25, 0.0], [0.25, 1.0, 0.0], [0.0, 0.0, 1.0], [0.0625, 0.25, 0.0]],
    "generalized_box_iou": [[1.0, 0.25, -0.7778], [0.25, 1.0, -0.8611], [-0.7778, -0.8611, 1.0],
                            [0.0625, 0.25, -0.8819]],
    "distance_box_iou": [[1.0000, 0.1875, -0.4444], [0.1875, 1.0000, -0.5625],
                         [-0.4444, -0.5625, 1.0000], [-0.0781, 0.1875, -0.6267]],
    "complete_box_iou": [[1.0000, 0.1875, -0.4444], [0.1875, 1.0000, -0.5625],
                         [-0.4444, -0.5625, 1.0000], [-0.0781, 0.1875, -0.6267]],
}
# the same for every metric: the three float boxes nearly coincide
FLOAT_EXPECTED = [[1.0, 0.9933, 0.9673], [0.9933, 1.0, 0.9737], [0.9673, 0.9737, 1.0]]
IOU_CASES = [
    pytest.param("int", [np.int16, np.int32, np.int64], 1e-4, id="int"),
    pytest.param("float", [np.float16], 0.002, id="float16"),
    pytest.param("float", [np.float32, np.float64], 1e-3, id="float"),
]


def run_iou_test(metric, kind, dtypes, atol, backend, fmt="xyxy"):
    box1, box2 = (INT_BOXES, INT_BOXES2) if kind == "int" else (FLOAT_BOXES, FLOAT_BOXES)
    expected = INT_EXPECTED[metric] if kind == "int" else FLOAT_EXPECTED
    kwargs = {"fmt": fmt} if fmt != "xyxy" else {}
    for dtype in dtypes:
        a, b = np.array(box1, dtype), np.array(box2, dtype)
        if fmt != "xyxy":  # 0.29's _run_test converts the xyxy boxes first
            a, b = fastiou.box_convert(a, "xyxy", fmt), fastiou.box_convert(b, "xyxy", fmt)
        out = METRICS[metric](a, b, backend=backend, **kwargs)
        assert out.shape == (len(box1), len(box2))
        np.testing.assert_allclose(out, expected, rtol=0, atol=atol)


@pytest.mark.parametrize("kind, dtypes, atol", IOU_CASES)
@pytest.mark.parametrize("metric", METRICS)
def test_iou(metric, kind, dtypes, atol, backend):
    run_iou_test(metric, kind, dtypes, atol, backend)


@pytest.mark.parametrize("kind, dtypes, atol", IOU_CASES)
@pytest.mark.parametrize("fmt", ["xywh", "cxcywh"])
def test_box_iou_fmt(fmt, kind, dtypes, atol, backend):
    run_iou_test("box_iou", kind, dtypes, atol, backend, fmt=fmt)


def gen_box(rng, *shape):
    """torchvision's gen_box: float32 xyxy boxes, corners in [0, 1), sides in [0, 1)."""
    xy1 = rng.random(shape + (2,), dtype=np.float32)
    return np.concatenate([xy1, xy1 + rng.random(shape + (2,), dtype=np.float32)], axis=-1)


# torchvision 0.29 takes fmt= in box_iou only
METRIC_FMTS = [(m, "xyxy") for m in METRICS] + [("box_iou", "xywh"), ("box_iou", "cxcywh")]


@pytest.mark.parametrize("metric, fmt", METRIC_FMTS)
def test_iou_cartesian(metric, fmt, backend):
    rng = np.random.default_rng(0)
    boxes1 = fastiou.box_convert(gen_box(rng, 5), "xyxy", fmt)
    boxes2 = fastiou.box_convert(gen_box(rng, 7), "xyxy", fmt)
    kwargs = {"fmt": fmt} if fmt != "xyxy" else {}
    fn = METRICS[metric]
    a = np.zeros((5, 7), np.float32)
    for i in range(5):
        for j in range(7):
            a[i, j] = fn(boxes1[i:i + 1], boxes2[j:j + 1], backend=backend, **kwargs)[0, 0]
    b = fn(boxes1, boxes2, backend=backend, **kwargs)
    np.testing.assert_allclose(b, a, rtol=1.3e-6, atol=1e-5)  # assert_close's float32 defaults


@pytest.mark.parametrize("metric, fmt", METRIC_FMTS)
def test_iou_batch(metric, fmt, backend):
    # 0.29 (pull request #9058): a stack of 3 batches equals the stacked per-item results
    rng = np.random.default_rng(1)
    boxes1 = fastiou.box_convert(gen_box(rng, 3, 5), "xyxy", fmt)
    boxes2 = fastiou.box_convert(gen_box(rng, 3, 5), "xyxy", fmt)
    kwargs = {"fmt": fmt} if fmt != "xyxy" else {}
    fn = METRICS[metric]
    native = fn(boxes1, boxes2, backend=backend, **kwargs)
    iterative = np.stack([fn(b1, b2, backend=backend, **kwargs) for b1, b2 in zip(boxes1, boxes2)])
    assert native.shape == (3, 5, 5)
    np.testing.assert_allclose(native, iterative, rtol=1.3e-6, atol=1e-5)


# --- TestRotatedBoxIou (0.29) ---------------------------------------------------------------

# squares at the origin rotated by multiples of 90 degrees apart, a square far away, and
# 20 x 10 rectangles at 45, 135 and -135 degrees (pull request #9379's boxes)
ROTATED_IOU_BOXES = [
    [0, 0, 10, 10, 45], [0, 0, 10, 10, 135], [0, 0, 10, 10, -45], [0, 0, 10, 10, -135],
    [100, 100, 10, 10, 30], [50, 50, 20, 10, 45], [50, 50, 20, 10, 135], [50, 50, 20, 10, -135],
]
_S = [1.0] * 4 + [0.0] * 4
ROTATED_IOU_EXPECTED = [
    _S, _S, _S, _S,
    [0.0] * 4 + [1.0, 0.0, 0.0, 0.0],
    # rectangles 90 degrees apart cross in a 10 x 10 square: 100 / (200 + 200 - 100)
    [0.0] * 5 + [1.0, 1 / 3, 1.0],
    [0.0] * 5 + [1 / 3, 1.0, 1 / 3],
    [0.0] * 5 + [1.0, 1 / 3, 1.0],
]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("fmt", ROTATED_FORMATS)
def test_rotated_iou(dtype, fmt):
    boxes = np.array(ROTATED_IOU_BOXES, np.float64)
    if fmt != "cxcywhr":
        boxes = fastiou.box_convert(boxes, "cxcywhr", fmt)
    boxes = boxes.astype(dtype)
    out = fastiou.box_iou(boxes, boxes, fmt=fmt)
    assert out.shape == (8, 8) and out.dtype == dtype
    np.testing.assert_allclose(out, ROTATED_IOU_EXPECTED, rtol=0, atol=1e-5)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_rotated_iou_rotations(dtype):
    def iou(a, b):
        return fastiou.box_iou(np.array([a], dtype), np.array([b], dtype), fmt="cxcywhr")[0, 0]

    square = [0, 0, 10, 10]
    assert iou(square + [0], square + [90]) == pytest.approx(1.0, abs=1e-5)
    assert iou(square + [0], square + [180]) == pytest.approx(1.0, abs=1e-5)
    # a square and the same square at 45 degrees meet in a regular octagon: IoU = 1 / sqrt(2)
    assert iou(square + [0], square + [45]) == pytest.approx(1 / math.sqrt(2), abs=1e-5)
    assert iou(square + [0], square + [-45]) == pytest.approx(1 / math.sqrt(2), abs=1e-5)
    # a 20 x 10 rectangle turned 90 degrees: 100 / 300
    assert iou([0, 0, 20, 10, 0], [0, 0, 20, 10, 90]) == pytest.approx(1 / 3, abs=1e-5)
    assert iou([0, 0, 20, 10, 30], [0, 0, 20, 10, -150]) == pytest.approx(1.0, abs=1e-5)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_rotated_iou_edge_cases(dtype):
    # containment: a 4 x 4 square inside a 10 x 10 one, both at 30 degrees: 16 / 100
    out = fastiou.box_iou(np.array([[5, 5, 10, 10, 30]], dtype), np.array([[5, 5, 4, 4, 30]], dtype),
                          fmt="cxcywhr")
    np.testing.assert_allclose(out, [[0.16]], rtol=0, atol=1e-5)
    # a zero-area box overlaps nothing
    out = fastiou.box_iou(np.array([[5, 5, 0, 10, 30]], dtype), np.array([[5, 5, 10, 10, 30]], dtype),
                          fmt="cxcywhr")
    np.testing.assert_allclose(out, [[0.0]], rtol=0, atol=1e-6)
    # two identical zero-area boxes: fastiou's documented 0 (guarded 0 / 0)
    point = np.array([[5, 5, 0, 0, 30]], dtype)
    np.testing.assert_array_equal(fastiou.box_iou(point, point, fmt="cxcywhr"), [[0.0]])


def test_rotated_iou_api_contract():
    rng = np.random.default_rng(2)
    b1 = np.c_[rng.uniform(0, 50, (6, 2)), rng.uniform(1, 20, (6, 2)), rng.uniform(-180, 180, 6)]
    b2 = np.c_[rng.uniform(0, 50, (4, 2)), rng.uniform(1, 20, (4, 2)), rng.uniform(-180, 180, 4)]
    ref = fastiou.box_iou(b1, b2, fmt="cxcywhr")
    assert ref.shape == (6, 4)
    for fmt in ("xywhr", "xyxyxyxy"):  # every format gives the same IoU
        got = fastiou.box_iou(fastiou.box_convert(b1, "cxcywhr", fmt),
                              fastiou.box_convert(b2, "cxcywhr", fmt), fmt=fmt)
        np.testing.assert_allclose(got, ref, rtol=0, atol=1e-9)
    with pytest.raises(ValueError):
        fastiou.box_iou(b1, b2, fmt="cxcywha")


@pytest.mark.parametrize("fmt", ROTATED_FORMATS)
def test_rotated_iou_matches_torchvision(fmt):
    torch, ops = tv()
    boxes = ops.box_convert(torch.tensor(ROTATED_IOU_BOXES + ROTATED_CXCYWHR[:5], dtype=torch.float32),
                            "cxcywhr", fmt)
    want = ops.box_iou(boxes, boxes, fmt=fmt).numpy()
    got = fastiou.box_iou(boxes.numpy(), boxes.numpy(), fmt=fmt)
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-5)


# --- TestGeneralizedBoxIouLoss, TestCompleteBoxIouLoss, TestDistanceBoxIouLoss -------------


def get_boxes(dtype):
    box1 = np.array([-1, -1, 1, 1], dtype)
    box2 = np.array([0, 0, 1, 1], dtype)
    box3 = np.array([0, 1, 1, 2], dtype)
    box4 = np.array([1, 1, 2, 2], dtype)
    return box1, box2, box3, box4, np.stack([box2, box2]), np.stack([box3, box4])


def assert_iou_loss(iou_fn, box1, box2, expected_loss, reduction="none"):
    computed = np.asarray(iou_fn(box1, box2, reduction=reduction))
    # torch.testing.assert_close's default tolerances for the computed dtype
    rtol, atol = (1e-3, 1e-5) if computed.dtype == np.float16 else (1.3e-6, 1e-5)
    np.testing.assert_allclose(computed, expected_loss, rtol=rtol, atol=atol)


def assert_empty_loss(iou_fn, dtype):
    box1 = np.zeros((0, 4), dtype)
    box2 = np.zeros((0, 4), dtype)
    assert float(iou_fn(box1, box2, reduction="mean")) == 0.0
    assert np.asarray(iou_fn(box1, box2, reduction="none")).size == 0


LOSS_CASES = {
    # box1-box1, box1-box2, box1-box3 (or box2-box3), box1-box4 (or box2-box4), mean, sum
    "generalized_box_iou_loss": [("box1", "box1", 0.0), ("box1", "box2", 0.75), ("box2", "box3", 1.0),
                                 ("box2", "box4", 1.5), ("box1s", "box2s", 1.25, "mean"),
                                 ("box1s", "box2s", 2.5, "sum")],
    "complete_box_iou_loss": [("box1", "box1", 0.0), ("box1", "box2", 0.8125), ("box1", "box3", 1.1923),
                              ("box1", "box4", 1.2500), ("box1s", "box2s", 1.2250, "mean"),
                              ("box1s", "box2s", 2.4500, "sum")],
    "distance_box_iou_loss": [("box1", "box1", 0.0), ("box1", "box2", 0.8125), ("box1", "box3", 1.1923),
                              ("box1", "box4", 1.2500), ("box1s", "box2s", 1.2250, "mean"),
                              ("box1s", "box2s", 2.4500, "sum")],
}


@pytest.mark.parametrize("dtype", [np.float32, np.float16])
@pytest.mark.parametrize("name", LOSS_CASES)
def test_iou_loss(name, dtype):
    fn = getattr(losses, name)
    box1, box2, box3, box4, box1s, box2s = get_boxes(dtype)
    named = {"box1": box1, "box2": box2, "box3": box3, "box4": box4, "box1s": box1s, "box2s": box2s}
    for a, b, expected, *reduction in LOSS_CASES[name]:
        assert_iou_loss(fn, named[a], named[b], expected, *reduction)
    # a reduction other than "none", "mean" and "sum" raises
    with pytest.raises(ValueError, match="Invalid"):
        fn(box1s, box2s, reduction="xyz")


@pytest.mark.parametrize("dtype", [np.float32, np.float16])
@pytest.mark.parametrize("name", LOSS_CASES)
def test_empty_inputs(name, dtype):
    assert_empty_loss(getattr(losses, name), dtype)


# --- TestMasksToBoxes -----------------------------------------------------------------------

MASK_BOXES = [[127, 2, 165, 40], [2, 50, 44, 92], [56, 63, 98, 100], [139, 68, 175, 104],
              [160, 112, 198, 145], [49, 138, 99, 182], [108, 148, 152, 213]]


def make_masks(dtype, height=220, width=200):
    """One frame per golden box: an ellipse spanning exactly that box (inclusive pixels)."""
    masks = np.zeros((len(MASK_BOXES), height, width), dtype)
    yy, xx = np.mgrid[:height, :width]
    for k, (x1, y1, x2, y2) in enumerate(MASK_BOXES):
        cx, cy, rx, ry = (x1 + x2) / 2, (y1 + y2) / 2, (x2 - x1) / 2, (y2 - y1) / 2
        masks[k][((xx - cx) / rx) ** 2 + ((yy - cy) / ry) ** 2 <= 1] = 1
        mx, my = int(cx), int(cy)  # the ellipse's tips, on whole pixels
        masks[k, my, [x1, x2]] = masks[k, [y1, y2], mx] = 1
    return masks


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
def test_masks_box(dtype):
    out = fastiou.masks_to_boxes(make_masks(dtype))
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, np.array(MASK_BOXES, np.float32), rtol=0, atol=1e-4)


def test_masks_box_matches_torchvision():
    torch, ops = tv()
    masks = make_masks(np.float32)
    masks[2, 150:160, 10:12] = 1  # a second blob in one frame
    want = ops.masks_to_boxes(torch.from_numpy(masks)).numpy()
    np.testing.assert_array_equal(fastiou.masks_to_boxes(masks), want)


# --- TestNMS --------------------------------------------------------------------------------


def reference_nms(ops, boxes, scores, iou_threshold):
    """torchvision's _reference_nms: greedy, in descending score order, with ops.box_iou."""
    picked = []
    _, indexes = scores.sort(descending=True)
    while len(indexes) > 0:
        current = indexes[0]
        picked.append(current.item())
        if len(indexes) == 1:
            break
        current_box = boxes[current, :]
        indexes = indexes[1:]
        iou = ops.box_iou(boxes[indexes, :], current_box.unsqueeze(0)).squeeze(1)
        indexes = indexes[iou <= iou_threshold]
    return np.array(picked, np.int64)


def create_tensors_with_iou(torch, n, iou_thresh):
    # the last box has IoU just above iou_thresh with the first, so it must be suppressed
    boxes = torch.rand(n, 4) * 100
    boxes[:, 2:] += boxes[:, :2]
    boxes[-1, :] = boxes[0, :]
    x0, y0, x1, y1 = boxes[-1].tolist()
    iou_thresh += 1e-5
    boxes[-1, 2] += (x1 - x0) * (1 - iou_thresh) / iou_thresh
    scores = torch.rand(n)
    return boxes, scores


@pytest.mark.parametrize("iou", (0.2, 0.5, 0.8))
@pytest.mark.parametrize("seed", range(10))
def test_nms_ref(iou, seed):
    torch, ops = tv()
    torch.random.manual_seed(seed)
    boxes, scores = create_tensors_with_iou(torch, 1000, iou)
    keep_ref = reference_nms(ops, boxes, scores, iou)
    keep = fastiou.nms(boxes.numpy(), scores.numpy(), iou)
    np.testing.assert_array_equal(keep, keep_ref, err_msg=f"NMS differs from the reference for IoU={iou}")


def test_nms_input_errors():
    rng = np.random.default_rng(3)
    # torchvision raises RuntimeError from its C++ kernel; fastiou a ValueError naming the argument
    for boxes_shape, scores_shape in (((4,), (3,)), ((3, 5), (3,)), ((3, 4), (3, 2)), ((3, 4), (4,))):
        with pytest.raises(ValueError):
            fastiou.nms(rng.random(boxes_shape), rng.random(scores_shape), 0.5)


def test_nms_float16():
    # CUDA / MPS only in torchvision; fastiou takes float16 on the CPU (computed in float32)
    boxes = np.array(FLOAT_BOXES, np.float32)
    scores = np.array([0.6370, 0.7569, 0.3966], np.float32)
    keep32 = fastiou.nms(boxes, scores, 0.2)
    keep16 = fastiou.nms(boxes.astype(np.float16), scores.astype(np.float16), 0.2)
    np.testing.assert_array_equal(keep32, keep16)


@pytest.mark.parametrize("seed", range(10))
def test_batched_nms_implementations(seed):
    torch, ops = tv()
    torch.random.manual_seed(seed)
    num_boxes, iou_threshold = 1000, 0.9
    boxes = torch.cat((torch.rand(num_boxes, 2), torch.rand(num_boxes, 2) + 10), dim=1)
    assert max(boxes[:, 0]) < min(boxes[:, 2]) and max(boxes[:, 1]) < min(boxes[:, 3])
    scores = torch.rand(num_boxes)
    idxs = torch.randint(0, 4, size=(num_boxes,))
    b, s, c = boxes.numpy(), scores.numpy(), idxs.numpy()
    keep = fastiou.batched_nms(b, s, c, iou_threshold)
    # torchvision's "vanilla" definition: NMS per category, the union sorted by score
    keep_mask = np.zeros(num_boxes, bool)
    for class_id in np.unique(c):
        members = np.flatnonzero(c == class_id)
        keep_mask[members[fastiou.nms(b[members], s[members], iou_threshold)]] = True
    vanilla = np.flatnonzero(keep_mask)
    vanilla = vanilla[np.argsort(-s[vanilla], kind="stable")]
    np.testing.assert_array_equal(keep, vanilla)
    np.testing.assert_array_equal(keep, ops.batched_nms(boxes, scores, idxs, iou_threshold).numpy())


def test_batched_nms_empty():
    # test_batched_nms_implementations' last check: an empty (0,) input, with None for the
    # scores, categories and threshold, gives an empty int64 result
    empty = np.empty((0,), np.int64)
    out = fastiou.batched_nms(empty, None, None, None)
    assert out.shape == (0,) and out.dtype == np.int64
