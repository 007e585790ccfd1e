"""Numba CPU kernels: ``prange``-parallel, each with a serial twin for small inputs.

The backend interface (shared with ``cython`` and ``numba_cuda``) is the plain
functions at the bottom: ``pairwise`` and ``aligned``.  Kernels take the per-box column arrays of :mod:`fastiou._columns` (rows x1, y1,
x2, y2, area, doubled centre x/y, aspect angle) and write into a caller-given
output.  They contain no validation.
"""

from __future__ import annotations

from numba import prange, types, uint64
from numba.extending import intrinsic

import math

import numpy as np

from .. import _formulas
from .._config import njit, serial_and_parallel
from .._formulas import (CIOU, DIOU, EXTREME, FOUR_OVER_PI2, GIOU, IOA, IOU, SAFE_HI32, SAFE_HI64,
                          SAFE_LO32, SAFE_LO64)

F = _formulas.build(njit(inline="always"))
_in_safe_range = F.in_safe_range

# --- work sharing ----------------------------------------------------------------
# A prange gives each thread one fixed block of iterations, and so does
# numba.parallel_chunksize under the 'omp' and 'workqueue' threading layers (they
# deal its chunks out statically; only 'tbb' hands them out on demand): a thread
# descheduled by another process then holds the whole region back with its share.
# So a parallel loop runs ``workers(n, step)`` iterations of a prange, each a worker
# that claims chunks of ``step`` iterations from a shared counter until none is
# left: a late thread finds the work done (it still has to reach the region's end).
# The worker count needs no thread count (a serial twin must not start Numba's
# threading layer).  Chunks are fixed by their start, so what an iteration computes
# does not depend on the thread that runs it; a serial twin runs the same loop, its
# first worker taking every chunk in order.
#
#     for _ in prange(workers(n, step)):
#         lo = claim(counter, step)
#         while lo < n:
#             for i in range(lo, min(lo + step, n)):
#                 ...
#             lo = claim(counter, step)
#
# ``counter`` is a kernel argument, from :func:`new_counter`: an array made inside
# a kernel turns on reference counting in its loops (an RLE pairwise row measured
# 10x slower).  A loop over i that should vectorise runs over uint64 bounds (see
# ``_aligned``).

#: Most workers of a loop: extra ones only claim once, and find nothing.
MAX_WORKERS = 256
#: Pairs of boxes per claim (about 30 us of IoU).
PAIR_CHUNK = 32768


@intrinsic
def _fetch_add(typingctx, counter, step):
    """``counter[0] += step`` atomically (int64); returns the value before."""
    if not (isinstance(counter, types.Array) and counter.dtype == types.int64):
        return None
    sig = types.int64(counter, types.int64)

    def codegen(context, builder, signature, args):
        ary = context.make_array(signature.args[0])(context, builder, args[0])
        # monotonic: the counter orders nothing else; the region's end publishes the outputs
        return builder.atomic_rmw("add", ary.data, args[1], "monotonic")

    return sig, codegen


@njit(inline="always")
def claim(counter, step):
    """First iteration of the next chunk of ``step`` (``counter``: see :func:`new_counter`)."""
    return _fetch_add(counter, np.int64(step))


@njit(inline="always")
def workers(n, step):
    """Workers for ``n`` iterations claimed ``step`` at a time: one per chunk, up to MAX_WORKERS."""
    return min((n + step - 1) // step, MAX_WORKERS)


def new_counter():
    """The claim counter of one kernel call: int64[1] at 0."""
    return np.zeros(1, np.int64)


@njit
def filled(n, value):
    """``np.full(n, value)``, made serially: in a parallel kernel, np.zeros, np.ones and
    np.full are each a parallel region of their own, statically scheduled."""
    return np.full(n, value)


@njit
def fill_columns(boxes, fmt, offset, check, angle, cols):
    """The column split of :mod:`fastiou._columns`; returns the first invalid row, or
    ``EXTREME`` (-2) when every row is valid but one lies outside the safe range, or -1."""
    dt = cols.dtype.type
    off = dt(offset)
    half = dt(0.5)
    if cols.itemsize == 4:
        lo, hi = dt(SAFE_LO32), dt(SAFE_HI32)
    else:
        lo, hi = dt(SAFE_LO64), dt(SAFE_HI64)
    first_bad = -1
    safe = True
    for i in range(boxes.shape[0]):
        a0 = boxes[i, 0]
        a1 = boxes[i, 1]
        a2 = boxes[i, 2]
        a3 = boxes[i, 3]
        if fmt == 0:
            x1, y1, x2, y2 = a0, a1, a2, a3
        elif fmt == 1:
            x1, y1, x2, y2 = a0, a1, a0 + a2, a1 + a3
        else:
            x1, y1, x2, y2 = a0 - half * a2, a1 - half * a3, a0 + half * a2, a1 + half * a3
        x2 = x2 + off
        y2 = y2 + off
        if check and first_bad < 0:
            finite = (a0 - a0 == 0) and (a1 - a1 == 0) and (a2 - a2 == 0) and (a3 - a3 == 0)
            if not (finite and x1 <= x2 and y1 <= y2):
                first_bad = i
        safe = safe and (_in_safe_range(x1, lo, hi) and _in_safe_range(y1, lo, hi)
                         and _in_safe_range(x2, lo, hi) and _in_safe_range(y2, lo, hi))
        w = x2 - x1
        h = y2 - y1
        cols[0, i] = x1
        cols[1, i] = y1
        cols[2, i] = x2
        cols[3, i] = y2
        cols[4, i] = w * h
        cols[5, i] = x1 + x2
        cols[6, i] = y1 + y2
        cols[7, i] = math.atan2(w, h) if angle else w - w
    return first_bad if first_bad >= 0 or safe else EXTREME

metric = F.metric
metric_eps = F.metric_eps
intersection = F.intersection


@njit(inline="always")
def _metric_row(code, c1, i, c2, four_over_pi2, one, row):
    """``row[j] = metric(box i of c1, box j of c2)`` (the sparse kernels' rows)."""
    _metric_row_at(code, c1, i, c2, 0, four_over_pi2, one, one - one, row)


@njit(inline="always")
def _metric_row_at(code, c1, i, c2, j0, four_over_pi2, one, eps, row):
    """``row[j] = metric(box i of c1, box j0 + j of c2)``; inlined with a constant code."""
    ax1, ay1, ax2, ay2 = c1[0, i], c1[1, i], c1[2, i], c1[3, i]
    aarea, acx2, acy2, aangle = c1[4, i], c1[5, i], c1[6, i], c1[7, i]
    # slices, indexed from 0 by the loop: an offset index j0 + j of unknown sign gets a
    # wraparound select, and the loop then gathers instead of loading vectors (5x slower)
    end = j0 + row.shape[0]
    bx1, by1, bx2, by2 = c2[0, j0:end], c2[1, j0:end], c2[2, j0:end], c2[3, j0:end]
    barea, bcx2, bcy2, bangle = c2[4, j0:end], c2[5, j0:end], c2[6, j0:end], c2[7, j0:end]
    for j in range(row.shape[0]):
        row[j] = metric_eps(code, ax1, ay1, ax2, ay2, aarea, acx2, acy2, aangle,
                            bx1[j], by1[j], bx2[j], by2[j], barea[j], bcx2[j], bcy2[j], bangle[j],
                            four_over_pi2, one, eps)


@njit(inline="always")
def _metric_row_pair(code, c1, i, c2, j0, four_over_pi2, one, eps, row0, row1):
    """Rows ``i`` and ``i + 1`` at once: each box of c2 is loaded once for both."""
    ax1, ay1, ax2, ay2 = c1[0, i], c1[1, i], c1[2, i], c1[3, i]
    aarea, acx2, acy2, aangle = c1[4, i], c1[5, i], c1[6, i], c1[7, i]
    px1, py1, px2, py2 = c1[0, i + 1], c1[1, i + 1], c1[2, i + 1], c1[3, i + 1]
    parea, pcx2, pcy2, pangle = c1[4, i + 1], c1[5, i + 1], c1[6, i + 1], c1[7, i + 1]
    end = j0 + row0.shape[0]  # slices: see _metric_row_at
    bx1, by1, bx2, by2 = c2[0, j0:end], c2[1, j0:end], c2[2, j0:end], c2[3, j0:end]
    barea, bcx2, bcy2, bangle = c2[4, j0:end], c2[5, j0:end], c2[6, j0:end], c2[7, j0:end]
    for j in range(row0.shape[0]):
        x1, y1, x2, y2 = bx1[j], by1[j], bx2[j], by2[j]
        area, cx2, cy2, angle = barea[j], bcx2[j], bcy2[j], bangle[j]
        value0 = metric_eps(code, ax1, ay1, ax2, ay2, aarea, acx2, acy2, aangle,
                            x1, y1, x2, y2, area, cx2, cy2, angle, four_over_pi2, one, eps)
        value1 = metric_eps(code, px1, py1, px2, py2, parea, pcx2, pcy2, pangle,
                            x1, y1, x2, y2, area, cx2, cy2, angle, four_over_pi2, one, eps)
        row0[j] = value0
        row1[j] = value1


@njit(inline="always")
def _metric_rows(code, c1, k, half, rows, c2, four_over_pi2, one, eps, out):
    """Row pair ``k``: rows ``i`` and ``i + 1`` of ``out`` (just ``i`` when it is the last
    of its batch), ``half`` row pairs and ``rows`` rows per batch."""
    b = k // half
    start = b * rows  # the batch's first row of out (and box of c1)
    i = start + 2 * (k - b * half)
    j0 = b * out.shape[1]  # the batch's first box of c2
    if i + 1 < start + rows:
        _metric_row_pair(code, c1, i, c2, j0, four_over_pi2, one, eps, out[i], out[i + 1])
    else:
        _metric_row_at(code, c1, i, c2, j0, four_over_pi2, one, eps, out[i])


def _pairwise(code, c1, c2, four_over_pi2, one, eps, rows, out, counter):
    # One call per metric with a constant code: the metric's branches fold away and
    # the inner loop vectorises (a runtime code in the loop measured 2x slower).  Two
    # rows per iteration: the loop is bound by its loads more than by its arithmetic
    # (box_iou measured 15-25% faster than with one row).  Batched boxes are one flat
    # problem: out is (B * rows, M), and the rows of batch b meet boxes b * M ... of c2;
    # row pairs never straddle two batches.
    half = (rows + 1) // 2  # row pairs per batch
    n = (out.shape[0] // rows) * half
    step = max(1, PAIR_CHUNK // max(1, 2 * out.shape[1]))  # row pairs per claim
    for _ in prange(workers(n, step)):
        lo = claim(counter, step)
        while lo < n:
            for k in range(lo, min(lo + step, n)):
                if code == IOU:
                    _metric_rows(IOU, c1, k, half, rows, c2, four_over_pi2, one, eps, out)
                elif code == IOA:
                    _metric_rows(IOA, c1, k, half, rows, c2, four_over_pi2, one, eps, out)
                elif code == GIOU:
                    _metric_rows(GIOU, c1, k, half, rows, c2, four_over_pi2, one, eps, out)
                elif code == DIOU:
                    _metric_rows(DIOU, c1, k, half, rows, c2, four_over_pi2, one, eps, out)
                else:
                    _metric_rows(CIOU, c1, k, half, rows, c2, four_over_pi2, one, eps, out)
            lo = claim(counter, step)


@njit(inline="always")
def pair_metric(code, c1, i, c2, j, four_over_pi2, one):
    """The metric between box ``i`` of ``c1`` and box ``j`` of ``c2`` (per-pair kernels)."""
    return metric(code, c1[0, i], c1[1, i], c1[2, i], c1[3, i],
                  c1[4, i], c1[5, i], c1[6, i], c1[7, i],
                  c2[0, j], c2[1, j], c2[2, j], c2[3, j],
                  c2[4, j], c2[5, j], c2[6, j], c2[7, j], four_over_pi2, one)


def _aligned(code, c1, c2, four_over_pi2, one, eps, out, counter):
    n = c1.shape[1]
    for _ in prange(workers(n, PAIR_CHUNK)):
        lo = claim(counter, PAIR_CHUNK)
        while lo < n:
            # unsigned: a signed index of unknown sign gets a wraparound select,
            # and the loop then gathers instead of loading vectors (2x slower)
            for i in range(uint64(lo), uint64(min(lo + PAIR_CHUNK, n))):
                out[i] = metric_eps(code, c1[0, i], c1[1, i], c1[2, i], c1[3, i],
                                    c1[4, i], c1[5, i], c1[6, i], c1[7, i],
                                    c2[0, i], c2[1, i], c2[2, i], c2[3, i],
                                    c2[4, i], c2[5, i], c2[6, i], c2[7, i], four_over_pi2, one, eps)
            lo = claim(counter, PAIR_CHUNK)


_pairwise_kernels = serial_and_parallel(_pairwise)
_aligned_kernels = serial_and_parallel(_aligned)
_pairwise_serial = _pairwise_kernels[0].__wrapped__  # called from compiled code: the dispatcher


@njit
def small_pairwise(code, b1, b2, fmt, offset, check, out):
    """Columns, check and serial pairwise kernel in one call (the small-input fast path).

    Returns -1, or 0 with nothing computed when a row is invalid or outside the safe range.
    """
    dt = out.dtype.type
    c1 = np.empty((8, b1.shape[0]), out.dtype)
    c2 = np.empty((8, b2.shape[0]), out.dtype)
    bad1 = fill_columns(b1, fmt, offset, check, code == CIOU, c1)
    bad2 = fill_columns(b2, fmt, offset, check, code == CIOU, c2)
    if bad1 != -1 or bad2 != -1:  # an invalid row, or one outside the safe range
        return 0
    _pairwise_serial(code, c1, c2, dt(FOUR_OVER_PI2), dt(1), dt(0), max(1, b1.shape[0]), out,
                     np.zeros(1, np.int64))
    return -1


_FAST_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


def small_metric(code, boxes1, boxes2, fmt, offset, check, limit):
    """The twin of the Cython extension's ``small_metric`` (see there): the ``(N, M)``
    matrix, or None when the general path must run."""
    if not (type(boxes1) is np.ndarray and type(boxes2) is np.ndarray and fmt >= 0
            and type(offset) is int and offset in (0, 1)
            and boxes1.dtype in _FAST_DTYPES and boxes2.dtype == boxes1.dtype
            and boxes1.ndim == 2 and boxes2.ndim == 2
            and boxes1.shape[1] == 4 and boxes2.shape[1] == 4
            and boxes1.flags.aligned and boxes2.flags.aligned
            and boxes1.shape[0] * boxes2.shape[0] < limit):
        return None
    out = np.empty((boxes1.shape[0], boxes2.shape[0]), boxes1.dtype)
    return out if small_pairwise(code, boxes1, boxes2, fmt, offset, check, out) < 0 else None


def pairwise(code, c1, c2, four_over_pi2, one, out, parallel, rows=None, eps=None):
    """``out[i, j]`` = metric ``code`` of box i of ``c1`` and box j of ``c2``; batched with
    ``rows`` (boxes of c1 per batch): ``out`` is ``(B * rows, M)`` and row i meets boxes
    ``(i // rows) * M + j`` of ``c2``.  ``eps``: DIoU's and CIoU's (None: 0, guarded)."""
    rows = out.shape[0] if rows is None else rows
    eps = four_over_pi2 - four_over_pi2 if eps is None else eps
    _pairwise_kernels[parallel](code, c1, c2, four_over_pi2, one, eps, rows, out, new_counter())


def aligned(code, c1, c2, four_over_pi2, one, out, parallel, eps=None):
    eps = four_over_pi2 - four_over_pi2 if eps is None else eps
    _aligned_kernels[parallel](code, c1, c2, four_over_pi2, one, eps, out, new_counter())
