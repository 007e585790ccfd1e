"""Pairwise and aligned box metrics: every metric x backend x dtype x layout vs the reference."""

from __future__ import annotations

import sys

import numpy as np
import pytest

import fastiou
from fastiou import reference, synthetic

METRICS = {
    "iou": fastiou.box_iou,
    "ioa": fastiou.box_ioa,
    "giou": fastiou.generalized_box_iou,
    "diou": fastiou.distance_box_iou,
    "ciou": fastiou.complete_box_iou,
}
TOL = {np.float64: 1e-12, np.float32: 2e-5}


def boxes_for(kind, n, seed, dtype=np.float64):
    make = {"clustered": synthetic.clustered_boxes, "scattered": synthetic.scattered_boxes,
            "degenerate": synthetic.degenerate_boxes}[kind]
    return make(n, seed=seed, dtype=dtype)[0]


@pytest.mark.parametrize("metric", METRICS)
@pytest.mark.parametrize("kind", ["clustered", "scattered", "degenerate"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_matches_reference(metric, kind, dtype, backend, force_parallel):
    b1 = boxes_for(kind, 37, 1, dtype)
    b2 = boxes_for(kind, 23, 2, dtype)
    got = METRICS[metric](b1, b2, backend=backend)
    assert got.dtype == dtype and got.shape == (37, 23)
    want = reference.pairwise(b1, b2, metric)
    np.testing.assert_allclose(got, want, rtol=0, atol=TOL[dtype] * 10)
    got_aligned = METRICS[metric](b1[:23], b2, aligned=True, backend=backend)
    np.testing.assert_allclose(got_aligned, np.diag(want[:23]), rtol=0, atol=TOL[dtype] * 10)


@pytest.mark.parametrize("metric", METRICS)
@pytest.mark.parametrize("in_dtype,out_dtype", [
    (np.float16, np.float32), (np.int16, np.float64), (np.int32, np.float64),
    (np.int64, np.float64), (np.uint8, np.float64), (np.bool_, np.float64),
])
def test_dtype_policy(metric, in_dtype, out_dtype, backend):
    b = boxes_for("degenerate", 30, 3, np.float64).astype(in_dtype)
    got = METRICS[metric](b, b, backend=backend)
    assert got.dtype == out_dtype
    want = reference.pairwise(b.astype(np.float64), b.astype(np.float64), metric)
    np.testing.assert_allclose(got, want, atol=1e-5 if out_dtype == np.float32 else 1e-12)


@pytest.mark.parametrize("metric", METRICS)
def test_dtype_override_and_mixed_inputs(metric):
    b32 = boxes_for("clustered", 10, 1, np.float32)
    b64 = boxes_for("clustered", 12, 2, np.float64)
    assert METRICS[metric](b32, b64).dtype == np.float64
    assert METRICS[metric](b32, b32, dtype=np.float64).dtype == np.float64
    assert METRICS[metric](b64, b64, dtype="float32").dtype == np.float32


def test_int16_does_not_overflow():
    b = np.array([[0, 0, 30000, 30000], [-30000, -30000, 30000, 30000]], dtype=np.int16)
    got = fastiou.box_iou(b, b)
    np.testing.assert_allclose(got, [[1.0, 0.25], [0.25, 1.0]])
    giou = fastiou.generalized_box_iou(b, b)
    assert np.isfinite(giou).all()


# Golden values from torchvision's own tests.
INT_BOXES = [[0, 0, 100, 100], [0, 0, 50, 50], [200, 200, 300, 300], [0, 0, 25, 25]]
INT_BOXES2 = [[0, 0, 100, 100], [0, 0, 50, 50], [200, 200, 300, 300]]
FLOAT_BOXES = [[285.3538, 185.5758, 1193.5110, 851.4551], [285.1472, 188.7374, 1192.4984, 851.0669],
               [279.2440, 197.9812, 1189.4746, 849.2019]]
FLOAT_EXPECTED = [[1.0, 0.9933, 0.9673], [0.9933, 1.0, 0.9737], [0.9673, 0.9737, 1.0]]
GOLDEN = {
    "iou": [[1.0, 0.25, 0.0], [0.25, 1.0, 0.0], [0.0, 0.0, 1.0], [0.0625, 0.25, 0.0]],
    "giou": [[1.0, 0.25, -0.7778], [0.25, 1.0, -0.8611], [-0.7778, -0.8611, 1.0], [0.0625, 0.25, -0.8819]],
    "diou": [[1.0, 0.1875, -0.4444], [0.1875, 1.0, -0.5625], [-0.4444, -0.5625, 1.0], [-0.0781, 0.1875, -0.6267]],
    "ciou": [[1.0, 0.1875, -0.4444], [0.1875, 1.0, -0.5625], [-0.4444, -0.5625, 1.0], [-0.0781, 0.1875, -0.6267]],
}


@pytest.mark.parametrize("metric", GOLDEN)
@pytest.mark.parametrize("dtype", [np.int16, np.int32, np.int64, np.float32, np.float64])
def test_torchvision_golden_values(metric, dtype, backend):
    got = METRICS[metric](np.array(INT_BOXES, dtype), np.array(INT_BOXES2, dtype), backend=backend)
    np.testing.assert_allclose(got, GOLDEN[metric], atol=1e-4, rtol=0)
    for fdtype, atol in ((np.float16, 2e-3), (np.float32, 1e-3), (np.float64, 1e-3)):
        fb = np.array(FLOAT_BOXES, fdtype)
        np.testing.assert_allclose(METRICS[metric](fb, fb, backend=backend), FLOAT_EXPECTED, atol=atol, rtol=0)


def test_bbox_overlaps_modes_call_the_same_code():
    b1 = boxes_for("clustered", 15, 4)
    b2 = boxes_for("clustered", 9, 5)
    for mode, metric in [("iou", "iou"), ("iof", "ioa"), ("giou", "giou"), ("diou", "diou"), ("ciou", "ciou")]:
        np.testing.assert_array_equal(fastiou.bbox_overlaps(b1, b2, mode=mode), METRICS[metric](b1, b2))
        np.testing.assert_array_equal(fastiou.bbox_overlaps(b1[:9], b2, mode=mode, is_aligned=True),
                                      METRICS[metric](b1[:9], b2, aligned=True))
    with pytest.raises(ValueError, match="mode"):
        fastiou.bbox_overlaps(b1, b2, mode="dice")


# --- guarded division and exactness ---------------------------------------------------------

@pytest.mark.parametrize("metric", METRICS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_identical_boxes_are_exactly_one(metric, dtype, backend, force_parallel):
    b = boxes_for("clustered", 200, 6, dtype)
    b = b[(b[:, 2] > b[:, 0]) & (b[:, 3] > b[:, 1])]
    got = METRICS[metric](b, b, aligned=True, backend=backend)
    assert (got == 1).all()
    full = METRICS[metric](b, b, backend=backend)
    assert (np.diag(full) == 1).all()


@pytest.mark.parametrize("metric", METRICS)
def test_zero_area_pairs_give_finite_values(metric, backend):
    points = np.array([[1, 1, 1, 1], [1, 1, 1, 1], [2, 3, 2, 3], [0, 0, 0, 5], [0, 0, 5, 0]], np.float32)
    got = METRICS[metric](points, points, backend=backend)
    assert np.isfinite(got).all()
    want = reference.pairwise(points, points, metric)
    np.testing.assert_allclose(got, want, atol=1e-6)
    # same point: IoU 0 (torchvision: NaN); GIoU and DIoU equal to the IoU; CIoU's alpha 0
    assert got[0, 1] == 0


def test_policy_limits_against_torchvision_nan():
    torch = pytest.importorskip("torch", reason="torch not installed")
    ops = pytest.importorskip("torchvision.ops", reason="torchvision not installed")
    p = np.array([[1.0, 1.0, 1.0, 1.0]])
    assert np.isnan(ops.box_iou(torch.from_numpy(p), torch.from_numpy(p)).item())
    assert fastiou.box_iou(p, p)[0, 0] == 0.0
    assert fastiou.generalized_box_iou(p, p)[0, 0] == 0.0
    assert fastiou.distance_box_iou(p, p)[0, 0] == 0.0
    assert fastiou.complete_box_iou(p, p)[0, 0] == 0.0


@pytest.mark.parametrize("metric", METRICS)
def test_huge_coordinates_float32(metric, backend):
    rng = np.random.default_rng(7)
    xy = rng.uniform(1e6, 1e7, (50, 2))
    wh = rng.uniform(1e4, 1e6, (50, 2))
    b = np.hstack([xy, xy + wh]).astype(np.float32)
    got = METRICS[metric](b, b, backend=backend)
    assert np.isfinite(got).all()
    np.testing.assert_allclose(got, reference.pairwise(b, b, metric), atol=2e-3)
    assert (np.diag(got) == 1).all()


def test_negative_coordinates_and_left_boxes_use_signed_centre_distance():
    a = np.array([[-10.0, -10.0, -6.0, -6.0]])
    b = np.array([[4.0, 2.0, 8.0, 6.0]])
    for metric in ("diou", "ciou"):
        np.testing.assert_allclose(METRICS[metric](a, b), reference.pairwise(a, b, metric))
        np.testing.assert_allclose(METRICS[metric](b, a), reference.pairwise(b, a, metric))
    # distance penalty: centres (-8,-8) and (6,4): rho^2 = 196 + 144; enclosing diagonal^2 = 18^2 + 16^2
    np.testing.assert_allclose(fastiou.distance_box_iou(a, b)[0, 0], -(196 + 144) / (18**2 + 16**2))


def test_ciou_aspect_angle_of_zero_height_is_half_pi():
    a = np.array([[0.0, 0.0, 4.0, 0.0]])  # atan(4 / 0) = pi / 2
    b = np.array([[0.0, 0.0, 4.0, 4.0]])  # atan(1) = pi / 4
    iou, diou = fastiou.box_iou(a, b)[0, 0], fastiou.distance_box_iou(a, b)[0, 0]
    v = 4 / np.pi**2 * (np.pi / 2 - np.pi / 4) ** 2
    np.testing.assert_allclose(fastiou.complete_box_iou(a, b)[0, 0], diou - v / (1 - iou + v) * v)


# --- formats and offset --------------------------------------------------------------------

@pytest.mark.parametrize("fmt", ["xywh", "cxcywh"])
@pytest.mark.parametrize("metric", METRICS)
def test_formats(fmt, metric, backend):
    b1 = boxes_for("clustered", 20, 8)
    b2 = boxes_for("clustered", 15, 9)
    got = METRICS[metric](fastiou.box_convert(b1, "xyxy", fmt), fastiou.box_convert(b2, "xyxy", fmt),
                          fmt=fmt, backend=backend)
    np.testing.assert_allclose(got, reference.pairwise(b1, b2, metric), atol=1e-9)


@pytest.mark.parametrize("metric", METRICS)
def test_offset_one_is_pixel_inclusive(metric, backend):
    b = np.array([[0, 0, 9, 9], [5, 5, 14, 14], [3, 3, 3, 3]], np.float64)
    got = METRICS[metric](b, b, offset=1, backend=backend)
    np.testing.assert_allclose(got, reference.pairwise(b, b, metric, offset=1), atol=1e-12)
    if metric == "iou":
        assert got[0, 1] == pytest.approx(25 / 175)


def test_offset_one_matches_cython_bbox():
    cb = pytest.importorskip("cython_bbox", reason="cython_bbox not installed")
    b1 = boxes_for("clustered", 60, 10).round()
    b2 = boxes_for("clustered", 40, 11).round()
    np.testing.assert_allclose(fastiou.box_iou(b1, b2, offset=1), cb.bbox_overlaps(b1, b2), atol=1e-12)


# --- layouts: the same answer as a C-contiguous array, input never modified -----------------

def _layouts(b):
    f = np.asfortranarray(b)
    strided = np.zeros((len(b) * 2, 8), b.dtype)
    strided[::2, 1::2] = b
    ro = b.copy()
    ro.flags.writeable = False
    swapped = b.astype(b.dtype.newbyteorder(">"))
    return {"fortran": f, "strided": strided[::2, 1::2], "readonly": ro, "byteswapped": swapped,
            "list": b.tolist()}


@pytest.mark.parametrize("metric", METRICS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_layouts_give_the_same_answer(metric, dtype, backend):
    b1 = boxes_for("clustered", 31, 12, dtype)
    b2 = boxes_for("clustered", 17, 13, dtype)
    want = METRICS[metric](b1, b2, backend=backend)
    for name, (l1, l2) in zip(_layouts(b1), zip(_layouts(b1).values(), _layouts(b2).values())):
        got = METRICS[metric](l1, l2, backend=backend)
        expected_dtype = np.float64 if name == "list" else dtype
        assert got.dtype == expected_dtype, name
        np.testing.assert_allclose(got, want, atol=TOL[dtype] * 10, err_msg=name)


def test_torch_cpu_tensors():
    torch = pytest.importorskip("torch", reason="torch not installed")
    ops = pytest.importorskip("torchvision.ops", reason="torchvision not installed")
    b = boxes_for("clustered", 25, 14, np.float32)
    got = fastiou.box_iou(torch.from_numpy(b), torch.from_numpy(b))
    assert isinstance(got, np.ndarray) and got.dtype == np.float32
    np.testing.assert_allclose(got, ops.box_iou(torch.from_numpy(b), torch.from_numpy(b)).numpy(), atol=1e-6)


@pytest.mark.parametrize("metric", METRICS)
def test_inputs_are_never_modified(metric, backend):
    for fmt in ("xyxy", "xywh", "cxcywh"):
        b1 = np.abs(boxes_for("clustered", 20, 15))
        b2 = np.abs(boxes_for("clustered", 20, 16))
        c1, c2 = b1.copy(), b2.copy()
        METRICS[metric](b1, b2, fmt=fmt, offset=1, backend=backend)
        METRICS[metric](b1, b2, fmt=fmt, aligned=True, backend=backend)
        np.testing.assert_array_equal(b1, c1)
        np.testing.assert_array_equal(b2, c2)


# --- empty inputs and out= -------------------------------------------------------------------

@pytest.mark.parametrize("metric", METRICS)
def test_empty_inputs(metric, backend):
    e = np.zeros((0, 4), np.float32)
    b = boxes_for("clustered", 5, 17, np.float32)
    assert METRICS[metric](e, b, backend=backend).shape == (0, 5)
    assert METRICS[metric](b, e, backend=backend).shape == (5, 0)
    got = METRICS[metric](e, e, aligned=True, backend=backend)
    assert got.shape == (0,) and got.dtype == np.float32


def test_empty_list_is_no_boxes():
    # as torchvision: an empty (0,) array is (0, 4); any other 1-D shape is an error
    assert fastiou.box_iou([], [[0, 0, 1, 1]]).shape == (0, 1)
    assert fastiou.box_iou(np.empty((0, 4)), [[0, 0, 1, 1]]).shape == (0, 1)
    with pytest.raises(ValueError, match=r"boxes1 must have shape \(\.\.\., N, 4\), got \(0, 3\)"):
        fastiou.box_iou(np.empty((0, 3)), [[0, 0, 1, 1]])


def test_out_argument(backend):
    b1 = boxes_for("clustered", 12, 18, np.float32)
    b2 = boxes_for("clustered", 7, 19, np.float32)
    out = np.full((12, 7), -5, np.float32)
    res = fastiou.box_iou(b1, b2, out=out, backend=backend)
    assert res is out
    np.testing.assert_allclose(out, reference.pairwise(b1, b2), atol=1e-6)
    fortran_out = np.asfortranarray(np.zeros((12, 7), np.float32))
    fastiou.box_iou(b1, b2, out=fortran_out, backend=backend)
    np.testing.assert_array_equal(fortran_out, out)
    with pytest.raises(ValueError, match="out must have shape"):
        fastiou.box_iou(b1, b2, out=np.empty((7, 12), np.float32))
    with pytest.raises(TypeError, match="out must have dtype"):
        fastiou.box_iou(b1, b2, out=np.empty((12, 7), np.float64))
    ro = np.empty((12, 7), np.float32)
    ro.flags.writeable = False
    with pytest.raises(ValueError, match="writeable"):
        fastiou.box_iou(b1, b2, out=ro)


# --- bad input -------------------------------------------------------------------------------

@pytest.mark.parametrize("metric", METRICS)
def test_bad_boxes_name_argument_and_row(metric):
    good = np.array([[0, 0, 1, 1], [0, 0, 2, 2]], np.float64)
    for bad_row in ([np.nan, 0, 1, 1], [0, 0, np.inf, 1], [2, 0, 1, 1], [0, 2, 1, 1], [-np.inf, 0, 1, 1]):
        bad = np.vstack([good, [bad_row]])
        with pytest.raises(ValueError, match=r"boxes2 has an invalid box at row 2"):
            METRICS[metric](good, bad)
        with pytest.raises(ValueError, match=r"boxes1 has an invalid box at row 2"):
            METRICS[metric](bad, good)
    # validate=False skips the check and does not crash
    bad = np.array([[2, 0, 1, 1], [np.nan, 0, 1, 1]], np.float64)
    assert METRICS[metric](bad, good, validate=False).shape == (2, 2)


def test_inverted_after_format_conversion():
    with pytest.raises(ValueError, match="row 0"):
        fastiou.box_iou([[0, 0, -1, 2]], [[0, 0, 1, 1]], fmt="xywh")
    with pytest.raises(ValueError, match="row 0"):
        fastiou.box_iou([[0, 0, 1, -2]], [[0, 0, 1, 1]], fmt="cxcywh")


@pytest.mark.parametrize("bad,exc,match", [
    (np.zeros((3, 5)), ValueError, r"boxes1 must have shape \(\.\.\., N, 4\), got \(3, 5\)"),
    (np.zeros(4), ValueError, r"boxes1 must have shape \(\.\.\., N, 4\), got \(4,\)"),
    (np.zeros((2, 2, 3)), ValueError, r"boxes1 must have shape"),
    ("0,0,1,1", TypeError, "boxes1 must be an array of numbers"),
    (np.array([["a", "b", "c", "d"]]), TypeError, "boxes1 must hold real numbers"),
    (np.zeros((2, 4), complex), TypeError, "boxes1 must hold real numbers"),
    (np.array([[object(), 1, 2, 3]], dtype=object), TypeError, "boxes1 must hold real numbers"),
    ([[0, 0, 1], [0, 0, 1, 1]], TypeError, "boxes1 must be an array of numbers"),
])
def test_bad_kinds_and_shapes(bad, exc, match):
    with pytest.raises(exc, match=match):
        fastiou.box_iou(bad, [[0, 0, 1, 1]])


def test_bad_options():
    b = [[0, 0, 1, 1]]
    with pytest.raises(ValueError, match="aligned=True needs boxes1 and boxes2 of the same length"):
        fastiou.box_iou(b, [[0, 0, 1, 1], [0, 0, 2, 2]], aligned=True)
    with pytest.raises(ValueError, match="fmt must be one of"):
        fastiou.box_iou(b, b, fmt="yxyx")
    with pytest.raises(ValueError, match="offset must be 0 or 1"):
        fastiou.box_iou(b, b, offset=2)
    with pytest.raises(ValueError, match="backend must be one of"):
        fastiou.box_iou(b, b, backend="opencl")
    with pytest.raises(TypeError, match="dtype must be float32 or float64"):
        fastiou.box_iou(b, b, dtype=np.float16)
    with pytest.raises(TypeError, match="dtype must be float32 or float64"):
        fastiou.box_iou(b, b, dtype=np.int32)


def test_unavailable_backend_says_how_to_install(monkeypatch):
    from fastiou import backends

    monkeypatch.setitem(backends.MODULES, "cython", "no_such_module")
    monkeypatch.setattr(backends, "_loaded", {})
    with pytest.raises(ImportError, match="compiled at install"):
        fastiou.box_iou([[0, 0, 1, 1]], [[0, 0, 1, 1]], backend="cython")


@pytest.mark.parametrize("metric", METRICS)
def test_numba_split_and_fast_path_without_the_cython_extension(metric, monkeypatch):
    from fastiou import backends

    b1 = boxes_for("degenerate", 12, 20)
    b2 = boxes_for("clustered", 9, 21)
    with_extension = METRICS[metric](b1, b2)
    monkeypatch.setitem(sys.modules, "fastiou._cy_boxes", None)  # import fails as if not built
    monkeypatch.delattr(fastiou, "_cy_boxes", raising=False)
    monkeypatch.setattr(backends, "_serial_entries", {})
    assert backends.serial_entry("small_metric").__module__ == "fastiou.backends.numba_cpu"
    # two compiled implementations: equal to float64 rounding (CIoU's atan2 may differ in an ulp)
    np.testing.assert_allclose(METRICS[metric](b1, b2), with_extension, rtol=0, atol=1e-14)
    np.testing.assert_allclose(METRICS[metric](b1[:9], b2, aligned=True), np.diag(with_extension[:9]),
                               rtol=0, atol=1e-14)
    with pytest.raises(ValueError, match="boxes2 has an invalid box at row 1"):
        METRICS[metric](b1, np.array([[0, 0, 1, 1], [1, 0, 0, 1.0]]))
