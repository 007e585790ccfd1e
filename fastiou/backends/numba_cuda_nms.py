"""Numba CUDA kernels of the NMS family: greedy ``nms`` and ``batched_nms``.

The boxes are ordered by decreasing score (ties: lower input index first, a
stable sort) and, for ``batched_nms``, then grouped by class (a stable sort of
the labels), so that the greedy loop of each class visits its boxes best first.
Two kernels follow torchvision's CUDA NMS:

1. ``_mask_kernel``: bit ``c % 64`` of word ``mask[r, c // 64]`` says that box r
   suppresses box c, for every later box c of the same class (metric ``>``
   ``iou_threshold``, with the shared formulas of :mod:`fastiou._formulas`).
   Only the upper triangle of 64 x 64 tiles is computed, and for grouped classes
   only the tiles whose label ranges meet.
2. ``_scan_kernel``: one block replays the greedy loop over the mask on the
   device, 64 boxes (one word of the ``removed`` bitmap) at a time: the first
   box not removed is kept and ORs its diagonal word in; then the threads OR
   the rows of that word's kept boxes into the later words of ``removed``.
   Only the kept indices and their count leave the device: there is no
   ``N x N / 64`` copy to the host.

Since every class is visited in its own score order and boxes of different
classes never suppress each other, the kept set is exactly per-class greedy NMS,
the CPU backend's.  The final order (decreasing score, ties by index) is the
score order filtered by the kept set.

The backend interface shared with ``numba_cpu_nms`` is ``nms`` and
``batched_nms`` on host columns (``backend='cuda'`` with NumPy input), plus
``soft_nms`` and ``wbf``, which are sequential per class and run on the CPU
kernels; :func:`nms_on_device` is the CUDA-array path.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numba import cuda

from .. import _config, _validate
from .._columns import FORMATS
from .._formulas import FOUR_OVER_PI2
from . import numba_cpu_nms as _cpu
from ._cuda_arrays import Library
from .numba_cuda import blocks, device_boxes, launch_columns, metric, no_bad_rows, raise_first_bad
from .numba_cuda import device_name, require_gpu  # noqa: F401  (the family interface)

#: Bits per mask word: boxes per tile side.
WORD = 64


@cuda.jit(device=True, inline="always")
def mask_tile(n, labels, batched):
    """``(row_start, row_stop, col_start, col_stop)`` of this block's tile of a mask kernel
    (row block y, column block x), with no rows where the tile is not needed: below the
    diagonal, or (grouped classes) rows and columns with no class in common, a word the
    scan never reads."""
    row_start = cuda.blockIdx.y * WORD
    row_stop = min(n, row_start + WORD)
    col_start = cuda.blockIdx.x * WORD
    col_stop = min(n, col_start + WORD)
    if cuda.blockIdx.x < cuda.blockIdx.y or (batched and labels[col_start] > labels[row_stop - 1]):
        row_stop = row_start
    return row_start, row_stop, col_start, col_stop


@cuda.jit(cache=True)
def _mask_kernel(code, cols, labels, batched, n, threshold, four_over_pi2, one, mask):
    row_start, row_stop, col_start, col_stop = mask_tile(n, labels, batched)
    col_block = cuda.blockIdx.x
    for r in range(row_start + cuda.threadIdx.x, row_stop, cuda.blockDim.x):
        ax1, ay1, ax2, ay2 = cols[0, r], cols[1, r], cols[2, r], cols[3, r]
        aarea, acx2, acy2, aangle = cols[4, r], cols[5, r], cols[6, r], cols[7, r]
        label = labels[r] if batched else labels[0]
        word = np.uint64(0)
        for c in range(max(col_start, r + 1), col_stop):
            if batched and labels[c] != label:
                continue
            value = metric(code, ax1, ay1, ax2, ay2, aarea, acx2, acy2, aangle,
                           cols[0, c], cols[1, c], cols[2, c], cols[3, c],
                           cols[4, c], cols[5, c], cols[6, c], cols[7, c], four_over_pi2, one)
            if value > threshold:
                word |= np.uint64(1) << np.uint64(c - col_start)
        mask[r, col_block] = word


@cuda.jit(cache=True)
def _scan_kernel(mask, n, labels, batched, max_output, order, removed, keep, count):
    # One block.  Word w of ``removed`` is owned by thread w % blockDim.x, which
    # alone writes it; syncthreads publishes it before the block reaches word w.
    tid = cuda.threadIdx.x
    nthreads = cuda.blockDim.x
    n_words = mask.shape[1]
    diag = cuda.shared.array(WORD, np.uint64)
    kept = 0
    for b in range(n_words):
        start = b * WORD
        size = min(n, start + WORD) - start
        for r in range(tid, size, nthreads):
            diag[r] = mask[start + r, b]
        cuda.syncthreads()
        word = removed[b]
        kept_bits = np.uint64(0)
        for r in range(size):  # the greedy loop, replayed by every thread alike
            if kept == max_output:
                break
            if ((word >> np.uint64(r)) & np.uint64(1)) == 0:
                kept_bits |= np.uint64(1) << np.uint64(r)
                word |= diag[r]
                if tid == 0:
                    keep[kept] = order[start + r]
                kept += 1
        if kept_bits != 0:
            last_label = labels[start + size - 1] if batched else labels[0]
            w = b + 1 + (tid - b - 1) % nthreads  # this thread's first word after b
            while w < n_words:
                if batched and labels[w * WORD] > last_label:
                    break  # later words hold later classes only
                acc = removed[w]
                for r in range(size):
                    if ((kept_bits >> np.uint64(r)) & np.uint64(1)) != 0:
                        acc |= mask[start + r, w]
                removed[w] = acc
                w += nthreads
        cuda.syncthreads()
        if kept == max_output:
            break
    if tid == 0:
        count[0] = kept


def greedy(lib: Library, code: int, cols, labels, batched: bool, n: int, iou_threshold: float,
           max_output: int, order):
    """Kept entries of ``order`` (a device int64 array), in the visiting order, and their count.

    ``cols`` (8, >= n) are the columns in visiting order, ``labels`` the visiting
    order's labels (grouped, only read when ``batched``), ``n`` the candidates.
    """
    if n == 0:
        return lib.empty((1,), np.int64)[1], 0
    mask = new_mask(lib, n)
    dt = np.dtype(cols.dtype)
    _mask_kernel[mask_launch(lib, n)](
        code, cols, labels, batched, n, np.float64(iou_threshold), dt.type(FOUR_OVER_PI2), dt.type(1), mask
    )
    return scan(lib, mask, n, labels, batched, max_output, order)


def new_mask(lib: Library, n: int):
    """The ``(n, ceil(n / 64))`` uint64 suppression mask of ``n`` candidates (uninitialised:
    the mask kernel writes every word the scan reads)."""
    return lib.empty((n, blocks(n, WORD)), np.int64)[1].view(np.uint64)


def mask_launch(lib: Library, n: int) -> tuple[Any, ...]:
    """The launch configuration of a mask kernel over ``n`` candidates: a block per 64 x 64
    tile, a thread per row, on ``lib``'s stream."""
    n_words = blocks(n, WORD)
    return (n_words, n_words), min(WORD, _config.CUDA_THREADS_PER_BLOCK), lib.stream


def scan(lib: Library, mask, n: int, labels, batched: bool, max_output: int, order):
    """The greedy loop over a filled suppression ``mask`` of ``n`` > 0 candidates, on the
    device: the kept entries of ``order`` (device int64, the visiting order) and their count."""
    keep = lib.empty((n,), np.int64)[1]
    removed = lib.zeros((mask.shape[1],), np.int64).view(np.uint64)
    count = lib.empty((1,), np.int64)[1]
    _scan_kernel[1, _config.CUDA_THREADS_PER_BLOCK, lib.stream](
        mask, n, labels, batched, max_output, order, removed, keep, count
    )
    return keep, int(lib.to_host(count)[0])


def run(lib: Library, code, cols, by_score, visit, n, labels, iou_threshold, max_output):
    """NMS of the columns ``cols`` (in visiting order) after :meth:`Library.score_order`.

    ``labels`` (device, input order) for batched NMS, else None.  Returns the
    kept indices, best first, as an array of the caller's kind.
    """
    batched = labels is not None
    grouped = lib.gather(labels, visit, n) if batched and n else lib.zeros((1,), np.int64)
    keep, k = greedy(lib, code, cols, grouped, batched, n, iou_threshold,
                     -1 if batched else max_output, visit)
    if batched:  # the classes were visited one after the other: back to score order
        return lib.kept_in_score_order(by_score, n, keep, k, visit.shape[0], max_output)
    return lib.wrap(keep[:k])


# ----------------------------------------------------------------- the backend interface


def _host_run(code, cols, scores, labels, score_threshold, iou_threshold, max_output):
    lib = Library()
    d_labels = None if labels is None else lib.to_device(labels)
    by_score, visit, n, _ = lib.score_order(lib.to_device(scores), d_labels, score_threshold)
    d_cols = lib.to_device(cols[:, lib.to_host(visit)[:n]])
    kept = run(lib, code, d_cols, by_score, visit, n, d_labels, iou_threshold, max_output)
    return lib.to_host(kept) if kept.shape[0] else np.empty(0, np.int64)


def nms(code, cols, scores, score_threshold, iou_threshold, max_output, one, parallel):
    """Indices kept by greedy NMS with metric ``code`` (IOU or DIOU), best first (host arrays)."""
    return _host_run(code, cols, scores, None, score_threshold, iou_threshold, max_output)


def batched_nms(code, cols, scores, labels, score_threshold, iou_threshold, max_output, one, parallel):
    """:func:`nms` within each class of ``labels`` (int64), host arrays."""
    return _host_run(code, cols, scores, labels, score_threshold, iou_threshold, max_output)


# ------------------------------------------------------------------ the CUDA-array path


def nms_on_device(code, boxes, scores, idxs, *, iou_threshold, score_threshold=None, max_output=-1,
                  fmt="xyxy", offset=0, validate=True):
    """Greedy NMS (per class of ``idxs`` when given) of CUDA arrays, on the GPU.

    ``iou_threshold`` and ``score_threshold`` (None or a float) are compared in
    float64; ``max_output`` -1 for all.  Returns int64 indices, best first, as an
    array of the kind of the first CUDA input, on its device.  The sorts of the
    scores and labels and the final compaction run in the caller's library
    (PyTorch or CuPy), or on the host for other CUDA arrays (O(N) copies); the
    pairwise work and the greedy loop run on the GPU.
    """
    _validate.check_choice(fmt, "fmt", FORMATS)
    _validate.check_offset(offset)
    lib = Library(next(x for x in (boxes, scores, idxs) if _validate.is_cuda_array(x)))
    with lib.device():
        b = device_boxes(lib, boxes, "boxes")
        n_boxes = b.shape[0]
        s = _per_box(lib, scores, "scores", n_boxes)
        labels = None if idxs is None else _labels(lib, idxs, n_boxes)
        by_score, visit, n, first_nan = lib.score_order(s, labels, score_threshold)
        if first_nan >= 0:
            raise _validate.nan_score_error("scores", first_nan)
        dt = _validate.compute_dtype(b)
        bad = no_bad_rows(lib, 1)
        cols = launch_columns(lib, b, dt, fmt, offset, validate, bad, 0, order=visit)
        if validate:
            raise_first_bad(lib.to_host(bad), (b,), ("boxes",), fmt)
        if max_output == 0:
            n = 0
        return run(lib, code, cols, by_score, visit, n, labels, iou_threshold, max_output)


def _per_box(lib: Library, x, name: str, n: int):
    """The Numba view of one value per box (a CUDA array, or host data copied over)."""
    view = lib.view(x) if _validate.is_cuda_array(x) else lib.to_device(_validate.as_array(x, name))
    _validate.check_per_box(view, name, n)
    return view


def _labels(lib: Library, x, n: int):
    """Class ids: integer CUDA arrays as they are; others checked on the host (float ids must be integers)."""
    view = _per_box(lib, x, "idxs", n)
    if view.dtype.kind in "iu":
        return view
    return lib.to_device(_validate.as_labels(lib.to_host(view), "idxs", n))


# soft-NMS and box fusion: sequential per class, run on the CPU (the family interface).
soft_nms = _cpu.soft_nms
wbf = _cpu.wbf
