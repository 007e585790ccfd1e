"""CUDA mask kernels (packing, pairwise / aligned mask IoU and Dice, Dice sums) vs the CPU backend."""

from __future__ import annotations

import numpy as np
import pytest
from numba import cuda

import fastiou
from fastiou._mask_formulas import N_INFO
from fastiou.backends import numba_cpu_masks, numba_cuda_masks

METRICS = {"iou": fastiou.mask_iou, "dice": fastiou.mask_dice}


def masks(n, seed, h=5, w=70, density=0.5):
    """Random masks 5 x 70 (two words per row, the second partial), one empty, one full."""
    m = np.random.default_rng(seed).random((n, h, w)) < density
    if n > 2:
        m[1] = False
        m[2] = True
    return m


def is_device(x):
    return numba_cuda_masks.Library().view(x) is x


@pytest.mark.parametrize("metric", METRICS)
def test_pairwise_and_aligned_device_in_device_out(metric):
    m1, m2 = masks(3, 1), masks(5, 2)
    fn = METRICS[metric]
    got = fn(cuda.to_device(m1), cuda.to_device(m2))
    assert is_device(got) and got.shape == (3, 5) and got.dtype == np.float64
    np.testing.assert_array_equal(got.copy_to_host(), fn(m1, m2, backend="numba"))
    got = fn(cuda.to_device(m1), cuda.to_device(m2[:3]), aligned=True)
    np.testing.assert_array_equal(got.copy_to_host(), fn(m1, m2[:3], aligned=True, backend="numba"))


def test_crowd_threshold_dtype_and_single_masks():
    m1, m2 = masks(3, 3), masks(4, 4)
    crowd = np.array([0, 1, 0, 1], bool)
    want = fastiou.mask_iou(m1, m2, iscrowd=crowd, backend="numba")
    got = fastiou.mask_iou(cuda.to_device(m1), cuda.to_device(m2), iscrowd=crowd)
    np.testing.assert_array_equal(got.copy_to_host(), want)
    soft = np.random.default_rng(5).random((2, 5, 70)).astype(np.float32)
    got = fastiou.mask_iou(cuda.to_device(soft), cuda.to_device(soft[::-1].copy()), threshold=0.3)
    assert got.dtype == np.float32  # float32 masks: float32 scores
    np.testing.assert_array_equal(got.copy_to_host(), fastiou.mask_iou(soft, soft[::-1], threshold=0.3))
    got = fastiou.mask_dice(cuda.to_device(m1[0]), cuda.to_device(m2[0].astype(np.uint8)))
    np.testing.assert_array_equal(got.copy_to_host(), fastiou.mask_dice(m1[0], m2[0], backend="numba"))


def test_numpy_in_numpy_out_with_backend_cuda():
    m1, m2 = masks(3, 6), masks(4, 7)
    for fn in METRICS.values():
        got = fn(m1, m2, backend="cuda")
        assert type(got) is np.ndarray
        np.testing.assert_array_equal(got, fn(m1, m2, backend="numba"))


def test_packing_matches_the_cpu_kernel():
    m = masks(4, 8).view(np.uint8)
    m[3] = 0
    m[3, 2, 65] = 1  # one pixel in the second word
    k, h, w = m.shape
    want_bits = np.empty((k, h, 2), np.uint64)
    want_info = np.empty((k, N_INFO), np.int64)
    numba_cpu_masks.pack_dense(m, want_bits, want_info, False)
    bits, info = np.empty_like(want_bits), np.empty_like(want_info)
    numba_cuda_masks.pack_dense(m, bits, info, False)
    np.testing.assert_array_equal(bits, want_bits)
    np.testing.assert_array_equal(info, want_info)


def test_dice_sums_with_backend_cuda():
    # 2 rows (one block each: the simulator's cost is the kernel's syncthreads rounds) of
    # 42 values, which each of the 8 threads sums in turn; the public options each once.
    rng = np.random.default_rng(9)
    p, t = rng.random((1, 2, 6, 7)), rng.random((1, 2, 6, 7)) < 0.5
    for kw in (dict(reduction="none"), dict(threshold=0.5, smooth=1.0)):
        got = fastiou.dice(p, t, backend="cuda", **kw)
        np.testing.assert_allclose(got, fastiou.dice(p, t, backend="numba", **kw), rtol=1e-13, atol=0)


def test_row_sums_squared_in_several_chunks():
    # The squared sums (DiceLoss's squared_pred) and rows split in chunks, the last partial:
    # dice() asks for neither (its chunks are 65536 values long), so the backend is called.
    rng = np.random.default_rng(10)
    pred, target = rng.random((2, 45)), (rng.random((2, 45)) < 0.5).view(np.uint8)
    want = np.zeros((2, 2, 3))  # chunks of 24 values: 24 and 21
    numba_cpu_masks.row_sums(pred, target, 0.0, False, True, 24, want, False)
    got = np.zeros_like(want)
    numba_cuda_masks.row_sums(pred, target, 0.0, False, True, 24, got, False)
    np.testing.assert_allclose(got, want, rtol=1e-13, atol=0)


def test_empty_sets_and_out():
    m = masks(3, 1)
    got = fastiou.mask_iou(cuda.to_device(m[:0]), cuda.to_device(m))
    assert is_device(got) and got.shape == (0, 3)
    out = cuda.device_array((3, 3), np.float64)
    assert fastiou.mask_iou(cuda.to_device(m), cuda.to_device(m), out=out) is out
    np.testing.assert_array_equal(out.copy_to_host(), fastiou.mask_iou(m, m, backend="numba"))


def test_errors_match_the_cpu():
    m = masks(2, 1)
    values = m.astype(np.float32) * 2
    for args in [(values, m), (m, m[:, :, :60]), (m[0, 0], m)]:
        with pytest.raises(ValueError) as want:
            fastiou.mask_iou(*args, backend="numba")
        with pytest.raises(ValueError) as got:
            fastiou.mask_iou(*(cuda.to_device(np.ascontiguousarray(a)) for a in args))
        assert str(got.value) == str(want.value)
    nan = values.copy()
    nan[0, 0, 0] = np.nan
    with pytest.raises(ValueError, match="masks2 has NaN values"):
        fastiou.mask_iou(cuda.to_device(m), cuda.to_device(nan), threshold=0.5)
    with pytest.raises(TypeError, match="masks2 is COCO RLE"):
        fastiou.mask_iou(cuda.to_device(m), fastiou.rle_encode(m))
