"""CUDA NMS (bitmask + greedy scan on the device) vs the CPU backend: identical indices.

The simulator's cost is the mask kernel's pairs (about N^2 / 2 metric calls per
NMS): most tests use 70 boxes (2 mask words, the second partial), and one test
uses 130 boxes (3 words) for what only a third word exercises.
"""

from __future__ import annotations

import numpy as np
import pytest
from numba import cuda

from fastiou import synthetic
from fastiou.backends import numba_cuda_nms
from fastiou.nms import batched_nms, nms


def data(n=70, seed=3, classes=3):
    """Clustered boxes with tied scores (every 7th box scores 0.5) and a few classes.

    70 boxes: 2 mask words of 64 bits, the second partial (6 boxes); 130 boxes: 3 words.
    """
    b, s, _ = synthetic.clustered_boxes(n, seed=seed, n_objects=8)
    s = s.astype(np.float32)
    s[::7] = 0.5
    labels = np.random.default_rng(seed).integers(0, classes, n)
    return b, s, labels


def on_device(*arrays):
    return [cuda.to_device(a) for a in arrays]


# Each metric once and each threshold once: the threshold changes which bits are set, not the code.
@pytest.mark.parametrize("metric,threshold", [("iou", 0.7), ("diou", 0.3)])
def test_nms_identical_to_cpu(metric, threshold):
    b, s, _ = data()
    want = nms(b, s, threshold, metric=metric, backend="numba")
    got = nms(*on_device(b, s), threshold, metric=metric)
    assert got.dtype == np.int64
    np.testing.assert_array_equal(got.copy_to_host(), want)
    assert 5 < len(want) < len(b)  # the threshold suppresses some boxes, not all


@pytest.mark.parametrize("kw", [dict(score_threshold=0.4), dict(max_output=5),
                                dict(score_threshold=0.45, max_output=3)])
def test_nms_options(kw):
    b, s, _ = data()
    want = nms(b, s, 0.5, backend="numba", **kw)
    np.testing.assert_array_equal(nms(*on_device(b, s), 0.5, **kw).copy_to_host(), want)
    np.testing.assert_array_equal(nms(b, s, 0.5, backend="cuda", **kw), want)  # NumPy in, NumPy out


@pytest.mark.parametrize("kw", [{}, dict(max_output=6), dict(score_threshold=0.4), dict(metric="diou")])
def test_batched_nms_identical_to_cpu(kw):
    b, s, labels = data()
    want = batched_nms(b, s, labels, 0.5, backend="numba", **kw)
    got = batched_nms(*on_device(b, s, labels), 0.5, **kw)
    np.testing.assert_array_equal(got.copy_to_host(), want)
    np.testing.assert_array_equal(batched_nms(b, s, labels, 0.5, backend="cuda", **kw), want)
    if not kw:  # classes matter: more boxes survive than without them
        assert len(want) > len(nms(b, s, 0.5, backend="numba"))


def test_three_mask_words():
    """130 boxes: 3 words, the last holding 2 boxes.  The boxes kept in word 0 update
    words 1 and 2 from two threads.  Batched: 3 classes of about 43 boxes in class
    order, so word 2 starts in a class after word 0's last: the mask kernel skips that
    tile and the scan stops before it."""
    b, s, labels = data(130)
    grouped = np.sort(labels)  # the classes in visiting order
    assert grouped[2 * 64] > grouped[64 - 1]
    want = nms(b, s, 0.5, backend="numba")
    np.testing.assert_array_equal(nms(*on_device(b, s), 0.5).copy_to_host(), want)
    want = batched_nms(b, s, labels, 0.5, backend="numba")
    np.testing.assert_array_equal(batched_nms(*on_device(b, s, labels), 0.5).copy_to_host(), want)


def test_scan_with_one_thread(monkeypatch):
    """One thread per block: the scan's loop over the later words goes round (word 0's
    kept boxes update words 1 and 2 from the same thread).  Batched, with one class of
    67 boxes spanning the 3 words after 63 boxes in small classes (cheaper than plain
    NMS: the mask kernel computes pairs within a class only)."""
    from fastiou import _config

    monkeypatch.setattr(_config, "CUDA_THREADS_PER_BLOCK", 1)
    b, s, _ = data(130)
    labels = np.where(np.arange(130) < 63, np.arange(130) % 21, 99)
    grouped = np.sort(labels)
    assert grouped[63] == grouped[-1] == 99
    want = batched_nms(b, s, labels, 0.5, backend="numba")
    np.testing.assert_array_equal(batched_nms(*on_device(b, s, labels), 0.5).copy_to_host(), want)


def test_ties_keep_the_lower_index_first():
    # Identical boxes with equal scores: the lowest index is kept; one per class in batched.
    box = [10.0, 10.0, 20.0, 20.0]
    far = [100.0, 100.0, 110.0, 110.0]
    b = np.array([box, far, box, box, far, box] * 11, np.float64)  # 66 boxes: 2 words
    s = np.ones(len(b))
    s[4::6] = 2.0  # the second copy of `far` in each group of six outranks the rest
    want = nms(b, s, 0.5, backend="numba")
    np.testing.assert_array_equal(want, [4, 0])
    np.testing.assert_array_equal(nms(*on_device(b, s), 0.5).copy_to_host(), want)
    labels = np.arange(len(b)) % 4
    want = batched_nms(b, s, labels, 0.5, backend="numba")
    np.testing.assert_array_equal(batched_nms(*on_device(b, s, labels), 0.5).copy_to_host(), want)


def test_threshold_is_strictly_greater():
    # IoU exactly 0.5 (dyadic coordinates: exact on any device) is not suppressed at 0.5.
    b = np.array([[0, 0, 4, 3], [0, 0, 4, 1.5], [0, 0, 4, 2.25]], np.float32)
    s = np.array([0.9, 0.8, 0.7], np.float32)
    want = nms(b, s, 0.5, backend="numba")
    np.testing.assert_array_equal(want, [0, 1])
    np.testing.assert_array_equal(nms(*on_device(b, s), 0.5).copy_to_host(), want)


def test_labels_of_other_integer_and_float_dtypes():
    b, s, labels = data(70)
    want = batched_nms(b, s, labels, 0.5, backend="numba")
    for lab in (labels.astype(np.int32), labels.astype(np.float64)):
        got = batched_nms(*on_device(b, s, lab), 0.5)
        np.testing.assert_array_equal(got.copy_to_host(), want)


def test_empty_and_all_filtered():
    b, s, labels = data(20)
    for got in (nms(*on_device(b[:0], s[:0]), 0.5),
                nms(*on_device(b, s), 0.5, score_threshold=2.0),
                batched_nms(*on_device(b[:0], s[:0], labels[:0]), 0.5),
                nms(*on_device(b, s), 0.5, max_output=0)):
        assert got.shape == (0,) and got.dtype == np.int64
        assert numba_cuda_nms.Library().view(got) is got  # still a device array


def test_errors_match_the_cpu():
    b, s, labels = data(20)
    s_nan = s.copy()
    s_nan[[4, 9]] = np.nan
    with pytest.raises(ValueError, match="scores must not contain NaN, got NaN at index 4"):
        nms(*on_device(b, s_nan), 0.5)
    bad = b.copy()
    bad[6, 2] = bad[6, 0] - 1
    with pytest.raises(ValueError) as want:
        nms(bad, s, 0.5)
    with pytest.raises(ValueError) as got:
        nms(*on_device(bad, s), 0.5)
    assert str(got.value) == str(want.value)
    with pytest.raises(ValueError, match=r"scores must have shape \(20,\)"):
        nms(*on_device(b, s[:5]), 0.5)
    with pytest.raises(ValueError, match="idxs must hold integer class ids"):
        batched_nms(*on_device(b, s, labels + 0.5), 0.5)
    with pytest.raises(ValueError, match="cannot take CUDA arrays"):
        nms(*on_device(b, s), 0.5, backend="numba")


def test_torch_tensors_in_torch_tensor_out():
    from cuda_helpers import SIMULATOR

    if SIMULATOR:  # before importing PyTorch (seconds) only to skip
        pytest.skip("PyTorch CUDA tensors need a real GPU (not the simulator)")
    torch = pytest.importorskip("torch", reason="PyTorch is not installed")
    if not torch.cuda.is_available():
        pytest.skip("PyTorch CUDA tensors need a real GPU (not the simulator)")
    b, s, labels = data()
    tb, ts, tl = (torch.from_numpy(np.ascontiguousarray(a)).cuda() for a in (b, s, labels))
    got = nms(tb, ts, 0.5)
    assert isinstance(got, torch.Tensor) and got.device == tb.device and got.dtype == torch.int64
    np.testing.assert_array_equal(got.cpu().numpy(), nms(b, s, 0.5, backend="numba"))
    got = batched_nms(tb, ts, tl, 0.5)
    np.testing.assert_array_equal(got.cpu().numpy(), batched_nms(b, s, labels, 0.5, backend="numba"))
    tv = pytest.importorskip("torchvision.ops", reason="torchvision is not installed")
    distinct = torch.from_numpy(np.random.default_rng(1).permutation(len(b)).astype(np.float32)).cuda()
    want = tv.nms(tb, distinct, 0.5).cpu().numpy()
    np.testing.assert_array_equal(nms(tb, distinct, 0.5).cpu().numpy(), want)
