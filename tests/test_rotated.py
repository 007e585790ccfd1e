"""Rotated boxes: formats, exact polygon IoU / IoA / GIoU against shapely, NMS against a naive greedy loop."""

from __future__ import annotations

import math

import numpy as np
import pytest

import fastiou
from fastiou import backends

shapely = pytest.importorskip("shapely")

ROTATED_BACKENDS = []
for _name in ("numba", "cython"):
    try:
        backends.load(_name, "rotated")
        ROTATED_BACKENDS.append(pytest.param(_name, id=_name))
    except ImportError as _exc:
        ROTATED_BACKENDS.append(pytest.param(_name, id=_name, marks=pytest.mark.skip(reason=str(_exc))))


@pytest.fixture(params=ROTATED_BACKENDS)
def rbackend(request):
    return request.param


# --- the oracle: shapely polygons of corners computed here, independently of fastiou ----------


def corners(b):
    """(N, 4, 2) corners of cxcywhr boxes (float64), torchvision's convention."""
    b = np.asarray(b, np.float64)
    cx, cy, w, h, r = b.T
    t = np.radians(r)
    c, s = np.cos(t), np.sin(t)
    ux, uy, vx, vy = w / 2 * c, -w / 2 * s, h / 2 * s, h / 2 * c
    return np.stack([np.stack([cx - ux - vx, cy - uy - vy], -1), np.stack([cx + ux - vx, cy + uy - vy], -1),
                     np.stack([cx + ux + vx, cy + uy + vy], -1), np.stack([cx - ux + vx, cy - uy + vy], -1)], 1)


def shapely_parts(b1, b2):
    """(intersection, union, enclosing axis-aligned area, area1) of every pair, by shapely, in float64."""
    b1, b2 = np.asarray(b1, np.float64), np.asarray(b2, np.float64)
    p1, p2 = shapely.polygons(corners(b1)), shapely.polygons(corners(b2))
    inter = shapely.area(shapely.intersection(p1[:, None], p2[None]))
    a1, a2 = b1[:, 2] * b1[:, 3], b2[:, 2] * b2[:, 3]
    union = a1[:, None] + a2[None] - inter
    k1, k2 = corners(b1), corners(b2)
    lo1, hi1, lo2, hi2 = k1.min(1), k1.max(1), k2.min(1), k2.max(1)
    side = np.maximum(hi1[:, None], hi2[None]) - np.minimum(lo1[:, None], lo2[None])
    return inter, union, side[..., 0] * side[..., 1], np.broadcast_to(a1[:, None], inter.shape)


def div0(a, b):
    return np.where(b > 0, a / np.where(b > 0, b, 1), 0.0)


def shapely_iou(b1, b2):
    inter, union, _, _ = shapely_parts(b1, b2)
    return div0(inter, union)


def scattered(rng, n, spread=100.0):
    return np.c_[rng.uniform(0, spread, (n, 2)), rng.uniform(0, 25, (n, 2)), rng.uniform(-360, 360, n)]


def clustered(rng, n, objects=6):
    centres = rng.uniform(0, 60, (objects, 2))
    sizes = rng.uniform(5, 30, (objects, 2))
    k = rng.integers(0, objects, n)
    return np.c_[centres[k] + rng.normal(0, 1.5, (n, 2)), sizes[k] * rng.uniform(0.8, 1.2, (n, 2)),
                 rng.normal(0, 10, n) + 30 * k]


TOL = {np.float64: 1e-9, np.float32: 1e-5}


# --- pairwise metrics ------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("scene", [scattered, clustered])
def test_iou_matches_shapely(rbackend, force_parallel, dtype, scene):
    rng = np.random.default_rng(7)
    b1, b2 = scene(rng, 120).astype(dtype), scene(rng, 90).astype(dtype)
    got = fastiou.box_iou(b1, b2, fmt="cxcywhr", backend=rbackend)
    assert got.dtype == dtype and got.shape == (120, 90)
    want = shapely_iou(b1, b2)  # of the boxes as rounded to dtype
    np.testing.assert_allclose(got, want, rtol=0, atol=TOL[dtype])
    assert (want > 0).mean() > 0.05  # the scene has overlaps to get right
    assert np.all((got >= 0) & (got <= 1))


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_ioa_giou_aligned(rbackend, force_parallel, dtype):
    rng = np.random.default_rng(3)
    b1, b2 = clustered(rng, 60).astype(dtype), clustered(rng, 50).astype(dtype)
    inter, union, enclosing, a1 = shapely_parts(b1, b2)
    ioa = fastiou.box_ioa(b1, b2, fmt="cxcywhr", backend=rbackend)
    np.testing.assert_allclose(ioa, div0(inter, a1), atol=TOL[dtype], rtol=0)
    giou = fastiou.generalized_box_iou(b1, b2, fmt="cxcywhr", backend=rbackend)
    iou = div0(inter, union)
    np.testing.assert_allclose(giou, iou - div0(enclosing - union, enclosing), atol=10 * TOL[dtype], rtol=0)
    assert np.all(giou <= fastiou.box_iou(b1, b2, fmt="cxcywhr", backend=rbackend) + 1e-7)
    for code in (fastiou.box_iou, fastiou.box_ioa, fastiou.generalized_box_iou):
        full = code(b1, b2, fmt="cxcywhr", backend=rbackend)
        diag = code(b1[:50], b2, fmt="cxcywhr", aligned=True, backend=rbackend)
        np.testing.assert_array_equal(diag, np.diagonal(code(b1[:50], b2, fmt="cxcywhr", backend=rbackend)))
        assert full.shape == (60, 50)


def test_giou_is_powerboxes_definition():
    # powerboxes' own test: rotated_giou_distance([[5, 5, 2, 2, 0]], [[4, 4, 2, 2, 0]]) = -0.0793650...
    got = fastiou.generalized_box_iou([[5, 5, 2, 2, 0]], [[4, 4, 2, 2, 0]], fmt="cxcywhr")
    np.testing.assert_allclose(got, [[-0.07936507936507936]], rtol=1e-15)
    pb = pytest.importorskip("powerboxes")
    rng = np.random.default_rng(5)
    b1, b2 = clustered(rng, 40), clustered(rng, 30)
    b1[:, 4] = b2[:, 4] = 0  # powerboxes' angle convention may differ: compare at angle 0
    want = 1 - pb.rotated_giou_distance(b1, b2)  # a distance: 1 - GIoU
    got = fastiou.generalized_box_iou(b1, b2, fmt="cxcywhr")
    np.testing.assert_allclose(got, want, atol=1e-7)


def test_formats_give_the_same_iou(rbackend):
    rng = np.random.default_rng(11)
    b1, b2 = clustered(rng, 30), clustered(rng, 20)
    want = fastiou.box_iou(b1, b2, fmt="cxcywhr", backend=rbackend)
    for fmt in ("xywhr", "xyxyxyxy"):
        c1, c2 = fastiou.box_convert(b1, "cxcywhr", fmt), fastiou.box_convert(b2, "cxcywhr", fmt)
        np.testing.assert_allclose(fastiou.box_iou(c1, c2, fmt=fmt, backend=rbackend), want, atol=1e-9)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_angle_zero_is_the_axis_aligned_iou(rbackend, dtype):
    rng = np.random.default_rng(2)
    b1, b2 = scattered(rng, 80, 40).astype(dtype), scattered(rng, 70, 40).astype(dtype)
    for angle in (0, 180, 360, -180, 720):
        b1[:, 4] = angle
        b2[:, 4] = -angle
        got = fastiou.box_iou(b1, b2, fmt="cxcywhr", backend=rbackend)
        want = fastiou.box_iou(b1[:, :4], b2[:, :4], fmt="cxcywh")
        np.testing.assert_allclose(got, want, atol=1e-12 if dtype == np.float64 else 2e-6, rtol=0)


def test_matches_torchvision():
    torch = pytest.importorskip("torch")
    tv = pytest.importorskip("torchvision.ops")
    rng = np.random.default_rng(4)
    b1, b2 = clustered(rng, 50), clustered(rng, 40)
    want = tv.box_iou(torch.tensor(b1), torch.tensor(b2), fmt="cxcywhr").numpy()
    np.testing.assert_allclose(fastiou.box_iou(b1, b2, fmt="cxcywhr"), want, atol=1e-6)
    for fmt in ("xywhr", "xyxyxyxy"):
        for out_fmt in ("cxcywhr", "xywhr", "xyxyxyxy"):
            x = tv.box_convert(torch.tensor(b1), "cxcywhr", fmt)
            got = fastiou.box_convert(x.numpy(), fmt, out_fmt)
            ref = tv.box_convert(x, fmt, out_fmt).numpy()
            if out_fmt != "xyxyxyxy":  # angles: equal up to whole turns
                got[:, 4] = ref[:, 4] + (got[:, 4] - ref[:, 4] + 180) % 360 - 180
            np.testing.assert_allclose(got, ref, atol=1e-9)


# --- the numerics list -------------------------------------------------------------


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_identical_boxes(rbackend, dtype):
    rng = np.random.default_rng(0)
    b = np.r_[scattered(rng, 50), [[1e6, -1e6, 3, 7, 33.3], [0, 0, 1e-3, 5, 89.9]]].astype(dtype)
    b[:, 2:4] += dtype(0.5)
    got = fastiou.box_iou(b, b, fmt="cxcywhr", backend=rbackend)
    np.testing.assert_array_equal(np.diagonal(got), 1)
    assert got.max() <= 1
    np.testing.assert_array_equal(fastiou.box_iou(b, b, fmt="cxcywhr", aligned=True, backend=rbackend), 1)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_nearly_identical_boxes(rbackend, dtype):
    base = np.array([[10, 20, 8, 3, 30], [0, 0, 5, 5, 0], [1e3, 1e3, 100, 0.5, -45], [3, 4, 2, 2, 90]],
                    dtype)
    near = base.copy()
    near[:, 4] += dtype(1e-6) if dtype == np.float64 else dtype(1e-3)
    got = np.diagonal(fastiou.box_iou(base, near, fmt="cxcywhr", backend=rbackend))
    want = np.diagonal(shapely_iou(base, near))
    np.testing.assert_allclose(got, want, atol=TOL[dtype], rtol=0)
    assert np.all(got <= 1) and np.all(got > 0.99)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_touching_far_inside_and_degenerate(rbackend, dtype):
    a = [[0, 0, 2, 2, 0]]
    cases = {
        "edge": ([2, 0, 2, 2, 0], 0.0),
        "rotated box near an edge": ([0, 2 * math.sqrt(2), 2, 2, 45], None),
        "vertex": ([2, 2, 2, 2, 0], 0.0),
        "vertex of a diamond": ([1 + math.sqrt(2), 0, 2, 2, 45], 0.0),
        "far apart": ([1e4, 1e4, 2, 2, 10], 0.0),
        "bounding boxes meet, boxes do not": ([1.8, 1.8, 4, 0.2, 45], 0.0),
        "inside": ([0.1, -0.2, 1, 0.5, 30], 0.5 / 4),
        "zero width": ([0, 0, 0, 2, 30], 0.0),
        "zero height": ([0.5, 0.5, 3, 0, 0], 0.0),
        "point": ([0, 0, 0, 0, 0], 0.0),
        "near-parallel edge": ([2 - 1e-9, 0, 2, 2, 1e-7], None),
    }
    for name, (box, exact) in cases.items():
        b = np.array([box], dtype)
        got = fastiou.box_iou(np.array(a, dtype), b, fmt="cxcywhr", backend=rbackend)[0, 0]
        assert not np.isnan(got) and 0 <= got <= 1, name
        want = shapely_iou(np.array(a, dtype), b)[0, 0] if exact is None else exact
        assert abs(got - want) <= TOL[dtype], (name, got, want)
        if exact == 0.0 and name in ("far apart", "zero width", "zero height", "point"):
            assert got == 0.0, name
    zero = np.zeros((2, 5), dtype)
    np.testing.assert_array_equal(fastiou.box_iou(zero, zero, fmt="cxcywhr", backend=rbackend), 0)
    np.testing.assert_array_equal(fastiou.generalized_box_iou(zero, zero, fmt="cxcywhr", backend=rbackend), 0)


def test_equivalent_angles(rbackend):
    rng = np.random.default_rng(8)
    b1, b2 = clustered(rng, 20), clustered(rng, 20)
    base = fastiou.box_iou(b1, b2, fmt="cxcywhr", backend=rbackend)
    for turn, flip in ((360, False), (720, False), (-1080, False), (180, True), (-180, True)):
        c = b2.copy()
        c[:, 4] += turn
        np.testing.assert_allclose(fastiou.box_iou(b1, c, fmt="cxcywhr", backend=rbackend), base, atol=1e-12)
    for angle, equivalent in ((90, -90), (90, 270), (-1e3, 80), (180, 0), (360, 0), (720, 0)):
        c, d = b2.copy(), b2.copy()
        c[:, 4], d[:, 4] = angle, equivalent
        np.testing.assert_allclose(fastiou.box_iou(b1, c, fmt="cxcywhr", backend=rbackend),
                                   fastiou.box_iou(b1, d, fmt="cxcywhr", backend=rbackend), atol=1e-12)
    sq = np.array([[0, 0, 4, 2, 90]])  # a quarter turn swaps the sides exactly
    np.testing.assert_array_equal(fastiou.box_iou(sq, [[0, 0, 2, 4, 0]], fmt="cxcywhr"), [[1.0]])


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_centres_far_from_the_origin(rbackend, dtype):
    rng = np.random.default_rng(9)
    b1, b2 = clustered(rng, 40), clustered(rng, 30)
    far1, far2 = b1.copy(), b2.copy()
    shift = 1e6 if dtype == np.float64 else 1024.0  # float32 holds 1e6 to 1/16 only
    far1[:, :2] += shift
    far2[:, :2] += shift
    got = fastiou.box_iou(far1.astype(dtype), far2.astype(dtype), fmt="cxcywhr", backend=rbackend)
    want = shapely_iou(b1.astype(dtype), b2.astype(dtype)) if dtype == np.float32 else shapely_iou(b1, b2)
    np.testing.assert_allclose(got, want, atol=1e-8 if dtype == np.float64 else 1e-5, rtol=0)


def test_never_negative_above_one_or_nan(rbackend):
    rng = np.random.default_rng(12)
    b = np.r_[clustered(rng, 150), scattered(rng, 50, 20)]
    b[::7, 2] = 0
    b[::11, 3] = 0
    b[::13] = b[::13][0]
    for dtype in (np.float64, np.float32):
        got = fastiou.box_iou(b.astype(dtype), b.astype(dtype), fmt="cxcywhr", backend=rbackend)
        assert np.isfinite(got).all() and got.min() >= 0 and got.max() <= 1
        np.testing.assert_allclose(got, got.T, atol=TOL[dtype], rtol=0)  # symmetric to rounding


def _scaled(b, k):
    """cxcywhr boxes with centres and sizes times 2**k (exact), angles kept."""
    return np.c_[np.ldexp(b[:, :4], k), b[:, 4]]


@pytest.mark.parametrize("fmt", ["cxcywhr", "xyxyxyxy"])
def test_every_scale_gives_the_same_metrics(rbackend, fmt):
    # each metric is invariant to scaling both boxes by 2**k, which is exact in floating point:
    # sizes whose areas overflow (2**900) or underflow (2**-1000) give the bits of 2**0, not NaN or 0
    rng = np.random.default_rng(5)
    b = np.r_[clustered(rng, 40), scattered(rng, 20, 40)]
    b[::9, 2] = 0

    def boxes(k):
        scaled = _scaled(b, k)
        return scaled if fmt == "cxcywhr" else np.ldexp(fastiou.box_convert(b, "cxcywhr", fmt), k)

    for metric in (fastiou.box_iou, fastiou.box_ioa, fastiou.generalized_box_iou):
        want = metric(boxes(0), boxes(0)[::-1], fmt=fmt, backend=rbackend)
        want_aligned = metric(boxes(0), boxes(0)[::-1], fmt=fmt, aligned=True, backend=rbackend)
        for k in (-1000, -600, 600, 900):
            got = metric(boxes(k), boxes(k)[::-1], fmt=fmt, backend=rbackend)
            np.testing.assert_array_equal(got, want, err_msg=f"{metric.__name__} at 2**{k}")
            got = metric(boxes(k), boxes(k)[::-1], fmt=fmt, aligned=True, backend=rbackend)
            np.testing.assert_array_equal(got, want_aligned, err_msg=f"{metric.__name__} aligned at 2**{k}")


def test_boxes_of_far_apart_scales_in_one_call(rbackend):
    rng = np.random.default_rng(6)
    b = clustered(rng, 12)
    mixed = np.r_[_scaled(b[:6], 900), _scaled(b[6:], -900)]  # each half at its own scale
    got = fastiou.box_iou(mixed, mixed, fmt="cxcywhr", backend=rbackend)
    np.testing.assert_array_equal(got[:6, :6], fastiou.box_iou(b[:6], b[:6], fmt="cxcywhr", backend=rbackend))
    np.testing.assert_array_equal(got[6:, 6:], fastiou.box_iou(b[6:], b[6:], fmt="cxcywhr", backend=rbackend))
    assert (got[:6, 6:] == 0).all() and (got[6:, :6] == 0).all()  # 2**-1800 of the union: 0
    # IoA divides by a box of boxes1, whose area underflows at the scale of a far larger box
    with pytest.raises(ValueError, match="boxes1 row 6 is below 2\\^-384"):
        fastiou.box_ioa(mixed, mixed, fmt="cxcywhr", backend=rbackend)
    np.testing.assert_array_equal(fastiou.box_ioa(mixed[:6], mixed, fmt="cxcywhr", backend=rbackend)[:, :6],
                                  fastiou.box_ioa(b[:6], b[:6], fmt="cxcywhr", backend=rbackend))


def test_float32_sizes_beyond_its_safe_range(rbackend):
    # float32 sides of 1e20 have areas beyond float32: computed in float64, rounded once
    rng = np.random.default_rng(7)
    b = _scaled(clustered(rng, 30), 70).astype(np.float32)
    got = fastiou.box_iou(b, b, fmt="cxcywhr", backend=rbackend)
    assert got.dtype == np.float32
    np.testing.assert_array_equal(got, fastiou.box_iou(b.astype(np.float64), b.astype(np.float64),
                                                       fmt="cxcywhr", backend=rbackend).astype(np.float32))
    assert (np.diag(got) == 1).all()


def test_nms_at_every_scale(rbackend):
    rng = np.random.default_rng(8)
    b = clustered(rng, 80)
    scores = rng.uniform(size=80)
    want = fastiou.nms(b, scores, 0.4, fmt="cxcywhr", backend=rbackend)
    for k in (-1000, 900):
        np.testing.assert_array_equal(fastiou.nms(_scaled(b, k), scores, 0.4, fmt="cxcywhr", backend=rbackend),
                                      want)
    # NMS compares at one scale: a box 2**-1800 times smaller than the largest cannot be kept apart
    mixed = np.r_[_scaled(b, 900), _scaled(b[:1], -900)]
    with pytest.raises(ValueError, match="boxes row 80 .* below 2\\^-400"):
        fastiou.nms(mixed, np.r_[scores, 0.5], 0.4, fmt="cxcywhr", backend=rbackend)


# --- formats and validation ------------------------------------------------------------


def test_box_convert_all_directions_and_bounding_box():
    rng = np.random.default_rng(13)
    b = clustered(rng, 20)
    fmts = ("cxcywhr", "xywhr", "xyxyxyxy")
    for f in fmts:
        x = fastiou.box_convert(b, "cxcywhr", f)
        for g in fmts:
            y = fastiou.box_convert(x, f, g)
            back = fastiou.box_convert(y, g, "cxcywhr")
            np.testing.assert_allclose(fastiou.box_convert(back, "cxcywhr", "xyxyxyxy"),
                                       corners(b).reshape(-1, 8), atol=1e-9)
        k = corners(b)
        np.testing.assert_allclose(fastiou.box_convert(x, f, "xyxy"),
                                   np.c_[k.min(1), k.max(1)], atol=1e-9)
        np.testing.assert_allclose(fastiou.box_area(x, fmt=f), b[:, 2] * b[:, 3], rtol=1e-12)
    aa = np.array([[1.0, 2, 5, 8]])
    np.testing.assert_array_equal(fastiou.box_convert(aa, "xyxy", "cxcywhr"), [[3, 5, 4, 6, 0]])
    assert fastiou.box_convert(b.astype(np.float32), "cxcywhr", "xyxyxyxy").dtype == np.float32
    np.testing.assert_array_equal(corners([[10, 20, 4, 2, 90]]).reshape(4, 2).min(0), [9, 18])


def test_bad_input_names_the_argument():
    good = np.array([[0, 0, 2, 2, 0.0]])
    with pytest.raises(ValueError, match=r"boxes2 must have shape \(\.\.\., N, 5\)"):
        fastiou.box_iou(good, [[0, 0, 1, 1]], fmt="cxcywhr")
    with pytest.raises(ValueError, match=r"boxes1 must have shape \(\.\.\., N, 8\)"):
        fastiou.box_iou(good, good, fmt="xyxyxyxy")
    with pytest.raises(ValueError, match=r"boxes1 must have shape \(\.\.\., N, 5\)"):
        fastiou.box_iou(good[0], good, fmt="cxcywhr")
    with pytest.raises(ValueError, match=r"boxes must have shape \(\.\.\., 5\)"):
        fastiou.box_area(np.zeros((2, 4)), fmt="cxcywhr")
    with pytest.raises(ValueError, match=r"boxes must have shape \(N, 5\)"):
        fastiou.nms(good[None], [[1.0]], 0.5, fmt="cxcywhr")
    with pytest.raises(ValueError, match="leading"):
        fastiou.box_iou(np.zeros((2, 3, 5)), np.zeros((3, 3, 5)), fmt="cxcywhr")
    with pytest.raises(ValueError, match="boxes1 has an invalid rotated box at row 1"):
        fastiou.box_iou([[0, 0, 1, 1, 0], [0, 0, 1, 1, np.nan]], good, fmt="cxcywhr")
    with pytest.raises(ValueError, match="boxes2 has an invalid rotated box at row 0.*w >= 0"):
        fastiou.box_iou(good, [[0, 0, -1, 1, 0]], fmt="xywhr")
    with pytest.raises(ValueError, match="boxes has an invalid rotated box at row 0"):
        fastiou.box_convert([[0, 0, 1, -1, 0]], "cxcywhr", "xyxy")
    with pytest.raises(ValueError, match="boxes has an invalid rotated box"):
        fastiou.nms([[0, 0, 1, 1, np.inf]], [1.0], 0.5, fmt="cxcywhr")
    with pytest.raises(ValueError, match="in_fmt must be one of"):
        fastiou.box_convert(good, "cxcywhz", "xyxy")
    with pytest.raises(ValueError, match="offset must be 0"):
        fastiou.box_iou(good, good, fmt="cxcywhr", offset=1)
    with pytest.raises(ValueError, match="rotated"):
        fastiou.distance_box_iou(good, good, fmt="cxcywhr")
    with pytest.raises(ValueError, match="aligned=True"):
        fastiou.box_iou(good, np.r_[good, good], fmt="cxcywhr", aligned=True)


def test_input_not_modified_and_layouts():
    rng = np.random.default_rng(14)
    b = clustered(rng, 30)
    f = np.asfortranarray(b)
    ro = b.copy()
    ro.flags.writeable = False
    keep = b.copy()
    want = fastiou.box_iou(b, b, fmt="cxcywhr")
    strided = np.repeat(b, 2, axis=0)[::2]
    for x in (f, ro, b.tolist(), strided, b.astype(">f8")):
        np.testing.assert_array_equal(fastiou.box_iou(x, b, fmt="cxcywhr"), want)
    fastiou.box_convert(b, "cxcywhr", "xyxyxyxy")
    fastiou.nms(b, rng.random(30), 0.5, fmt="cxcywhr")
    np.testing.assert_array_equal(b, keep)
    out = np.empty((30, 30))
    assert fastiou.box_iou(b, b, fmt="cxcywhr", out=out) is out
    assert fastiou.box_iou(np.empty((0, 5)), b, fmt="cxcywhr").shape == (0, 30)
    assert fastiou.box_iou(b.astype(np.int64), b.astype(np.int64), fmt="cxcywhr").dtype == np.float64


@pytest.mark.parametrize("fmt", ["cxcywhr", "xyxyxyxy"])
def test_batched_boxes_are_one_flat_problem(rbackend, force_parallel, fmt):
    """``(..., N, K) x (..., M, K)``: each batch item as its own call (and torchvision's,
    which takes one item at a time), broadcast leading dimensions, ``aligned``, ``out``."""
    rng = np.random.default_rng(16)
    b1 = fastiou.box_convert(clustered(rng, 2 * 3 * 9).reshape(2, 3, 9, 5), "cxcywhr", fmt)
    b2 = fastiou.box_convert(clustered(rng, 3 * 6).reshape(3, 6, 5), "cxcywhr", fmt)
    for f in (fastiou.box_iou, fastiou.box_ioa, fastiou.generalized_box_iou):
        got = f(b1, b2, fmt=fmt, backend=rbackend)
        assert got.shape == (2, 3, 9, 6)
        for i, j in np.ndindex(2, 3):
            np.testing.assert_array_equal(got[i, j], f(b1[i, j], b2[j], fmt=fmt, backend=rbackend))
    aligned = fastiou.box_iou(b1, b1[:, :, ::-1], fmt=fmt, aligned=True, backend=rbackend)
    assert aligned.shape == (2, 3, 9)
    np.testing.assert_array_equal(aligned[1, 2], fastiou.box_iou(b1[1, 2], b1[1, 2, ::-1], fmt=fmt,
                                                                 aligned=True, backend=rbackend))
    out = np.empty((6, 3, 2, 9)).transpose(2, 1, 3, 0)  # a layout the kernel cannot write directly
    assert fastiou.box_iou(b1, b2, fmt=fmt, out=out, backend=rbackend) is out
    np.testing.assert_array_equal(out, fastiou.box_iou(b1, b2, fmt=fmt, backend=rbackend))
    areas = fastiou.box_area(b1, fmt=fmt)
    assert areas.shape == (2, 3, 9)
    np.testing.assert_allclose(areas[1, 0], fastiou.box_area(b1[1, 0], fmt=fmt), rtol=1e-12)
    if fmt == "cxcywhr":
        torch = pytest.importorskip("torch")
        ops = pytest.importorskip("torchvision.ops")
        want = ops.box_iou(torch.from_numpy(b1[1, 2]), torch.from_numpy(b2[2]), fmt=fmt).numpy()
        np.testing.assert_allclose(fastiou.box_iou(b1, b2, fmt=fmt)[1, 2], want,
                                   atol=1e-6)
    bad = b1.copy()
    bad[1, 2, 4, 0] = np.nan
    with pytest.raises(ValueError, match=r"boxes1 has an invalid rotated box at row \[1, 2, 4\]"):
        fastiou.box_iou(bad, b2, fmt=fmt, backend=rbackend)


def test_batched_boxes_at_extreme_scales(rbackend):
    rng = np.random.default_rng(17)
    b = clustered(rng, 2 * 8).reshape(2, 8, 5)
    tiny, huge = b.copy(), b.copy()
    tiny[..., :4] *= 2.0**-700
    huge[1, ..., :4] *= 2.0**700  # batch 1 beyond the safe range, batch 0 not
    for x in (tiny, huge):
        np.testing.assert_array_equal(fastiou.box_iou(x, x, fmt="cxcywhr", backend=rbackend),
                                      fastiou.box_iou(b, b, fmt="cxcywhr", backend=rbackend))


def test_mmcv_box_iou_rotated():
    rng = np.random.default_rng(15)
    b1, b2 = clustered(rng, 20), clustered(rng, 15)
    rad1, rad2 = b1.copy(), b2.copy()
    rad1[:, 4], rad2[:, 4] = np.radians(b1[:, 4]), np.radians(b2[:, 4])
    # clockwise=False: torchvision's counter-clockwise convention, in radians
    np.testing.assert_allclose(fastiou.box_iou_rotated(rad1, rad2, clockwise=False),
                               fastiou.box_iou(b1, b2, fmt="cxcywhr"), atol=1e-12)
    neg1, neg2 = b1.copy(), b2.copy()
    neg1[:, 4] *= -1
    neg2[:, 4] *= -1
    np.testing.assert_allclose(fastiou.box_iou_rotated(rad1, rad2),
                               fastiou.box_iou(neg1, neg2, fmt="cxcywhr"), atol=1e-12)
    np.testing.assert_allclose(fastiou.box_iou_rotated(rad1, rad2, mode="iof", aligned=False),
                               fastiou.box_ioa(neg1, neg2, fmt="cxcywhr"), atol=1e-12)
    assert fastiou.box_iou_rotated(rad1[:15], rad2, aligned=True).shape == (15,)
    with pytest.raises(ValueError, match="bboxes1 has an invalid rotated box at row 0"):
        fastiou.box_iou_rotated([[0, 0, 1, 1, np.nan]], rad2)
    with pytest.raises(ValueError, match="bboxes2 has an invalid rotated box at row 1"):
        fastiou.box_iou_rotated(rad1, [[0, 0, 1, 1, 0], [0, 0, -1, 1, 0]])


# --- NMS -----------------------------------------------------------------------------


def naive_nms(boxes, scores, threshold, labels=None):
    """Greedy NMS over shapely IoU: stable order by decreasing score, suppress IoU > threshold."""
    order = sorted(range(len(scores)), key=lambda i: (-scores[i], i))
    iou = shapely_iou(boxes, boxes)
    dead = np.zeros(len(scores), bool)
    keep = []
    for i in order:
        if dead[i]:
            continue
        keep.append(i)
        for j in order:
            if not dead[j] and j != i and (labels is None or labels[i] == labels[j]) and iou[i, j] > threshold:
                dead[j] = True
        dead[i] = False
    return np.array(keep, np.int64)


@pytest.mark.parametrize("scene", [scattered, clustered])
@pytest.mark.parametrize("threshold", [0.0, 0.3, 0.7])
def test_nms_matches_naive_greedy(rbackend, scene, threshold):
    rng = np.random.default_rng(16)
    b = scene(rng, 200)
    scores = np.round(rng.random(200), 1)  # many ties: lower index first
    got = fastiou.nms(b, scores, threshold, fmt="cxcywhr", backend=rbackend)
    np.testing.assert_array_equal(got, naive_nms(b, scores, threshold))
    np.testing.assert_array_equal(fastiou.nms_rotated(b, scores, threshold, backend=rbackend), got)
    x = fastiou.box_convert(b, "cxcywhr", "xyxyxyxy")
    np.testing.assert_array_equal(fastiou.nms(x, scores, threshold, fmt="xyxyxyxy", backend=rbackend), got)
    np.testing.assert_array_equal(
        fastiou.nms(b.astype(np.float32), scores, threshold, fmt="cxcywhr", backend=rbackend),
        naive_nms(b.astype(np.float32), scores, threshold))


def thin_and_odd(rng, n):
    """Needles, slivers, squares and near-copies of each other: where bounds are loosest."""
    base = clustered(rng, n // 2)
    thin = base.copy()
    thin[:, 2] *= rng.choice([1e-3, 1, 50.0], n // 2)
    copies = thin + rng.normal(0, 1e-4, thin.shape) * [1, 1, 0, 0, 1]
    return np.abs(np.r_[thin, copies]) * [1, 1, 1, 1, np.sign(rng.normal())]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_bound_never_rules_out_a_suppression(dtype):
    """NMS skips the clipping where a bound says IoU <= threshold: on every pair whose
    computed IoU is above the threshold, both bounds (the one from bounding boxes and areas
    alone, and the one from the boxes' frames) must leave it open."""
    from fastiou._rotated_columns import columns
    from fastiou._rotated_formulas import MARGIN_EPS
    from fastiou.backends.numba_cpu_rotated import R

    rng = np.random.default_rng(18)
    b = np.r_[clustered(rng, 60), scattered(rng, 40, spread=30), thin_and_odd(rng, 60)]
    iou = fastiou.box_iou(b.astype(dtype), b.astype(dtype), fmt="cxcywhr")
    c = columns(b, "cxcywhr", np.dtype(dtype))
    margin = dtype(MARGIN_EPS * np.finfo(dtype).eps)
    thresholds = np.unique(np.r_[np.quantile(iou[iou > 0], [0.1, 0.5, 0.9]), 0.5, 1e-6]).astype(dtype)
    half = dtype(0.5)
    checked = ruled_out = coarse_ruled_out = 0
    for t in thresholds:
        for t in (np.nextafter(t, dtype(0)), t):  # a threshold just below a pair's IoU too
            for i, j in zip(*np.nonzero(iou > 0)):
                open_ = R.may_exceed(t, margin, *c[[0, 1, 2, 3, 4, 5, 6, 9, 10, 11, 12], i],
                                   *c[[0, 1, 2, 3, 4, 5, 6, 9, 10, 11, 12], j])
                coarse_open = R.coarse_may_exceed(t, margin, half, c[0, i] - c[0, j], c[1, i] - c[1, j],
                                                  c[7, i], c[8, i], c[6, i], c[9, i] + c[10, i],
                                                  c[7, j], c[8, j], c[6, j], c[9, j] + c[10, j])
                assert open_ or not iou[i, j] > t, (i, j, t, iou[i, j])
                assert coarse_open or not iou[i, j] > t, (i, j, t, iou[i, j])
                checked += 1
                ruled_out += not open_
                coarse_ruled_out += not coarse_open
    assert ruled_out > checked // 4  # and they do rule pairs out
    assert coarse_ruled_out > checked // 10


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_nms_is_greedy_over_its_own_iou(rbackend, dtype):
    """Thresholds equal to (and one ulp below) IoUs of the set: the suppressions are
    exactly the pairs whose IoU, as box_iou computes it, is above the threshold."""
    rng = np.random.default_rng(19)
    b = np.r_[clustered(rng, 300), thin_and_odd(rng, 100)].astype(dtype)
    b[::37, 2] = 0  # boxes of zero width: IoU 0 with every box, never suppressed
    scores = rng.random(len(b))
    labels = rng.integers(0, 3, len(b))
    iou = fastiou.box_iou(b, b, fmt="cxcywhr")
    order = np.argsort(-scores, kind="stable")
    for t in np.r_[np.quantile(iou[iou > 0], [0.2, 0.6, 0.95]), 0.0].astype(dtype):
        for t in (np.nextafter(t, dtype(-1)) if t > 0 else t, t):
            for classes in (np.zeros_like(labels), labels):
                dead = np.zeros(len(b), bool)
                want = []
                for p in order:
                    if not dead[p]:
                        want.append(p)
                        dead |= (iou[p] > t) & (classes == classes[p])
                got = fastiou.batched_nms(b, scores, classes, float(t), fmt="cxcywhr", backend=rbackend)
                np.testing.assert_array_equal(got, want)
            np.testing.assert_array_equal(fastiou.nms(b, scores, float(t), fmt="cxcywhr", backend=rbackend),
                                          fastiou.batched_nms(b, scores, np.zeros_like(labels), float(t),
                                                              fmt="cxcywhr", backend=rbackend))


def test_nms_options_and_batched(rbackend):
    rng = np.random.default_rng(17)
    b = clustered(rng, 150)
    scores = rng.random(150)
    labels = rng.integers(0, 4, 150)
    got = fastiou.batched_nms(b, scores, labels, 0.4, fmt="cxcywhr", backend=rbackend)
    want = np.concatenate([np.flatnonzero(labels == c)[naive_nms(b[labels == c], scores[labels == c], 0.4)]
                           for c in range(4)])
    np.testing.assert_array_equal(got, want[np.argsort(-scores[want], kind="stable")])
    np.testing.assert_array_equal(got, naive_nms(b, scores, 0.4, labels))
    all_kept = fastiou.nms(b, scores, 0.4, fmt="cxcywhr", backend=rbackend)
    np.testing.assert_array_equal(fastiou.nms(b, scores, 0.4, fmt="cxcywhr", max_output=5), all_kept[:5])
    above = fastiou.nms(b, scores, 0.4, fmt="cxcywhr", score_threshold=0.5)
    np.testing.assert_array_equal(above, np.flatnonzero(scores > 0.5)[naive_nms(b[scores > 0.5],
                                                                                  scores[scores > 0.5], 0.4)])
    # a negative threshold: every box suppresses every later one, whatever their distance
    np.testing.assert_array_equal(fastiou.nms(b, scores, -0.1, fmt="cxcywhr"), [np.argmax(scores)])
    assert fastiou.nms(np.empty((0, 5)), np.empty(0), 0.5, fmt="cxcywhr").shape == (0,)
    with pytest.raises(ValueError, match="metric must be 'iou'"):
        fastiou.nms(b, scores, 0.5, fmt="cxcywhr", metric="diou")


# --- properties --------------------------------------------------------------------------


def test_serial_and_parallel_are_bit_identical(rbackend, monkeypatch):
    rng = np.random.default_rng(18)
    b1, b2 = clustered(rng, 70), scattered(rng, 60, 40)
    results = []
    for parallel in (False, True):
        monkeypatch.setattr(backends, "FORCE_PARALLEL", parallel)
        results.append([fn(b1, b2, fmt="cxcywhr", backend=rbackend)
                        for fn in (fastiou.box_iou, fastiou.box_ioa, fastiou.generalized_box_iou)])
    for serial, parallel in zip(*results):
        np.testing.assert_array_equal(serial, parallel)


hypothesis = pytest.importorskip("hypothesis")
from hypothesis import given, settings, strategies as st  # noqa: E402

_coord = st.floats(-100, 100, allow_nan=False, allow_infinity=False)
# zero, or sides shapely measures (it takes a polygon of area 1e-71 as empty)
_size = st.one_of(st.just(0.0), st.floats(1e-3, 50, allow_nan=False, allow_infinity=False))
_angle = st.floats(-1e3, 1e3, allow_nan=False, allow_infinity=False)
_box = st.tuples(_coord, _coord, _size, _size, _angle)


@settings(max_examples=150, deadline=None)
@given(st.lists(_box, min_size=1, max_size=6), st.lists(_box, min_size=1, max_size=6),
       st.tuples(_coord, _coord))
def test_properties(a, b, shift):
    a, b = np.array(a), np.array(b)
    iou = fastiou.box_iou(a, b, fmt="cxcywhr")
    assert np.isfinite(iou).all() and iou.min() >= 0 and iou.max() <= 1
    np.testing.assert_allclose(iou, fastiou.box_iou(b, a, fmt="cxcywhr").T, atol=1e-9)
    np.testing.assert_allclose(iou, shapely_iou(a, b), atol=1e-9)
    giou = fastiou.generalized_box_iou(a, b, fmt="cxcywhr")
    assert np.all(giou <= iou + 1e-12) and np.all(giou > -1 - 1e-12)
    moved_a, moved_b = a.copy(), b.copy()
    moved_a[:, :2] += shift
    moved_b[:, :2] += shift
    np.testing.assert_allclose(fastiou.box_iou(moved_a, moved_b, fmt="cxcywhr"), iou, atol=1e-9)
    positive = a[a[:, 2] * a[:, 3] > 0]
    np.testing.assert_array_equal(np.diagonal(fastiou.box_iou(positive, positive, fmt="cxcywhr")), 1.0)
