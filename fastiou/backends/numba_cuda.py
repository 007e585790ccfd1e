"""Numba CUDA kernels for the box metrics, and the GPU path of the public functions.

The formulas are :mod:`fastiou._formulas` compiled as CUDA device functions, so
the GPU computes the same expressions as the CPU kernels.  One caveat: the CUDA
compiler fuses a multiply and an add into one FMA (libNVVM's default, which Numba
does not expose), so on a real GPU a metric can differ from the CPU's in the last
bit or two; identical boxes still give an IoU of exactly 1 (the fused union
rounds to the intersection), and inputs whose products are exact (integer and
dyadic coordinates) give the CPU's values bit for bit.

The backend interface shared with ``numba_cpu`` and ``cython`` is ``pairwise``
and ``aligned`` on host columns (``backend='cuda'`` with NumPy input: copy in,
compute, copy out).  :func:`metric_on_device` is the path for CUDA arrays
(CuPy, PyTorch CUDA tensors, Numba device arrays): the column split of
:mod:`fastiou._columns` and the validation run on the device, the result is an
array of the caller's kind on the same device, and nothing goes through the host
but the index of the first invalid box.

Threads per block are read from :mod:`fastiou._config` at launch time
(``CUDA_TILE`` for pairwise, ``CUDA_THREADS_PER_BLOCK`` otherwise), so that the
simulator tests can make them small.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from numba import cuda

from .. import _config, _extreme, _formulas, _validate
from .._columns import FORMATS
from .._formulas import (CIOU, FOUR_OVER_PI2, IOA, N_COLUMNS, SAFE_HI32, SAFE_HI64, SAFE_LO32,
                         SAFE_LO64)
from ._cuda_arrays import Library

F = _formulas.build(cuda.jit(device=True, inline="always"))
metric = F.metric
metric_eps = F.metric_eps
in_safe_range = F.in_safe_range


def safe_range(dt: np.dtype) -> tuple:
    """``(lo, hi)`` of the fast formulas' safe range in ``dt`` (see :mod:`fastiou._formulas`)."""
    lo, hi = (SAFE_LO32, SAFE_HI32) if dt.itemsize == 4 else (SAFE_LO64, SAFE_HI64)
    return dt.type(lo), dt.type(hi)

#: Most blocks a launch uses along one grid dimension (gridDim.y is limited to
#: 65535); kernels loop (grid-stride) beyond.  Tests patch it small.
MAX_BLOCKS = 4096


def require_gpu() -> None:
    """Raise ``RuntimeError`` saying how to get a GPU runtime if none is usable here."""
    if not cuda.is_available():
        raise RuntimeError(
            "the cuda backend found no usable NVIDIA GPU (numba.cuda.is_available() is False). "
            "It needs an NVIDIA driver and numba-cuda with a CUDA toolkit: "
            "pip install 'fastiou[cuda]' 'numba-cuda[cu12]' (or [cu13], matching the driver); "
            "set NUMBA_ENABLE_CUDASIM=1 to run the kernels in Numba's CUDA simulator"
        )


def device_name() -> str:
    """The current GPU's name (``show_config``)."""
    device = cuda.get_current_device()
    name = getattr(device, "name", b"CUDA simulator (NUMBA_ENABLE_CUDASIM=1)")
    return name.decode() if isinstance(name, bytes) else str(name)


# ---------------------------------------------------------------------------- kernels


@cuda.jit(device=True, inline="always")
def pair_metric(code, c1, i, c2, j, four_over_pi2, one):
    """The metric between box ``i`` of ``c1`` and box ``j`` of ``c2`` (columns ``(8, N)``)."""
    return metric(code, c1[0, i], c1[1, i], c1[2, i], c1[3, i],
                  c1[4, i], c1[5, i], c1[6, i], c1[7, i],
                  c2[0, j], c2[1, j], c2[2, j], c2[3, j],
                  c2[4, j], c2[5, j], c2[6, j], c2[7, j], four_over_pi2, one)


@cuda.jit(device=True, inline="always")
def _column(boxes, row, r, fmt, offset, half, lo, hi, check, cols, bad, slot, extreme_slot):
    """Column ``r`` of ``cols`` from row ``row`` of ``boxes``: the mirror of
    :func:`fastiou._columns.fill_columns`.  An invalid row goes to ``bad[slot]``
    (an atomic min, so the smallest wins); a coordinate outside the safe range
    ``[lo, hi]`` sets ``bad[extreme_slot]`` to 0 (when ``extreme_slot >= 0``)."""
    # Storing into cols converts to the compute dtype (as the CPU's astype does);
    # the arithmetic below then runs in that dtype.
    for k in range(4):
        cols[k, r] = boxes[row, k]
    a0 = cols[0, r]
    a1 = cols[1, r]
    a2 = cols[2, r]
    a3 = cols[3, r]
    if fmt == 0:
        x1, y1, x2, y2 = a0, a1, a2, a3
    elif fmt == 1:
        x1, y1, x2, y2 = a0, a1, a0 + a2, a1 + a3
    else:
        x1, y1, x2, y2 = a0 - half * a2, a1 - half * a3, a0 + half * a2, a1 + half * a3
    x2 = x2 + offset
    y2 = y2 + offset
    if check:
        finite = (a0 - a0 == 0) and (a1 - a1 == 0) and (a2 - a2 == 0) and (a3 - a3 == 0)
        if not (finite and x1 <= x2 and y1 <= y2):
            cuda.atomic.min(bad, slot, row)
    if extreme_slot >= 0 and not (in_safe_range(x1, lo, hi) and in_safe_range(y1, lo, hi)
                                  and in_safe_range(x2, lo, hi) and in_safe_range(y2, lo, hi)):
        cuda.atomic.min(bad, extreme_slot, 0)
    w = x2 - x1
    h = y2 - y1
    cols[0, r] = x1
    cols[1, r] = y1
    cols[2, r] = x2
    cols[3, r] = y2
    cols[4, r] = w * h
    cols[5, r] = x1 + x2
    cols[6, r] = y1 + y2
    cols[7, r] = math.atan2(w, h)


@cuda.jit(cache=True)
def _columns_kernel(boxes, order, use_order, fmt, offset, half, lo, hi, check, cols, bad, slot,
                    extreme_slot):
    """Column ``r`` of ``cols`` from row ``order[r]`` (or ``r``) of ``boxes``."""
    for r in range(cuda.grid(1), cols.shape[1], cuda.gridsize(1)):
        _column(boxes, order[r] if use_order else r, r, fmt, offset, half, lo, hi, check, cols, bad, slot,
                extreme_slot)


@cuda.jit(cache=True)
def _pairwise_kernel(code, c1, c2, four_over_pi2, one, eps, rows, out):
    # threadIdx.x runs along the columns: consecutive threads write consecutive
    # elements of a row.  Box j of the row's batch stays in registers while the
    # thread walks rows (reloaded when it enters another batch).  Batched boxes are
    # one flat problem: out is (B * rows, M) and row i meets boxes (i // rows) * M + j.
    j = cuda.blockIdx.x * cuda.blockDim.x + cuda.threadIdx.x
    m = out.shape[1]
    if j >= m:
        return
    i = cuda.blockIdx.y * cuda.blockDim.y + cuda.threadIdx.y
    step = cuda.gridDim.y * cuda.blockDim.y
    batch = -1
    k = j
    bx1, by1, bx2, by2 = c2[0, k], c2[1, k], c2[2, k], c2[3, k]
    barea, bcx2, bcy2, bangle = c2[4, k], c2[5, k], c2[6, k], c2[7, k]
    while i < out.shape[0]:
        b = i // rows
        if b != batch:
            batch = b
            k = b * m + j
            bx1, by1, bx2, by2 = c2[0, k], c2[1, k], c2[2, k], c2[3, k]
            barea, bcx2, bcy2, bangle = c2[4, k], c2[5, k], c2[6, k], c2[7, k]
        out[i, j] = metric_eps(code, c1[0, i], c1[1, i], c1[2, i], c1[3, i],
                               c1[4, i], c1[5, i], c1[6, i], c1[7, i],
                               bx1, by1, bx2, by2, barea, bcx2, bcy2, bangle, four_over_pi2, one,
                               eps)
        i += step


@cuda.jit(cache=True)
def _aligned_kernel(code, c1, c2, four_over_pi2, one, eps, out):
    for i in range(cuda.grid(1), out.shape[0], cuda.gridsize(1)):
        out[i] = metric_eps(code, c1[0, i], c1[1, i], c1[2, i], c1[3, i],
                            c1[4, i], c1[5, i], c1[6, i], c1[7, i],
                            c2[0, i], c2[1, i], c2[2, i], c2[3, i],
                            c2[4, i], c2[5, i], c2[6, i], c2[7, i], four_over_pi2, one, eps)


# ---------------------------------------------------------------------------- launches


def blocks(n: int, threads: int) -> int:
    """Blocks of ``threads`` covering ``n`` items."""
    return (n + threads - 1) // threads


def grid_1d(n: int) -> tuple[int, int]:
    """``(blocks, threads)`` of a grid-stride launch over ``n`` items."""
    threads = _config.CUDA_THREADS_PER_BLOCK
    return min(blocks(n, threads), MAX_BLOCKS), threads


def launch_columns(lib: Library, boxes, dt, fmt: str, offset, check: bool, bad, slot: int, order=None,
                   extreme_slot: int = -1):
    """Columns ``(8, N)`` (a Numba device array) of the device boxes ``boxes``, in dtype ``dt``.

    With ``order``, column r holds box ``order[r]``.  Invalid rows go to ``bad[slot]``;
    with ``extreme_slot``, a coordinate outside the safe range zeroes ``bad[extreme_slot]``.
    """
    n = boxes.shape[0]
    _, cols = lib.empty((N_COLUMNS, n), dt)
    if n:
        use_order = order is not None
        order = order if use_order else bad  # an unused array of the right kind
        _columns_kernel[grid_1d(n) + (lib.stream,)](
            boxes, order, use_order, FORMATS[fmt], dt.type(offset), dt.type(0.5), *safe_range(dt), check,
            cols, bad, slot, extreme_slot,
        )
    return cols


def launch_metric(lib: Library, code: int, c1, c2, out, aligned: bool, rows: int | None = None,
                  eps: float | None = None) -> None:
    """``out`` (a Numba device array) = the metric of the device columns ``c1``, ``c2``;
    ``rows``: boxes of c1 per batch (out ``(B * rows, M)``); ``eps``: see ``_formulas.metric_eps``."""
    if out.size == 0:
        return
    dt = np.dtype(out.dtype)
    e = dt.type(0 if eps is None else eps)
    if aligned:
        args: tuple[Any, ...] = (code, c1, c2, dt.type(FOUR_OVER_PI2), dt.type(1), e, out)
        _aligned_kernel[grid_1d(out.shape[0]) + (lib.stream,)](*args)
    else:
        args = (code, c1, c2, dt.type(FOUR_OVER_PI2), dt.type(1), e,
                out.shape[0] if rows is None else rows, out)
        tile_rows, columns = _config.CUDA_TILE
        grid = (blocks(out.shape[1], columns), min(blocks(out.shape[0], tile_rows), MAX_BLOCKS))
        _pairwise_kernel[grid, (columns, tile_rows), lib.stream](*args)


# ----------------------------------------------------------------- the backend interface


def pairwise(code, c1, c2, four_over_pi2, one, out, parallel, rows=None, eps=None):
    """Host columns in, host ``out`` filled (``backend='cuda'`` with NumPy input)."""
    _on_host_arrays(code, c1, c2, out, aligned=False, rows=rows, eps=eps)


def aligned(code, c1, c2, four_over_pi2, one, out, parallel, eps=None):
    """Host columns in, host ``out`` filled (``backend='cuda'`` with NumPy input)."""
    _on_host_arrays(code, c1, c2, out, aligned=True, eps=eps)


aligned_kernel = aligned  # (``aligned`` is also an argument name below)


def _on_host_arrays(code, c1, c2, out, aligned, rows=None, eps=None):
    lib = Library()
    d_out = lib.empty(out.shape, out.dtype)[1]
    launch_metric(lib, code, lib.to_device(c1), lib.to_device(c2), d_out, aligned, rows, eps)
    out[...] = lib.to_host(d_out)


# ------------------------------------------------------------------ the CUDA-array path


def device_boxes(lib: Library, x, name: str, batched: bool = False):
    """The Numba view of boxes ``x`` (a CUDA array, or host data copied to the device), checked.

    ``batched``: boxes ``(..., N, 4)`` are accepted (the caller flattens them with
    :func:`flat_boxes`).
    """
    if _validate.is_cuda_array(x):
        view = lib.view(x)
        if view.shape == (0,):
            view = lib.empty((0, 4), view.dtype)[1]
        _validate.check_box_shape(view, name, batched)
        return view
    return lib.to_device(_validate.as_box_array(x, name, batched))


def flat_boxes(view, name: str):
    """The device boxes ``(..., N, 4)`` as ``(B * N, 4)``, without a copy: ``ValueError``
    naming ``name`` when their layout does not allow it (a strided batched view)."""
    if view.ndim == 2:
        return view
    try:
        return view.reshape(view.size // 4, 4)
    except NotImplementedError:
        raise ValueError(f"{name}: batched CUDA boxes must be C-contiguous "
                         f"(call .contiguous() / cupy.ascontiguousarray first)") from None


def no_bad_rows(lib: Library, slots: int):
    """The ``bad`` slots of the column kernels: no invalid row yet (the largest int64)."""
    return lib.full((slots,), np.iinfo(np.int64).max, np.int64)


def raise_first_bad(rows: np.ndarray, views, names, fmt: str, per_batch=None, lead=()) -> None:
    """Raise the CPU's ``ValueError`` for the first invalid box found by the column kernels
    (``rows``: their ``bad`` slots, copied to the host; ``per_batch``: the boxes per
    batch item of each view, when they are flattened batches of leading shape ``lead``)."""
    for k, (row, view, name) in enumerate(zip(rows, views, names)):
        if row < view.shape[0]:
            # element by element: a row of a strided view need not be contiguous
            values = np.array([view[int(row), c] for c in range(4)], dtype=view.dtype).tolist()
            where = int(row) if per_batch is None else (
                tuple(np.unravel_index(int(row) // per_batch[k], lead)) + (int(row) % per_batch[k],))
            raise _validate.invalid_box_error(name, where, values, fmt)


def metric_on_device(code, boxes1, boxes2, *, fmt="xyxy", offset=0, aligned=False, dtype=None,
                     out=None, validate=True, eps=None):
    """Metric ``code`` of two box sets on the GPU; at least one is a CUDA array.

    Returns an array of the kind of the first CUDA input (a CuPy array, a PyTorch
    CUDA tensor, or a Numba device array for anything else), on its device, or
    the caller's ``out`` filled.  Validation and errors are the CPU path's.
    Batched boxes ``(..., N, 4)`` need the same leading dimensions on both sides
    (no broadcasting on the device) and a C-contiguous layout; ``eps``: see
    :func:`fastiou._formulas.build`'s ``metric_eps``.
    """
    _validate.check_choice(fmt, "fmt", FORMATS)
    _validate.check_offset(offset)
    lib = Library(boxes1 if _validate.is_cuda_array(boxes1) else boxes2)
    with lib.device():
        v1 = device_boxes(lib, boxes1, "boxes1", batched=True)
        v2 = device_boxes(lib, boxes2, "boxes2", batched=True)
        if aligned:
            _validate.check_aligned(v1.shape, v2.shape)
        s1, s2 = tuple(v1.shape), tuple(v2.shape)  # (the simulator's take no negative index)
        lead = s1[:-2]
        if s2[:-2] != lead:
            raise ValueError(f"boxes2 must have the leading (batch) dimensions of boxes1, {lead}, "
                             f"got {s2[:-2]} (CUDA boxes are not broadcast)")
        b1, b2 = flat_boxes(v1, "boxes1"), flat_boxes(v2, "boxes2")
        n, m = s1[-2], s2[-2]
        dt = _validate.compute_dtype(b1, b2, dtype=dtype)
        bad = no_bad_rows(lib, 3)  # first invalid row of each set; slot 2: 0 if extreme
        c1 = launch_columns(lib, b1, dt, fmt, offset, validate, bad, 0, extreme_slot=2)
        c2 = launch_columns(lib, b2, dt, fmt, offset, validate, bad, 1, extreme_slot=2)
        flags = lib.to_host(bad)
        if validate:
            raise_first_bad(flags, (b1, b2), ("boxes1", "boxes2"), fmt, (n, m) if lead else None, lead)
        shape = lead + ((n,) if aligned else (n, m))
        if out is None:
            result, out_view = lib.empty(shape, dt)
        else:
            result, out_view = out, (lib.view(out) if _validate.is_cuda_array(out) else None)
            _validate.check_device_out(out, out_view, shape, dt)
        if out_view.size == 0:
            return result
        flat_out = out_view if not lead else flat_boxes_out(out_view, aligned)
        if flags[2] == 0 and eps is None:
            # a coordinate outside the safe range (rare): the exact path, on host copies
            host = np.empty(shape, dt)
            kernel = aligned_kernel if aligned else pairwise
            h1 = lib.to_host(b1).astype(dt).reshape(lead + (n, 4))
            h2 = lib.to_host(b2).astype(dt).reshape(lead + (m, 4))
            for index in np.ndindex(*lead):
                _extreme.metric(lambda a, b, block: kernel(code, a, b, FOUR_OVER_PI2, 1.0, block, False),
                                h1[index], h2[index], fmt, offset, aligned, code == CIOU, code == IOA,
                                host[index])
            flat_out.copy_to_device(host.reshape(flat_out.shape), stream=lib.stream)
        else:
            launch_metric(lib, code, c1, c2, flat_out, aligned, rows=n, eps=eps)
    return result


def flat_boxes_out(view, aligned: bool):
    """The device output ``(..., N, M)`` (``(..., N)`` aligned) as the kernels' 2-D (1-D) array."""
    try:
        return view.reshape(view.size) if aligned else view.reshape(view.size // view.shape[view.ndim - 1],
                                                                     view.shape[view.ndim - 1])
    except NotImplementedError:
        raise ValueError("out: a batched CUDA out must be C-contiguous") from None
