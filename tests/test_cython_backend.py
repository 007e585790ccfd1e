"""What only the cython backend has: thread counts, chunked loops, strided ``out``.

The metrics themselves are tested for every backend in test_pairwise.py.
"""

from __future__ import annotations

import numpy as np
import pytest

import fastiou
from fastiou import _validate, synthetic
from fastiou._formulas import CIOU, DIOU, GIOU, IOA, IOU, METRICS

_cy_boxes = pytest.importorskip(
    "fastiou._cy_boxes", reason="the cython backend is not compiled (pip install builds it)"
)
from fastiou.backends import cython as cython_backend  # noqa: E402
from fastiou.backends import numba_cpu  # noqa: E402

CODES = (IOU, IOA, GIOU, DIOU, CIOU)
FUNCTIONS = {
    IOU: fastiou.box_iou,
    IOA: fastiou.box_ioa,
    GIOU: fastiou.generalized_box_iou,
    DIOU: fastiou.distance_box_iou,
    CIOU: fastiou.complete_box_iou,
}
# Longer than the kernels' 1024-value chunks, with a partial last chunk.
N_LONG = 2 * 1024 + 37


def _columns(boxes1, boxes2, dtype, aligned=False):
    c1, c2, dt, _ = _validate.box_pair(
        boxes1, boxes2, fmt="xyxy", offset=0, dtype=dtype, validate=True, aligned=aligned
    )
    return c1, c2, dt.type(4 / np.pi**2), dt.type(1)


@pytest.mark.parametrize("fill", [_cy_boxes.fill_columns, numba_cpu.fill_columns],
                         ids=["cython", "numba"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_column_split_skips_only_the_angle(fill, dtype):
    boxes = synthetic.degenerate_boxes(300, seed=4, dtype=dtype)[0]
    with_angle = np.empty((8, 300), dtype)
    without = np.full((8, 300), np.nan, dtype)
    assert fill(boxes, 0, 0.0, True, True, with_angle) == -1
    assert fill(boxes, 0, 0.0, True, False, without) == -1
    np.testing.assert_array_equal(without[:7], with_angle[:7])
    assert (without[7] == 0).all()
    w, h = (boxes[:, 2] - boxes[:, 0]).astype(np.float64), boxes[:, 3] - boxes[:, 1]
    np.testing.assert_allclose(with_angle[7], np.arctan2(w, h.astype(np.float64)), rtol=1e-6)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("fmt", [0, 1, 2])
@pytest.mark.parametrize("check", [True, False])
def test_column_splits_agree_on_unusual_rows(dtype, fmt, check):
    """The Cython split checks its columns in one vectorised pass and scans the rows only
    when that fails: the same verdict as the Numba twin's row-by-row checks, also for
    finite rows whose corners overflow (valid, outside the safe range)."""
    big = np.finfo(dtype).max
    unusual = [np.nan, np.inf, -np.inf, big, -big, big / 3, 1e-40 if dtype == np.float32 else 1e-310,
               -0.0, 5.0, -5.0]
    rng = np.random.default_rng(fmt + 3 * check)
    for trial in range(200):
        boxes = synthetic.clustered_boxes(40, seed=trial, dtype=dtype)[0]
        if fmt:
            boxes[:, 2:] -= boxes[:, :2] if fmt == 1 else 0
        for _ in range(rng.integers(0, 4)):
            boxes[rng.integers(40), rng.integers(4)] = unusual[rng.integers(len(unusual))]
        offset = float(rng.integers(2))
        got, want = np.empty((8, 40), dtype), np.empty((8, 40), dtype)
        assert _cy_boxes.fill_columns(boxes, fmt, offset, check, False, got) == \
            numba_cpu.fill_columns(boxes, fmt, offset, check, False, want)
        np.testing.assert_array_equal(got[:7], want[:7])


def test_codes_match_the_formulas():
    assert {name: METRICS[name] for name in _cy_boxes.CODES} == _cy_boxes.CODES


@pytest.mark.parametrize("code", CODES)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_thread_counts_give_identical_results(code, dtype):
    boxes1 = synthetic.clustered_boxes(9, seed=1, dtype=dtype)[0]
    boxes2 = synthetic.clustered_boxes(N_LONG, seed=2, dtype=dtype)[0]
    c1, c2, k, one = _columns(boxes1, boxes2, dtype)
    results = []
    for threads in (1, 2, 3, 16):
        out = np.full((9, N_LONG), -5, dtype=dtype)
        _cy_boxes.pairwise(code, c1, c2, k, one, out, threads)
        results.append(out)
    expected = np.empty_like(results[0])
    numba_cpu.pairwise(code, c1, c2, k, one, expected, False)
    for out in results:
        np.testing.assert_array_equal(out, expected)


@pytest.mark.parametrize("code", CODES)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_aligned_chunks_and_threads(code, dtype):
    boxes = synthetic.clustered_boxes(N_LONG, seed=3, dtype=dtype)[0]
    c1, c2, k, one = _columns(boxes, boxes[::-1], dtype, aligned=True)
    expected = np.empty(N_LONG, dtype=dtype)
    numba_cpu.aligned(code, c1, c2, k, one, expected, False)
    for threads in (1, 3):
        out = np.full(N_LONG, -5, dtype=dtype)
        _cy_boxes.aligned(code, c1, c2, k, one, out, threads)
        np.testing.assert_array_equal(out, expected)


@pytest.mark.parametrize("code", CODES)
def test_identical_boxes_exactly_one_in_float32_across_chunks(code):
    boxes = synthetic.scattered_boxes(N_LONG, seed=4, dtype=np.float32)[0]
    f = FUNCTIONS[code]
    same = f(boxes, boxes, aligned=True, backend="cython")
    assert same.dtype == np.float32
    assert (same == 1).all()
    diagonal = np.diagonal(f(boxes[:40], boxes[:40], backend="cython"))
    assert (diagonal == 1).all()


@pytest.mark.parametrize("code", CODES)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_strided_out(code, dtype):
    f = FUNCTIONS[code]
    boxes1 = synthetic.clustered_boxes(7, seed=5, dtype=dtype)[0]
    boxes2 = synthetic.degenerate_boxes(N_LONG, seed=6, dtype=dtype)[0]
    expected = f(boxes1, boxes2, backend="numba")

    big = np.full((7, 2 * N_LONG), -5, dtype=dtype)
    every_other = big[:, ::2]
    assert f(boxes1, boxes2, out=every_other, backend="cython") is every_other
    np.testing.assert_array_equal(every_other, expected)
    assert (big[:, 1::2] == -5).all()  # the gaps are left alone

    fortran = np.empty((N_LONG, 7), dtype=dtype).T
    f(boxes1, boxes2, out=fortran, backend="cython")
    np.testing.assert_array_equal(fortran, expected)

    reversed_rows = np.empty((7, N_LONG), dtype=dtype)[::-1, ::-1]
    f(boxes1, boxes2, out=reversed_rows, backend="cython")
    np.testing.assert_array_equal(reversed_rows, expected)


@pytest.mark.parametrize("code", CODES)
def test_strided_aligned_out(code):
    f = FUNCTIONS[code]
    boxes1 = synthetic.clustered_boxes(N_LONG, seed=7)[0]
    boxes2 = synthetic.clustered_boxes(N_LONG, seed=8)[0]
    expected = f(boxes1, boxes2, aligned=True, backend="numba")
    big = np.full(3 * N_LONG, -5, dtype=np.float32)
    out = big[::-3]
    f(boxes1, boxes2, aligned=True, out=out, backend="cython")
    np.testing.assert_array_equal(out, expected)
    assert np.count_nonzero(big == -5) == 2 * N_LONG


class _Recorder:
    """Stands in for the compiled module and records the thread counts asked for."""

    def __init__(self):
        self.threads = []

    def pairwise(self, *args):
        self.threads.append(args[6])  # (code, c1, c2, four_over_pi2, one, out, threads, ...)

    aligned = pairwise


@pytest.mark.parametrize("kernel", ["pairwise", "aligned"])
def test_threads_follow_numba_when_parallel(monkeypatch, kernel):
    import numba

    recorder = _Recorder()
    monkeypatch.setattr(cython_backend, "_cy_boxes", recorder)
    run = getattr(cython_backend, kernel)
    run(IOU, None, None, None, None, None, parallel=True)
    run(IOU, None, None, None, None, None, parallel=False)
    assert recorder.threads == [numba.get_num_threads(), 1]


def test_mismatched_dtypes_are_refused():
    boxes = synthetic.clustered_boxes(5, seed=9, dtype=np.float32)[0]
    c1, c2, k, one = _columns(boxes, boxes, np.float32)
    with pytest.raises((TypeError, ValueError)):
        _cy_boxes.pairwise(IOU, c1, c2, k, one, np.empty((5, 5), np.float64), 1)
