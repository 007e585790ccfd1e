"""Numba CUDA kernels of rotated boxes: pairwise and aligned IoU / IoA / GIoU, and NMS.

The formulas are :mod:`fastiou._rotated_formulas` compiled as CUDA device
functions (the same intersection as the CPU kernels).
The backend interface of :mod:`fastiou.backends.numba_cpu_rotated`: ``pairwise``
and ``aligned`` on host columns (``backend='cuda'`` with host input: copy in,
compute, copy out), and ``nms``: the suppression mask and device scan of the
axis-aligned CUDA NMS (:mod:`fastiou.backends.numba_cuda_nms`) over rotated pairs.
On a real GPU the compiler fuses multiplies and adds, so values can differ from
the CPU's in the last bits; identical boxes still give exactly 1 (they take the
equal-boxes select, not the intersection).
"""

from __future__ import annotations

import numpy as np
from numba import cuda

from .. import _config, _rotated_formulas
from .._rotated_formulas import MARGIN_EPS
from . import numba_cuda_nms as _nms
from ._cuda_arrays import Library
from .numba_cuda import MAX_BLOCKS, blocks, grid_1d, require_gpu  # noqa: F401 (require_gpu: backends.load)
from .numba_cuda_nms import mask_tile

R = _rotated_formulas.build(cuda.jit(device=True, inline="always"))
column_metric = R.column_metric
suppresses = R.suppresses


@cuda.jit
def pairwise_kernel(code, c1, c2, half, rows, out):
    # Batches: out is (B * rows, M), and row i meets the boxes (i // rows) * M ... of c2.
    j = cuda.blockIdx.x * cuda.blockDim.x + cuda.threadIdx.x
    if j >= out.shape[1]:
        return
    i = cuda.blockIdx.y * cuda.blockDim.y + cuda.threadIdx.y
    step = cuda.gridDim.y * cuda.blockDim.y
    while i < out.shape[0]:  # consecutive threads write consecutive columns
        out[i, j] = column_metric(code, c1, i, c2, (i // rows) * out.shape[1] + j, half)
        i += step


@cuda.jit
def aligned_kernel(code, c1, c2, half, out):
    for i in range(cuda.grid(1), out.shape[0], cuda.gridsize(1)):
        out[i] = column_metric(code, c1, i, c2, i, half)


@cuda.jit
def nms_mask_kernel(c, labels, batched, n, threshold, margin, half, mask):
    # A tile of the suppression mask, as the axis-aligned kernel (numba_cuda_nms): bit
    # c % 64 of mask[r, c // 64] says that box r suppresses the later box c of its class.
    row_start, row_stop, col_start, col_stop = mask_tile(n, labels, batched)
    col_block = cuda.blockIdx.x
    for r in range(row_start + cuda.threadIdx.x, row_stop, cuda.blockDim.x):
        label = labels[r] if batched else labels[0]
        word = np.uint64(0)
        for q in range(max(col_start, r + 1), col_stop):
            if batched and labels[q] != label:
                continue
            if suppresses(threshold, margin, c, r, c, q, half):
                word |= np.uint64(1) << np.uint64(q - col_start)
        mask[r, col_block] = word


def launch_metric(lib: Library, code: int, c1, c2, out, aligned: bool, rows: int = 0) -> None:
    """``out`` (a Numba device array) = the rotated metric of the device columns ``c1``, ``c2``
    (``rows``: boxes of ``c1`` per batch, as the CPU ``pairwise``; 0: one batch)."""
    if out.size == 0:
        return
    dt = np.dtype(out.dtype)
    if aligned:
        aligned_kernel[grid_1d(out.shape[0]) + (lib.stream,)](code, c1, c2, dt.type(0.5), out)
    else:
        args = (code, c1, c2, dt.type(0.5), rows or out.shape[0], out)
        tile_rows, columns = _config.CUDA_TILE
        from . import numba_cuda  # MAX_BLOCKS read at launch time (tests patch it)

        grid = (blocks(out.shape[1], columns), min(blocks(out.shape[0], tile_rows), numba_cuda.MAX_BLOCKS))
        pairwise_kernel[grid, (columns, tile_rows), lib.stream](*args)


def _on_host_arrays(code, c1, c2, out, aligned, rows=0):
    lib = Library()
    d_out = lib.empty(out.shape, out.dtype)[1]
    launch_metric(lib, code, lib.to_device(c1), lib.to_device(c2), d_out, aligned, rows)
    out[...] = lib.to_host(d_out)


def pairwise(code, c1, c2, half, out, parallel, rows=None):
    """Host columns in, host ``out`` filled (``rows``: boxes per batch, None: one batch)."""
    _on_host_arrays(code, c1, c2, out, aligned=False, rows=max(rows or out.shape[0], 1))


def aligned(code, c1, c2, half, out, parallel):
    """Host columns in, host ``out`` filled."""
    _on_host_arrays(code, c1, c2, out, aligned=True)


def nms(cols, by_score, labels, threshold, max_output):
    """Greedy rotated NMS on the GPU, host arrays in and out: the interface and result of
    :func:`fastiou.backends.numba_cpu_rotated.nms`.

    The classes (``labels``) are visited one after the other, each best first; the
    suppression mask and the greedy scan are the axis-aligned CUDA NMS's
    (:mod:`fastiou.backends.numba_cuda_nms`), the pair test the CPU kernel's formula.
    """
    n = by_score.shape[0]
    if n == 0:  # (every score below score_threshold: no kernel to launch)
        return np.empty(0, np.int64)
    batched = labels is not None
    visit = by_score[np.argsort(labels[by_score], kind="stable")] if batched else by_score
    lib = Library()
    dt = np.dtype(cols.dtype)
    d_cols = lib.to_device(np.ascontiguousarray(cols[:, visit]))
    grouped = lib.to_device(np.ascontiguousarray(labels[visit])) if batched else lib.zeros((1,), np.int64)
    mask = _nms.new_mask(lib, n)
    nms_mask_kernel[_nms.mask_launch(lib, n)](d_cols, grouped, batched, n, dt.type(threshold),
                                              dt.type(MARGIN_EPS * np.finfo(dt).eps), dt.type(0.5), mask)
    keep, count = _nms.scan(lib, mask, n, grouped, batched, -1 if batched else max_output,
                            lib.to_device(np.ascontiguousarray(visit, np.int64)))
    kept = lib.to_host(keep)[:count]
    if batched:  # back to score order
        rank = np.empty(cols.shape[1], np.int64)
        rank[by_score] = np.arange(n)
        kept = kept[np.argsort(rank[kept], kind="stable")]
        if max_output >= 0:
            kept = kept[:max_output]
    return kept
