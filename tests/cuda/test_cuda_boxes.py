"""CUDA box metrics vs the CPU backend: pairwise, aligned, formats, dtypes, empty, degenerate, errors."""

from __future__ import annotations

import numpy as np
import pytest
from cuda_helpers import SIMULATOR, assert_matches
from numba import cuda

import fastiou
from fastiou import backends, synthetic
from fastiou.backends import numba_cuda

METRICS = {
    "iou": fastiou.box_iou,
    "ioa": fastiou.box_ioa,
    "giou": fastiou.generalized_box_iou,
    "diou": fastiou.distance_box_iou,
    "ciou": fastiou.complete_box_iou,
}


def boxes(n, seed, dtype=np.float32):
    """Clustered boxes with degenerate ones mixed in (zero width/height, points, duplicates)."""
    b = synthetic.clustered_boxes(n, seed=seed, dtype=np.float64)[0]
    d = synthetic.degenerate_boxes(n, seed=seed, dtype=np.float64)[0] * 16
    b[::3] = d[::3]
    return b.astype(dtype)


def cpu(fn, *args, **kwargs):
    return fn(*args, backend="numba", **kwargs)


def is_device(x):
    return numba_cuda.Library().view(x) is x  # a Numba device array passes through unwrapped


@pytest.mark.parametrize("metric", METRICS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_pairwise_device_in_device_out(metric, dtype):
    # 9 x 13 with 2 x 4 tiles: 4 column blocks (the last holding one column), 5 row
    # blocks in a grid of 2 (the rows loop round).
    b1, b2 = boxes(9, 1, dtype), boxes(13, 2, dtype)
    got = METRICS[metric](cuda.to_device(b1), cuda.to_device(b2))
    assert is_device(got) and got.shape == (9, 13) and got.dtype == dtype
    assert_matches(got.copy_to_host(), cpu(METRICS[metric], b1, b2), exact=metric != "ciou")


@pytest.mark.parametrize("metric", METRICS)
def test_aligned(metric):
    b1, b2 = boxes(19, 3), boxes(19, 4)  # 3 blocks of 8 in a grid of 2: the loop goes round
    got = METRICS[metric](cuda.to_device(b1), cuda.to_device(b2), aligned=True)
    assert got.shape == (19,)
    assert_matches(got.copy_to_host(), cpu(METRICS[metric], b1, b2, aligned=True), exact=metric != "ciou")


# The host path is the same for every metric (the kernels' metric codes are covered
# above): the plain one and CIoU (angle columns, 4 / pi^2).
@pytest.mark.parametrize("metric", ["iou", "ciou"])
def test_numpy_in_numpy_out_with_backend_cuda(metric):
    b1, b2 = boxes(6, 5, np.float64), boxes(7, 6, np.float64)
    got = METRICS[metric](b1, b2, backend="cuda")
    assert type(got) is np.ndarray
    assert_matches(got, cpu(METRICS[metric], b1, b2), exact=metric != "ciou")
    got = METRICS[metric](b1, b2[:6], aligned=True, backend="cuda")
    assert type(got) is np.ndarray
    assert_matches(got, cpu(METRICS[metric], b1, b2[:6], aligned=True), exact=metric != "ciou")


# The offset is added after the format conversion, by the same code whatever its
# value (0 everywhere else): each format once, with offset 1.
@pytest.mark.parametrize("fmt,offset", [("xywh", 1), ("cxcywh", 1)])
def test_formats_and_offset(fmt, offset):
    b1, b2 = boxes(5, 7, np.float64), boxes(6, 8, np.float64)
    b1[:, 2:] -= b1[:, :2]  # xywh-like: non-negative widths and heights in any format
    b2[:, 2:] -= b2[:, :2]
    got = fastiou.complete_box_iou(cuda.to_device(b1), cuda.to_device(b2), fmt=fmt, offset=offset)
    want = cpu(fastiou.complete_box_iou, b1, b2, fmt=fmt, offset=offset)
    assert_matches(got.copy_to_host(), want, exact=False)


@pytest.mark.parametrize("in_dtype,out_dtype", [
    (np.float16, np.float32), (np.int32, np.float64), (np.uint8, np.float64), (np.bool_, np.float64),
])
def test_dtype_policy(in_dtype, out_dtype):
    b = synthetic.degenerate_boxes(7, seed=9, dtype=np.float64)[0].astype(in_dtype)
    got = fastiou.generalized_box_iou(cuda.to_device(b), cuda.to_device(b))
    assert got.dtype == out_dtype
    assert_matches(got.copy_to_host(), cpu(fastiou.generalized_box_iou, b, b))


def test_dtype_override_and_mixed_dtypes():
    b32, b64 = boxes(4, 1, np.float32), boxes(5, 2, np.float64)
    assert fastiou.box_iou(cuda.to_device(b32), cuda.to_device(b64)).dtype == np.float64
    got = fastiou.box_iou(cuda.to_device(b64), cuda.to_device(b64), dtype="float32")
    assert_matches(got.copy_to_host(), cpu(fastiou.box_iou, b64, b64, dtype=np.float32))


def test_host_and_device_inputs_mixed():
    b1, b2 = boxes(5, 1), boxes(6, 2)
    got = fastiou.distance_box_iou(b1, cuda.to_device(b2))  # the CUDA input decides the kind
    assert is_device(got)
    assert_matches(got.copy_to_host(), cpu(fastiou.distance_box_iou, b1, b2))


def test_strided_device_input():
    wide = np.concatenate([boxes(11, 1), np.ones((11, 1), np.float32)], axis=1)
    d = cuda.to_device(wide)[::2, :4]  # a non-contiguous view: rows skipped, a column dropped
    got = fastiou.box_iou(d, d)
    b = wide[::2, :4]
    assert_matches(got.copy_to_host(), cpu(fastiou.box_iou, b, b))


def test_out_is_filled_in_place():
    b1, b2 = boxes(5, 1), boxes(6, 2)
    out = cuda.device_array((5, 6), np.float32)
    got = fastiou.box_iou(cuda.to_device(b1), cuda.to_device(b2), out=out)
    assert got is out
    assert_matches(out.copy_to_host(), cpu(fastiou.box_iou, b1, b2))


def test_inputs_not_modified():
    b = boxes(6, 3)
    d = cuda.to_device(b)
    fastiou.complete_box_iou(d, d, fmt="cxcywh", offset=1, validate=False)
    np.testing.assert_array_equal(d.copy_to_host(), b)


@pytest.mark.parametrize("n,m", [(0, 5), (4, 0), (0, 0)])
def test_empty(n, m):
    b1, b2 = boxes(max(n, 1), 1)[:n], boxes(max(m, 1), 2)[:m]
    got = fastiou.complete_box_iou(cuda.to_device(b1), cuda.to_device(b2))
    assert is_device(got) and got.shape == (n, m) and got.dtype == np.float32
    if n == m:
        assert fastiou.box_iou(cuda.to_device(b1), cuda.to_device(b2), aligned=True).shape == (0,)


def test_degenerate_pairs_follow_the_numeric_policy():
    b = np.array([[0, 0, 0, 0], [1, 1, 1, 1], [0, 0, 2, 0], [2, 3, 5, 7], [2, 3, 5, 7]], np.float32)
    d = cuda.to_device(b)
    iou = fastiou.box_iou(d, d).copy_to_host()
    assert iou[3, 4] == 1.0 and iou[4, 3] == 1.0  # identical boxes of positive area: exactly 1
    assert iou[0, 0] == 0.0 and iou[0, 1] == 0.0 and iou[2, 2] == 0.0  # zero union: 0, not NaN
    for metric, fn in METRICS.items():
        got = fn(d, d).copy_to_host()
        assert np.isfinite(got).all()
        assert_matches(got, cpu(fn, b, b), exact=metric != "ciou")


def test_invalid_box_raises_the_cpu_error():
    b1, b2 = boxes(9, 1), boxes(13, 2)
    b2[7, 0] = np.nan
    b2[10, 2] = b2[10, 0] - 1  # x2 < x1: a later bad row, not reported
    with pytest.raises(ValueError) as want:
        fastiou.box_iou(b1, b2)
    with pytest.raises(ValueError) as got:
        fastiou.box_iou(cuda.to_device(b1), cuda.to_device(b2))
    assert str(got.value) == str(want.value) and "boxes2 has an invalid box at row 7" in str(got.value)
    b1[4, 3] = b1[4, 1] - 0.5  # y2 < y1 in boxes1 is reported first
    with pytest.raises(ValueError, match="boxes1 has an invalid box at row 4"):
        fastiou.box_iou(cuda.to_device(b1), cuda.to_device(b2))
    got = fastiou.box_iou(cuda.to_device(b1), cuda.to_device(b2), validate=False)  # no check, no crash
    assert got.shape == (9, 13)


def test_invalid_box_after_format_conversion():
    b = np.array([[0, 0, 2, 2], [5, 5, -1, 3]], np.float64)  # negative width in xywh
    with pytest.raises(ValueError, match="boxes1 has an invalid box at row 1.*'xywh'"):
        fastiou.box_iou(cuda.to_device(b), cuda.to_device(b[:1]), fmt="xywh")


def test_shape_dtype_and_out_errors():
    good = cuda.to_device(boxes(3, 1))
    with pytest.raises(ValueError, match=r"boxes2 must have shape \(\.\.\., N, 4\), got \(3, 5\)"):
        fastiou.box_iou(good, cuda.to_device(np.zeros((3, 5), np.float32)))
    with pytest.raises(ValueError, match="aligned=True needs boxes1 and boxes2 of the same length"):
        fastiou.box_iou(good, cuda.to_device(boxes(4, 2)), aligned=True)
    with pytest.raises(ValueError, match="fmt must be one of"):
        fastiou.box_iou(good, good, fmt="yxyx")
    with pytest.raises(ValueError, match="offset must be 0 or 1"):
        fastiou.box_iou(good, good, offset=2)
    with pytest.raises(TypeError, match="out must be a CUDA array"):
        fastiou.box_iou(good, good, out=np.empty((3, 3), np.float32))
    with pytest.raises(ValueError, match=r"out must have shape \(3, 3\)"):
        fastiou.box_iou(good, good, out=cuda.device_array((3, 4), np.float32))
    with pytest.raises(TypeError, match="out must have dtype float32"):
        fastiou.box_iou(good, good, out=cuda.device_array((3, 3), np.float64))
    with pytest.raises(ValueError, match="cannot take CUDA arrays"):
        fastiou.box_iou(good, good, backend="numba")


def test_show_config_reports_the_gpu():
    from fastiou import runtime

    info = runtime.config_info()
    assert info["backend cuda"] == "yes"
    assert info["gpu"] == numba_cuda.device_name() and info["gpu"]


def test_no_gpu_error_says_how_to_install(monkeypatch):
    monkeypatch.setattr(numba_cuda.cuda, "is_available", lambda: False)
    monkeypatch.setattr(backends, "_loaded", {})
    with pytest.raises(RuntimeError, match=r"pip install 'fastiou\[cuda\]'"):
        fastiou.box_iou(boxes(2, 1), boxes(2, 2), backend="cuda")


# --- PyTorch and CuPy arrays: only on a real GPU (the simulator has no such arrays) ---------


def _torch_cuda():
    if SIMULATOR:  # before importing PyTorch (seconds) only to skip
        pytest.skip("PyTorch CUDA tensors need a real GPU (not the simulator)")
    torch = pytest.importorskip("torch", reason="PyTorch is not installed")
    if not torch.cuda.is_available():
        pytest.skip("PyTorch CUDA tensors need a real GPU (not the simulator)")
    return torch


def test_torch_tensor_in_torch_tensor_out():
    torch = _torch_cuda()
    b1, b2 = boxes(9, 1), boxes(13, 2)
    t1, t2 = torch.from_numpy(b1).cuda(), torch.from_numpy(b2).cuda()
    got = fastiou.complete_box_iou(t1, t2)
    assert isinstance(got, torch.Tensor) and got.device == t1.device and got.dtype == torch.float32
    assert_matches(got.cpu().numpy(), cpu(fastiou.complete_box_iou, b1, b2), exact=False)
    out = torch.empty((9, 13), dtype=torch.float32, device=t1.device)
    assert fastiou.box_iou(t1, t2, out=out) is out
    assert_matches(out.cpu().numpy(), cpu(fastiou.box_iou, b1, b2))


def test_cupy_array_in_cupy_array_out():
    cupy = pytest.importorskip("cupy", reason="CuPy is not installed")
    if SIMULATOR:
        pytest.skip("CuPy arrays need a real GPU (not the simulator)")
    b1, b2 = boxes(9, 1, np.float64), boxes(13, 2, np.float64)
    got = fastiou.generalized_box_iou(cupy.asarray(b1), cupy.asarray(b2))
    assert isinstance(got, cupy.ndarray) and got.dtype == np.float64
    assert_matches(cupy.asnumpy(got), cpu(fastiou.generalized_box_iou, b1, b2))


@pytest.mark.parametrize("metric", ["iou", "ioa", "ciou"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_coordinates_outside_the_safe_range_give_the_cpu_values(metric, dtype):
    """Sides beyond 2e19 in float32 (NaN before) and scales from 1e-300 to 1e300 in float64:
    the device path flags them and computes them exactly, as the CPU does."""
    b = boxes(5, 7, np.float64)
    scale = [1e-30, 1.0, 2e17, 1e25, 1e33] if dtype == np.float32 else [1e-300, 1.0, 1e154, 1e200, 1e300]
    b1 = (b * np.array(scale)[:, None]).astype(dtype)
    b2 = b1[::-1].copy()
    got = METRICS[metric](cuda.to_device(b1), cuda.to_device(b2)).copy_to_host()
    expected = cpu(METRICS[metric], b1, b2)
    assert np.isfinite(got).all()
    np.testing.assert_allclose(got, expected, rtol=1e-6 if dtype == np.float32 else 1e-12, atol=1e-15)
    assert (np.diagonal(cpu(METRICS[metric], b1, b1))[b1[:, 2] > b1[:, 0]] == 1).all()


# --- batched boxes and eps (torchvision 0.29) ----------------------------------------------


@pytest.mark.parametrize("metric", ["iou", "ciou"])
def test_batched_device_boxes_are_one_flat_problem(metric):
    # 3 batches of 5 x 7: the kernel's rows walk across batches (grid of 2 row blocks of 2),
    # reloading each thread's column box when its row enters another batch
    b1 = np.stack([boxes(5, 1 + k) for k in range(3)])
    b2 = np.stack([boxes(7, 11 + k) for k in range(3)])
    got = METRICS[metric](cuda.to_device(b1), cuda.to_device(b2))
    assert is_device(got) and got.shape == (3, 5, 7)
    assert_matches(got.copy_to_host(), cpu(METRICS[metric], b1, b2), exact=metric != "ciou")
    b2_5 = np.ascontiguousarray(b2[:, :5])
    aligned = METRICS[metric](cuda.to_device(b1), cuda.to_device(b2_5), aligned=True)
    assert aligned.shape == (3, 5)
    assert_matches(aligned.copy_to_host(), cpu(METRICS[metric], b1, b2_5, aligned=True),
                   exact=metric != "ciou")
    out = cuda.device_array((3, 5, 7), np.float32)
    assert METRICS[metric](cuda.to_device(b1), cuda.to_device(b2), out=out) is out
    assert_matches(out.copy_to_host(), cpu(METRICS[metric], b1, b2), exact=metric != "ciou")
    host = METRICS[metric](b1, b2, backend="cuda")  # host columns through the same kernel
    assert_matches(host, cpu(METRICS[metric], b1, b2), exact=metric != "ciou")


@pytest.mark.parametrize("metric", ["diou", "ciou"])
def test_eps_on_the_device(metric):
    b1 = np.stack([boxes(6, 1), boxes(6, 2)])
    b2 = np.stack([boxes(4, 3), boxes(4, 4)])
    got = METRICS[metric](cuda.to_device(b1), cuda.to_device(b2), eps=1e5)  # boxes of ~100 px: c^2 ~ 1e5
    assert_matches(got.copy_to_host(), cpu(METRICS[metric], b1, b2, eps=1e5), exact=False)
    assert np.abs(got.copy_to_host() - cpu(METRICS[metric], b1, b2)).max() > 1e-4


def test_batched_device_errors_name_the_argument():
    b1 = np.stack([boxes(4, 1), boxes(4, 2)])
    with pytest.raises(ValueError, match="boxes2 must have the leading"):
        fastiou.box_iou(cuda.to_device(b1), cuda.to_device(np.stack([boxes(4, 3)] * 3)))
    bad = b1.copy()
    bad[1, 2] = [5, 5, 1, 9]
    with pytest.raises(ValueError, match=r"boxes2 has an invalid box at row \[1, 2\]"):
        fastiou.box_iou(cuda.to_device(b1), cuda.to_device(bad))
