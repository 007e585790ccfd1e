"""Mask metrics: mask_iou / mask_dice, COCO RLE, masks_to_boxes, dice and dice_loss.

Every backend is compared with the naive loops of fastiou.reference, with
pycocotools (RLE bytes, decode, iou with and without iscrowd), torchvision
(masks_to_boxes) and MONAI's documented Dice values; dice_loss gradients with
finite differences and torch.autograd.
"""

from __future__ import annotations

import tracemalloc
import warnings

import numpy as np
import pytest

import fastiou
from fastiou import reference
from fastiou.synthetic import clustered_masks

# (N, M, H, W): widths below, at and across 64-pixel words, thin masks.
SHAPES = [(5, 4, 9, 13), (4, 6, 20, 64), (3, 5, 17, 130), (6, 3, 1, 70), (4, 4, 33, 1)]


def random_masks(rng, n, h, w, p=0.35):
    masks = rng.random((n, h, w)) < p
    if n > 1:
        masks[0] = False  # an empty mask
    if n > 2:
        masks[2] = masks[1]  # a duplicate
    return masks


def blobs(n, h, w, seed):
    return clustered_masks(n, height=h, width=w, seed=seed)


def coco_encode(masks):
    mask_api = pytest.importorskip("pycocotools.mask", reason="pycocotools is needed for the parity tests")
    return mask_api.encode(np.asfortranarray(np.asarray(masks).transpose(1, 2, 0).astype(np.uint8)))


# --- mask_iou / mask_dice vs the reference loops -----------------------------------


@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "x".join(map(str, s)))
@pytest.mark.parametrize("metric", ["iou", "dice"])
def test_pairwise_matches_reference(shape, metric, backend, force_parallel):
    n, m, h, w = shape
    rng = np.random.default_rng(sum(shape))
    a, b = random_masks(rng, n, h, w), random_masks(rng, m, h, w, 0.5)
    fn = fastiou.mask_iou if metric == "iou" else fastiou.mask_dice
    want = reference.mask_overlap(a, b, metric)
    got = fn(a, b, backend=backend)
    assert got.dtype == np.float64 and got.shape == (n, m)
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-15)
    k = min(n, m)
    np.testing.assert_allclose(fn(a[:k], b[:k], aligned=True, backend=backend), np.diag(want[:k, :k]),
                               rtol=0, atol=1e-15)


@pytest.mark.parametrize("dense1,dense2", [(True, True), (False, False), (True, False), (False, True)],
                         ids=["dense-dense", "rle-rle", "dense-rle", "rle-dense"])
def test_crowd_and_rle_inputs_match_reference(dense1, dense2, backend, force_parallel):
    a, b = blobs(12, 40, 70, seed=1), blobs(9, 40, 70, seed=2)
    a[3] = False
    crowd = np.arange(9) % 3 == 0
    x1 = a if dense1 else fastiou.rle_encode(a)
    x2 = b if dense2 else fastiou.rle_encode(b)
    for fn, metric, flags in ((fastiou.mask_iou, "iou", crowd), (fastiou.mask_dice, "dice", None)):
        kwargs = {} if flags is None else {"iscrowd": flags}
        want = reference.mask_overlap(a, b, metric, flags)
        np.testing.assert_allclose(fn(x1, x2, backend=backend, **kwargs), want, rtol=0, atol=1e-15)
    aligned_want = np.diag(reference.mask_overlap(a[:9], b, "iou", crowd))
    x1 = a[:9] if dense1 else fastiou.rle_encode(a[:9])
    np.testing.assert_allclose(fastiou.mask_iou(x1, x2, iscrowd=crowd, aligned=True, backend=backend),
                               aligned_want, rtol=0, atol=1e-15)


def band_masks(n, h, w, seed):
    """Masks whose runs wrap from the bottom of a column to the top of the next one."""
    rng = np.random.default_rng(seed)
    out = np.zeros((n, h, w), bool)
    for k in range(n):
        flat = np.zeros(h * w, bool)  # column-major pixels
        start = int(rng.integers(0, h * w))
        flat[start:start + int(rng.integers(1, 3 * h))] = True
        out[k] = flat.reshape(w, h).T
    return out


@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "x".join(map(str, s)))
def test_rle_pairwise_matches_reference(shape, backend, force_parallel):
    # Simple masks (one segment per column: blobs, bands wrapping columns) intersect
    # column by column, the others run by run; every combination is compared.
    n, m, h, w = shape
    rng = np.random.default_rng(sum(shape) + 1)
    a = np.concatenate([random_masks(rng, n, h, w), blobs(n, h, w, seed=1), band_masks(n, h, w, seed=2)])
    b = np.concatenate([band_masks(m, h, w, seed=3), random_masks(rng, m, h, w, 0.6), blobs(m, h, w, seed=4)])
    crowd = rng.random(len(b)) < 0.3
    ra, rb = fastiou.rle_encode(a), fastiou.rle_encode(b)
    want = reference.mask_overlap(a, b, "iou", crowd)
    np.testing.assert_allclose(fastiou.mask_iou(ra, rb, iscrowd=crowd, backend=backend), want,
                               rtol=0, atol=1e-15)
    np.testing.assert_allclose(fastiou.mask_dice(ra, b, backend=backend),
                               reference.mask_overlap(a, b, "dice"), rtol=0, atol=1e-15)
    k = min(len(a), len(b))
    np.testing.assert_allclose(fastiou.mask_iou(a[:k], rb[:k], aligned=True, backend=backend),
                               np.diag(reference.mask_overlap(a[:k], b[:k])), rtol=0, atol=1e-15)


def test_identical_masks_give_exactly_one(backend):
    a = blobs(20, 64, 96, seed=5)
    got = fastiou.mask_iou(a, a, aligned=True, backend=backend)
    assert np.all(got == 1.0)
    assert np.all(fastiou.mask_dice(fastiou.rle_encode(a), a, aligned=True, backend=backend) == 1.0)


def test_empty_masks_and_sets(backend):
    z = np.zeros((2, 6, 7), bool)
    one = np.zeros((1, 6, 7), bool)
    one[0, 2, 3] = True
    for fn in (fastiou.mask_iou, fastiou.mask_dice):
        assert np.all(fn(z, z, backend=backend) == 0)  # zero union: 0, not NaN
        assert np.all(fn(z, one, backend=backend) == 0)
        assert np.all(fn(fastiou.rle_encode(z), fastiou.rle_encode(one), backend=backend) == 0)
        assert fn(np.zeros((0, 6, 7), bool), one, backend=backend).shape == (0, 1)
        assert fn(one, np.zeros((0, 6, 7)), backend=backend).shape == (1, 0)
        assert fn([], one, backend=backend).shape == (0, 1)  # no RLE masks
        assert fn(np.zeros((3, 0, 4)), np.zeros((2, 0, 4)), backend=backend).tolist() == [[0.0] * 2] * 3
    assert fastiou.mask_iou(z, z, iscrowd=[True, True], backend=backend).tolist() == [[0.0, 0.0]] * 2


@pytest.mark.parametrize("in_dtype,out_dtype", [
    (np.bool_, np.float64), (np.uint8, np.float64), (np.int64, np.float64),
    (np.float16, np.float32), (np.float32, np.float32), (np.float64, np.float64),
])
def test_dtype_policy(in_dtype, out_dtype, backend):
    a = random_masks(np.random.default_rng(1), 4, 10, 11).astype(in_dtype)
    got = fastiou.mask_iou(a, a, backend=backend)
    assert got.dtype == out_dtype
    np.testing.assert_allclose(got, reference.mask_overlap(a, a), atol=1e-7)
    assert fastiou.mask_iou(a, a, dtype=np.float32).dtype == np.float32
    assert fastiou.mask_iou(fastiou.rle_encode(a.astype(bool)), a).dtype == np.float64


def test_layouts_and_inputs_untouched(backend):
    rng = np.random.default_rng(2)
    base = random_masks(rng, 6, 15, 70).astype(np.uint8)
    want = reference.mask_overlap(base, base)
    fortran = np.asfortranarray(base)
    strided = np.repeat(base, 2, axis=2)[:, :, ::2]
    readonly = base.copy()
    readonly.setflags(write=False)
    before = base.copy()
    for variant in (fortran, strided, readonly, base.tolist(), base.astype(">i4")):
        np.testing.assert_allclose(fastiou.mask_iou(variant, base, backend=backend), want, atol=1e-15)
    assert np.array_equal(base, before)
    single = fastiou.mask_iou(base[1], base, backend=backend)
    np.testing.assert_allclose(single, want[1:2], atol=1e-15)


def test_out_argument(backend):
    a = blobs(5, 20, 30, seed=3)
    out = np.full((5, 5), -1.0, dtype=np.float32)
    res = fastiou.mask_iou(a, a, out=out, dtype=np.float32, backend=backend)
    assert res is out
    np.testing.assert_allclose(out, reference.mask_overlap(a, a), atol=1e-7)
    transposed = np.full((5, 5), -1.0).T  # a strided output
    fastiou.mask_dice(a, a, out=transposed, backend=backend)
    np.testing.assert_allclose(transposed, reference.mask_overlap(a, a, "dice"), atol=1e-15)


def test_threshold_and_non_binary_values():
    soft = np.random.default_rng(3).random((3, 8, 9))
    with pytest.raises(ValueError, match="masks1 must be binary.*threshold"):
        fastiou.mask_iou(soft, soft > 0.5)
    with pytest.raises(ValueError, match="masks2 must be binary"):
        fastiou.mask_iou(soft > 0.5, (soft > 0.5) * 255)
    got = fastiou.mask_iou(soft, soft, threshold=0.5)
    np.testing.assert_allclose(got, reference.mask_overlap(soft > 0.5, soft > 0.5), atol=1e-15)
    nan = soft.copy()
    nan[0, 0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        fastiou.mask_iou(nan, soft, threshold=0.5)
    with pytest.raises(ValueError, match="masks1 must be binary"):
        fastiou.mask_iou(nan, soft > 0.5)
    with pytest.raises(ValueError, match="threshold"):
        fastiou.mask_iou(soft, soft, threshold=float("inf"))


def test_shape_and_type_errors():
    a = np.zeros((2, 4, 5), bool)
    with pytest.raises(ValueError, match=r"masks1 and masks2 must have the same height and width"
                                         r".*\(2, 4, 5\).*\(2, 4, 6\)"):
        fastiou.mask_iou(a, np.zeros((2, 4, 6), bool))
    with pytest.raises(ValueError, match=r"aligned=True.*\(2, 4, 5\) and \(3, 4, 5\)"):
        fastiou.mask_iou(a, np.zeros((3, 4, 5), bool), aligned=True)
    with pytest.raises(ValueError, match=r"masks2 must have shape \(H, W\) or \(N, H, W\)"):
        fastiou.mask_dice(a, np.zeros((1, 2, 4, 5)))
    with pytest.raises(TypeError, match="masks1"):
        fastiou.mask_iou("mask", a)
    with pytest.raises(ValueError, match=r"iscrowd must have shape \(2,\)"):
        fastiou.mask_iou(a, a, iscrowd=[0, 1, 0])
    with pytest.raises(ValueError, match="iscrowd must hold booleans"):
        fastiou.mask_iou(a, a, iscrowd=[0, 2])
    with pytest.raises(ValueError, match=r"same height and width.*\(1, 3, 3\)"):
        fastiou.mask_iou(fastiou.rle_encode(np.zeros((3, 3), bool)), a)
    with pytest.raises(ValueError, match="backend"):
        fastiou.mask_iou(a, a, backend="gpu")


def test_no_pairwise_pixel_temporary():
    # 40 x 40 masks of 256 x 256: a broadcast intersection would take 105 MB.
    a, b = blobs(40, 256, 256, seed=6), blobs(40, 256, 256, seed=7)
    fastiou.mask_iou(a[:2], b[:2])  # compile outside the measurement
    tracemalloc.start()
    fastiou.mask_iou(a, b)
    fastiou.mask_iou(fastiou.rle_encode(a), b)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert peak < a.nbytes + b.nbytes  # O(N H W + M H W + N M), far below N M H W


# --- COCO RLE ------------------------------------------------------------------------


@pytest.mark.parametrize("shape", [(6, 1, 1), (5, 7, 3), (4, 40, 70), (3, 513, 257)], ids=str)
def test_rle_encode_matches_pycocotools(shape, backend, force_parallel):
    n, h, w = shape
    rng = np.random.default_rng(h * w)
    masks = np.concatenate([random_masks(rng, n, h, w), blobs(n, h, w, seed=h),
                            np.ones((1, h, w), bool)])
    want = coco_encode(masks)
    got = fastiou.rle_encode(masks, backend=backend)
    assert got == want  # same sizes, byte-identical counts
    assert [fastiou.rle_encode(m, backend=backend) for m in masks] == want
    assert [r["counts"] for r in got] == [reference.rle_string(reference.rle_runs(m)) for m in masks]


@pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")  # pycocotools' own
def test_rle_decode_matches_pycocotools(backend, force_parallel):
    mask_api = pytest.importorskip("pycocotools.mask", reason="pycocotools is needed for the parity tests")
    masks = np.concatenate([blobs(7, 300, 200, seed=9), random_masks(np.random.default_rng(9), 3, 300, 200)])
    rles = coco_encode(masks)
    got = fastiou.rle_decode(rles, backend=backend)
    assert got.dtype == bool and got.shape == masks.shape
    assert np.array_equal(got, mask_api.decode(rles).transpose(2, 0, 1))
    assert np.array_equal(got, masks)
    assert np.array_equal(fastiou.rle_decode(rles[4], backend=backend), masks[4])
    as_str = [{"size": r["size"], "counts": r["counts"].decode("ascii")} for r in rles]
    assert np.array_equal(fastiou.rle_decode(as_str, backend=backend), masks)
    for r, m in zip(rles, masks):
        assert np.array_equal(reference.rle_decode(r), m)


def test_uncompressed_rle(backend):
    masks = blobs(4, 30, 20, seed=11)
    runs = [{"size": [30, 20], "counts": reference.rle_runs(m)} for m in masks]
    assert np.array_equal(fastiou.rle_decode(runs, backend=backend), masks)
    mixed = [runs[0], fastiou.rle_encode(masks[1]), runs[2], fastiou.rle_encode(masks[3])]
    assert np.array_equal(fastiou.rle_decode(mixed, backend=backend), masks)
    np.testing.assert_allclose(fastiou.mask_iou(mixed, masks, backend=backend),
                               reference.mask_overlap(masks, masks), atol=1e-15)
    mask_api = pytest.importorskip("pycocotools.mask", reason="pycocotools is needed for the parity tests")
    compressed = mask_api.frPyObjects(runs, 30, 20)
    assert [r["counts"] for r in compressed] == [r["counts"] for r in fastiou.rle_encode(masks)]


def test_rle_round_trip_and_edge_sizes(backend):
    for shape in [(2, 0, 5), (2, 5, 0), (3, 1, 1), (0, 4, 4)]:
        masks = np.ones(shape, bool)
        rles = fastiou.rle_encode(masks, backend=backend)
        assert len(rles) == shape[0]
        if shape[0]:
            assert fastiou.rle_decode(rles, backend=backend).shape == shape
    assert fastiou.rle_decode([], backend=backend).shape == (0, 0, 0)
    m = blobs(5, 64, 64, seed=12)
    assert np.array_equal(fastiou.rle_decode(fastiou.rle_encode(m, backend=backend), backend=backend), m)
    # counts above 2**32 (seven-character numbers) and negative differences
    counts = [10, 4_899_999_980, 5, 5]
    big = {"size": [70000, 70000], "counts": reference.rle_string(counts)}
    assert reference.rle_string_runs(big["counts"]) == counts
    assert fastiou.mask_iou([big], [big], backend=backend).tolist() == [[1.0]]
    assert fastiou.mask_iou(big, {"size": [70000, 70000], "counts": counts}, iscrowd=[True],
                            backend=backend).tolist() == [[1.0]]


def test_rle_errors():
    good = fastiou.rle_encode(np.eye(4, dtype=bool))
    with pytest.raises(ValueError, match=r"rles\[1\] must be a COCO RLE with keys"):
        fastiou.rle_decode([good, {"counts": b"1"}])
    with pytest.raises(ValueError, match=r"every mask of masks2 must have the same size"):
        fastiou.mask_iou(good, [good, {"size": [4, 5], "counts": b"0T"}])
    with pytest.raises(ValueError, match=r"not a valid RLE of a 4 x 4 mask \(its runs cover 3 pixels\)"):
        fastiou.rle_decode({"size": [4, 4], "counts": [1, 2]})
    with pytest.raises(ValueError, match="characters 48-111"):
        fastiou.mask_iou({"size": [4, 4], "counts": b"\x01"}, good)
    with pytest.raises(ValueError, match="non-negative integers"):
        fastiou.rle_decode({"size": [2, 2], "counts": [2, -1, 3]})
    with pytest.raises(ValueError, match=r"\['size'\]"):
        fastiou.rle_decode({"size": "44", "counts": b"0"})
    with pytest.raises(TypeError, match="rles"):
        fastiou.rle_decode(np.zeros((2, 2)))


def test_mask_iou_matches_pycocotools(backend, force_parallel):
    mask_api = pytest.importorskip("pycocotools.mask", reason="pycocotools is needed for the parity tests")
    dt = np.concatenate([blobs(30, 120, 90, seed=13), random_masks(np.random.default_rng(13), 5, 120, 90)])
    gt = np.concatenate([blobs(20, 120, 90, seed=14), np.zeros((1, 120, 90), bool)])
    rle_dt, rle_gt = coco_encode(dt), coco_encode(gt)
    for crowd in ([0] * len(gt), (np.arange(len(gt)) % 4 == 1).astype(int).tolist()):
        want = mask_api.iou(rle_dt, rle_gt, crowd)
        np.testing.assert_allclose(fastiou.mask_iou(rle_dt, rle_gt, iscrowd=crowd, backend=backend), want,
                                   rtol=0, atol=1e-15)
        np.testing.assert_allclose(fastiou.mask_iou(dt, gt, iscrowd=crowd, backend=backend), want,
                                   rtol=0, atol=1e-15)


# --- masks_to_boxes ------------------------------------------------------------------


def test_masks_to_boxes_matches_torchvision_and_reference(backend, force_parallel):
    torch = pytest.importorskip("torch", reason="torchvision parity needs torch")
    ops = pytest.importorskip("torchvision.ops", reason="torchvision parity needs torchvision")
    rng = np.random.default_rng(15)
    masks = np.concatenate([blobs(9, 50, 130, seed=15), random_masks(rng, 4, 50, 130, 0.01),
                            np.zeros((1, 50, 130), bool)])
    masks[-2] = False
    masks[-2, 49, 129] = True  # the last pixel only
    got = fastiou.masks_to_boxes(masks, backend=backend)
    assert got.dtype == np.float32 and got.shape == (len(masks), 4)
    np.testing.assert_array_equal(got, ops.masks_to_boxes(torch.from_numpy(masks)).numpy())
    np.testing.assert_array_equal(got, reference.masks_to_boxes(masks))
    assert got[-1].tolist() == [0, 0, 0, 0]
    soft = masks * rng.uniform(0.1, 2.0, masks.shape)
    np.testing.assert_array_equal(fastiou.masks_to_boxes(soft, threshold=0, backend=backend),
                                  ops.masks_to_boxes(torch.from_numpy(soft)).numpy())
    assert fastiou.masks_to_boxes(masks[0], dtype=np.float64).tolist() == got[0].tolist()
    assert fastiou.masks_to_boxes(np.zeros((0, 3, 3))).shape == (0, 4)
    assert fastiou.masks_to_boxes(np.zeros((2, 0, 3))).tolist() == [[0, 0, 0, 0]] * 2


# --- dice ------------------------------------------------------------------------------


def test_dice_monai_documented_case(backend):
    # MONAI's DiceMetric example: pred [[1, 0], [0, 1]] vs target [[1, 0], [1, 1]] -> 0.8
    assert float(fastiou.dice([[1, 0], [0, 1]], [[1, 0], [1, 1]], backend=backend)) == pytest.approx(0.8)
    pred = np.array([[[[1, 0], [0, 1]]]], dtype=np.float32)
    target = np.array([[[[1, 0], [1, 1]]]], dtype=np.float32)
    assert fastiou.dice(pred, target, reduction="none", backend=backend).tolist() == [[pytest.approx(0.8)]]


@pytest.mark.parametrize("shape", [(7, 9), (4, 7, 9), (3, 2, 7, 9), (2, 2, 260, 260)], ids=str)
@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.uint8, np.bool_])
def test_dice_matches_reference(shape, dtype, backend, force_parallel):
    rng = np.random.default_rng(len(shape))
    pred = rng.random(shape)
    pred = pred.astype(dtype) if np.dtype(dtype).kind == "f" else (pred > 0.6).astype(dtype)
    target = (rng.random(shape) < 0.4).astype(np.uint8)
    lead = shape[:-2]
    flat_p = pred.reshape((-1,) + shape[-2:])
    flat_t = target.reshape((-1,) + shape[-2:])
    want = np.array([reference.dice(p, t, smooth=0.5) for p, t in zip(flat_p, flat_t)]).reshape(lead)
    got = fastiou.dice(pred, target, smooth=0.5, reduction="none", backend=backend)
    out_dtype = np.float32 if dtype == np.float32 else np.float64
    tol = 1e-6 if out_dtype == np.float32 else 1e-12
    assert np.shape(got) == lead and got.dtype == out_dtype
    np.testing.assert_allclose(got, want, rtol=tol)
    assert fastiou.dice(pred, target, smooth=0.5, backend=backend) == pytest.approx(want.mean(), rel=tol)
    assert fastiou.dice(pred, target, smooth=0.5, reduction="sum", backend=backend) == pytest.approx(
        want.sum(), rel=tol)
    if len(shape) == 4:
        np.testing.assert_allclose(fastiou.dice(pred, target, smooth=0.5, reduction="mean_batch",
                                                backend=backend), want.mean(axis=0), rtol=tol)


def test_dice_threshold_and_soft_values(backend):
    rng = np.random.default_rng(16)
    prob = rng.random((3, 12, 10))
    target = rng.random((3, 12, 10)) < 0.5
    hard = fastiou.dice(prob, target, threshold=0.5, reduction="none", backend=backend)
    np.testing.assert_allclose(hard, [reference.dice(p > 0.5, t) for p, t in zip(prob, target)], rtol=1e-12)
    soft = fastiou.dice(prob, target, reduction="none", backend=backend)
    np.testing.assert_allclose(soft, [reference.dice(p, t) for p, t in zip(prob, target)], rtol=1e-12)
    assert not np.allclose(hard, soft)


def test_dice_empty_masks(backend):
    z = np.zeros((2, 4, 4))
    one = np.zeros((2, 4, 4))
    one[0, 1, 1] = 1
    assert fastiou.dice(z, z, reduction="none", backend=backend).tolist() == [1.0, 1.0]
    assert fastiou.dice(z, z, smooth=1.0, reduction="none", backend=backend).tolist() == [1.0, 1.0]
    assert fastiou.dice(z, one, reduction="none", backend=backend).tolist() == [0.0, 1.0]
    assert fastiou.dice(z, z, empty_score=0.0, reduction="none", backend=backend).tolist() == [0.0, 0.0]
    marked = fastiou.dice(one, one, empty_score=np.nan, reduction="none", backend=backend)
    assert marked[0] == 1.0 and np.isnan(marked[1])
    assert fastiou.dice(one, one, empty_score=np.nan, backend=backend) == 1.0  # NaN entry left out
    assert fastiou.dice(z, z, empty_score=np.nan, backend=backend) == 0.0  # mean of no entries
    assert fastiou.dice(np.zeros((0, 4, 4)), np.zeros((0, 4, 4)), backend=backend) == 0.0
    assert fastiou.dice(np.zeros((0, 4, 4)), np.zeros((0, 4, 4)), reduction="none").shape == (0,)
    assert fastiou.dice(np.zeros((2, 0, 4)), np.zeros((2, 0, 4)), reduction="none").tolist() == [1.0, 1.0]
    nan = one.copy()
    nan[0, 0, 0] = np.nan
    assert np.isnan(fastiou.dice(nan, one, reduction="none", backend=backend)[0])  # NaN input stays NaN


def test_dice_label_maps(backend):
    rng = np.random.default_rng(17)
    labels_p = rng.integers(0, 4, (3, 10, 11))
    labels_t = rng.integers(0, 4, (3, 10, 11))
    onehot_p = (labels_p[:, None] == np.arange(4)[:, None, None]).astype(np.float32)
    want = np.array([[reference.dice(labels_p[i] == c, labels_t[i] == c) for c in range(4)]
                     for i in range(3)])
    got = fastiou.dice(labels_p, labels_t, num_classes=4, reduction="none", backend=backend)
    np.testing.assert_allclose(got, want, rtol=1e-12)
    got = fastiou.dice(onehot_p, labels_t[:, None], num_classes=4, reduction="none", backend=backend)
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, want, rtol=1e-6)
    got = fastiou.dice(labels_p, labels_t.astype(float), num_classes=4, include_background=False,
                       reduction="mean_batch", backend=backend)
    np.testing.assert_allclose(got, want[:, 1:].mean(axis=0), rtol=1e-12)
    with pytest.raises(ValueError, match=r"class indices in \[0, 4\)"):
        fastiou.dice(labels_p, labels_t + 1, num_classes=4)
    with pytest.raises(ValueError, match="integer class indices"):
        fastiou.dice(labels_p, labels_t + 0.5, num_classes=4)
    with pytest.raises(ValueError, match=r"\(N, 4, H, W\)"):
        fastiou.dice(onehot_p[:, :3], labels_t, num_classes=4)


def test_dice_errors_and_background_warning():
    a = np.zeros((2, 3, 4, 4))
    with pytest.raises(ValueError, match=r"same shape.*\(2, 3, 4, 4\) and \(2, 3, 4, 5\)"):
        fastiou.dice(a, np.zeros((2, 3, 4, 5)))
    with pytest.raises(ValueError, match="reduction"):
        fastiou.dice(a, a, reduction="max")
    with pytest.raises(ValueError, match="smooth"):
        fastiou.dice(a, a, smooth=-1)
    with pytest.raises(ValueError, match="include_background=False needs a class axis"):
        fastiou.dice(a[0], a[0], include_background=False)
    with pytest.raises(ValueError, match=r"pred must have shape"):
        fastiou.dice(np.zeros(5), np.zeros(5))
    with pytest.raises(TypeError, match="pred"):
        fastiou.dice("x", a)
    with pytest.warns(UserWarning, match="single channel"):
        assert fastiou.dice(a[:, :1], a[:, :1], include_background=False) == 1.0


# --- dice_loss -------------------------------------------------------------------------

X1 = [[[[1.0, -1.0], [-1.0, 1.0]]]]
Y1 = [[[[1.0, 0.0], [1.0, 1.0]]]]
X2 = [[[[1.0, -1.0], [-1.0, 1.0]]], [[[1.0, -1.0], [-1.0, 1.0]]]]
Y2 = [[[[1.0, 1.0], [1.0, 1.0]]], [[[1.0, 0.0], [1.0, 0.0]]]]
X3 = [[[-1.0, 0.0, 1.0], [1.0, 0.0, -1.0]], [[0.0, 0.0, 0.0], [0.0, 0.0, 0.0]]]
Y3 = [[[1.0, 0.0, 0.0]], [[1.0, 1.0, 0.0]]]

# MONAI's documented DiceLoss values (monai/tests/test_dice_loss.py), those without other_act.
MONAI_CASES = [
    (dict(sigmoid=True, smooth_nr=1e-6, smooth_dr=1e-6), X1, Y1, 0.307576),
    (dict(sigmoid=True, smooth_nr=1e-4, smooth_dr=1e-4), X2, Y2, 0.416657),
    (dict(include_background=False, to_onehot_y=True, smooth_nr=0, smooth_dr=0),
     [[[1.0, 1.0, 0.0], [0.0, 0.0, 1.0]], [[1.0, 0.0, 1.0], [0.0, 1.0, 0.0]]],
     [[[0.0, 0.0, 1.0]], [[0.0, 1.0, 0.0]]], 0.0),
    (dict(to_onehot_y=True, sigmoid=True, smooth_nr=1e-4, smooth_dr=1e-4), X3, Y3, 0.435050),
    (dict(to_onehot_y=True, sigmoid=True, reduction="none", smooth_nr=1e-4, smooth_dr=1e-4), X3, Y3,
     [[0.296529, 0.415136], [0.599976, 0.428559]]),
    (dict(to_onehot_y=True, softmax=True, smooth_nr=1e-4, smooth_dr=1e-4), X3, Y3, 0.383713),
    (dict(to_onehot_y=True, softmax=True, reduction="sum", smooth_nr=1e-4, smooth_dr=1e-4), X3, Y3, 1.534853),
    (dict(sigmoid=True, squared_pred=True), X1, Y1, 0.178337),
    (dict(sigmoid=True, jaccard=True), X1, Y1, 0.470451),
]


@pytest.mark.parametrize("kwargs,x,y,expected", MONAI_CASES)
def test_dice_loss_monai_documented_values(kwargs, x, y, expected):
    np.testing.assert_allclose(fastiou.dice_loss(x, y, **kwargs), expected, rtol=1e-5, atol=1e-6)


def torch_dice_loss(torch, x, y, *, sigmoid=False, softmax=False, to_onehot_y=False,
                    include_background=True, squared_pred=False, jaccard=False, smooth_nr=1e-5,
                    smooth_dr=1e-5, batch=False, weight=None, reduction="mean"):
    """MONAI's DiceLoss formula written with torch operations (the autograd oracle)."""
    p = torch.sigmoid(x) if sigmoid else torch.softmax(x, 1) if softmax else x
    if to_onehot_y:
        y = torch.nn.functional.one_hot(y[:, 0].long(), x.shape[1]).movedim(-1, 1).to(x.dtype)
    if not include_background:
        p, y = p[:, 1:], y[:, 1:]
    axes = list(range(2, p.ndim))
    if batch:
        axes = [0] + axes
    inter = (p * y).sum(axes)
    den = (p**2 if squared_pred else p).sum(axes) + (y**2 if squared_pred else y).sum(axes)
    if jaccard:
        den = 2 * (den - inter)
    loss = 1 - (2 * inter + smooth_nr) / (den + smooth_dr)
    if weight is not None:
        loss = loss * torch.as_tensor(weight, dtype=loss.dtype)
    return loss.mean() if reduction == "mean" else loss.sum() if reduction == "sum" else loss


GRAD_OPTIONS = [
    dict(),
    dict(sigmoid=True),
    dict(softmax=True),
    dict(softmax=True, include_background=False, reduction="sum"),
    dict(sigmoid=True, squared_pred=True, batch=True),
    dict(sigmoid=True, jaccard=True, weight=[0.5, 2.0, 1.0]),
    dict(softmax=True, to_onehot_y=True, reduction="none", smooth_nr=0.0, smooth_dr=1e-3),
    dict(jaccard=True, squared_pred=True, include_background=False, batch=True, weight=[1.0, 3.0]),
]


def _loss_inputs(options, shape=(2, 3, 4, 5), seed=18):
    rng = np.random.default_rng(seed)
    activated = options.get("sigmoid") or options.get("softmax")
    x = rng.normal(0, 2, shape) if activated else rng.random(shape)
    if options.get("to_onehot_y"):
        y = rng.integers(0, shape[1], (shape[0], 1) + shape[2:]).astype(np.float64)
    else:
        y = (rng.random(shape) < 0.4).astype(np.float64)
    return x, y


@pytest.mark.parametrize("options", GRAD_OPTIONS, ids=lambda o: ",".join(o) or "default")
def test_dice_loss_matches_torch_autograd(options):
    torch = pytest.importorskip("torch", reason="autograd comparison needs torch")
    x, y = _loss_inputs(options)
    value, grad = fastiou.dice_loss(x, y, return_grad=True, **options)
    assert grad.shape == x.shape and grad.dtype == np.float64
    tx = torch.tensor(x, requires_grad=True)
    tv = torch_dice_loss(torch, tx, torch.tensor(y), **options)
    tv.sum().backward()
    np.testing.assert_allclose(value, tv.detach().numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(grad, tx.grad.numpy(), rtol=1e-9, atol=1e-12)
    np.testing.assert_array_equal(fastiou.dice_loss(x, y, **options), value)


@pytest.mark.parametrize("options", GRAD_OPTIONS, ids=lambda o: ",".join(o) or "default")
def test_dice_loss_gradient_finite_differences(options):
    x, y = _loss_inputs(options, shape=(2, 3, 3, 2), seed=19)
    _, grad = fastiou.dice_loss(x, y, return_grad=True, **options)
    h = 1e-6
    numeric = np.zeros_like(x)
    for idx in np.ndindex(x.shape):
        up, down = x.copy(), x.copy()
        up[idx] += h
        down[idx] -= h
        numeric[idx] = (np.sum(fastiou.dice_loss(up, y, **options))
                        - np.sum(fastiou.dice_loss(down, y, **options))) / (2 * h)
    np.testing.assert_allclose(grad, numeric, rtol=1e-5, atol=1e-7)


def test_dice_loss_dtypes_shapes_and_errors():
    x, y = _loss_inputs(dict(sigmoid=True))
    value, grad = fastiou.dice_loss(x.astype(np.float32), y.astype(np.float32), sigmoid=True,
                                    return_grad=True)
    assert isinstance(value, np.float32) and grad.dtype == np.float32
    assert fastiou.dice_loss(x, y, reduction="none").shape == (2, 3)
    assert fastiou.dice_loss(x, y, reduction="none", batch=True).shape == (3,)
    volume = np.random.default_rng(20).random((2, 2, 3, 4, 5))
    assert fastiou.dice_loss(volume, volume > 0.5, return_grad=True)[1].shape == volume.shape
    # empty prediction and target with no smoothing: loss 0 (MONAI gives NaN), gradient 0
    value, grad = fastiou.dice_loss(np.zeros((1, 1, 2, 2)), np.zeros((1, 1, 2, 2)), smooth_nr=0, smooth_dr=0,
                                    return_grad=True)
    assert value == 0.0 and np.all(grad == 0)
    logits = np.array([[[[1000.0, -1000.0]], [[-1000.0, 1000.0]]]])
    value, grad = fastiou.dice_loss(logits, [[[[1.0, 0.0]], [[0.0, 1.0]]]], softmax=True, return_grad=True)
    assert np.isfinite(value) and np.all(np.isfinite(grad))
    with pytest.raises(ValueError, match="sigmoid=True and softmax=True"):
        fastiou.dice_loss(x, y, sigmoid=True, softmax=True)
    with pytest.raises(ValueError, match=r"target must have the shape of input"):
        fastiou.dice_loss(x, y[:, :2])
    with pytest.raises(ValueError, match=r"input must have shape \(N, C, \.\.\.\)"):
        fastiou.dice_loss(x[0, 0], y[0, 0])
    with pytest.raises(ValueError, match="weight must have one value per class"):
        fastiou.dice_loss(x, y, weight=[1.0, 2.0])
    with pytest.raises(ValueError, match="weight must be non-negative"):
        fastiou.dice_loss(x, y, weight=[1.0, -2.0, 1.0])
    with pytest.raises(ValueError, match="reduction"):
        fastiou.dice_loss(x, y, reduction="mean_batch")
    with pytest.raises(TypeError, match="sigmoid"):
        fastiou.dice_loss(x, y, sigmoid=1)
    single = x[:, :1]
    for flag in ("softmax", "to_onehot_y", "include_background"):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            fastiou.dice_loss(single, y[:, :1], **{flag: flag != "include_background"})
        assert any("single channel" in str(w.message) for w in caught), flag


def test_rle_lists_are_checked_once_and_small_calls_take_the_fast_path(monkeypatch):
    """Each RLE argument is checked once, whichever path the call takes; the small-input fast
    path is tried for small lists or tuples of RLEs with the defaults, and not for large
    calls (more work than it takes) or with ``iscrowd``."""
    from fastiou import _validate, masks

    both = clustered_masks(7, height=37, width=53, seed=4)
    rles1, rles2 = fastiou.rle_encode(both[:3]), fastiou.rle_encode(both[3:])
    expected = fastiou.mask_iou(rles1, rles2, backend="numba")
    checked, tried = [], []
    as_rles, small = _validate.as_rles, masks._small_rle_overlap
    monkeypatch.setattr(_validate, "as_rles", lambda x, name: checked.append(name) or as_rles(x, name))
    monkeypatch.setattr(masks, "_small_rle_overlap", lambda *a: tried.append(True) or small(*a))
    for kwargs, fast in (({}, True), ({"iscrowd": [0] * 4}, False)):
        for args in ((rles1, rles2), (tuple(rles1), tuple(rles2))):
            checked.clear(), tried.clear()
            np.testing.assert_array_equal(fastiou.mask_iou(*args, **kwargs), expected)
            assert checked == ["masks1", "masks2"] and tried == [True] * fast
    monkeypatch.setattr(masks, "_SMALL_RLE_WORK", 10)  # this call is now large
    checked.clear(), tried.clear()
    np.testing.assert_array_equal(fastiou.mask_iou(rles1, rles2), expected)
    assert checked == ["masks1", "masks2"] and not tried


@pytest.mark.parametrize("n,m", [(1, 1), (3, 7), (10, 10)])
def test_small_rle_fast_path_equals_the_general_path(n, m):
    """Small lists of compressed RLE take one call into the Cython extension (where built);
    its matrices are the general path's, bit for bit, for IoU and Dice."""
    from fastiou import masks

    both = clustered_masks(n + m, height=37, width=53, seed=n + m)
    both[0] = 0  # an empty mask
    both[-1] = 1  # a full one
    rles1, rles2 = fastiou.rle_encode(both[:n]), fastiou.rle_encode(both[n:])
    before = [dict(r) for r in rles1]

    def small(code, rles1, rles2):  # the fast path, on sets checked as mask_iou checks them
        return masks._small_rle_overlap(code, *masks._pair(rles1, rles2, None, False))

    for code, overlap in ((0, fastiou.mask_iou), (1, fastiou.mask_dice)):
        fast = small(code, rles1, rles2)
        if fastiou.backends.serial_entry("small_rle_overlap") is None:
            pytest.skip("the Cython extension is not built: no fast path")
        assert fast is not None and fast.dtype == np.float64 and fast.shape == (n, m)
        np.testing.assert_array_equal(fast, overlap(rles1, rles2, backend="numba"))
        np.testing.assert_array_equal(overlap(rles1, rles2), fast)
    assert rles1 == before  # the input is not modified
    # what the fast path leaves to the general path, which gives the same answer or error
    as_str = [{"size": r["size"], "counts": r["counts"].decode()} for r in rles1]  # as in JSON: taken too
    np.testing.assert_array_equal(small(0, as_str, rles2), fastiou.mask_iou(rles1, rles2))
    uncompressed = [{"size": [37, 53], "counts": [37 * 53]}]  # run lengths: an empty mask
    assert small(0, uncompressed, rles2) is None
    np.testing.assert_array_equal(fastiou.mask_iou(uncompressed, rles2), np.zeros((1, m)))
    other = fastiou.rle_encode(np.zeros((1, 37, 54), np.uint8))
    with pytest.raises(ValueError, match="must have the same height and width"):
        fastiou.mask_iou(rles1, other)
