"""Numba CUDA mask kernels: bit packing, pairwise / aligned mask IoU and Dice, Dice sums.

The layouts are those of :mod:`fastiou.backends.numba_cpu_masks` (read its
docstring): dense masks packed to ``uint64`` words per row and a per-mask summary
``info (K, N_INFO)``; the overlap formula is :mod:`fastiou._mask_formulas` compiled
as a CUDA device function.

* ``_pack_kernel``: one thread per word of a mask row packs 64 pixels (binarising
  and checking them on the way) and adds its popcount, row and first/last set
  column to the mask's summary with atomics; ``_finish_info_kernel`` then fills
  the summary exactly as the CPU kernel does.
* ``_pairwise_kernel`` / ``_aligned_kernel``: one thread per pair counts the
  shared pixels with popcounts over the words of the two masks' common bounding
  box (consecutive threads write consecutive columns).
* ``_row_sums_kernel``: one block per (row, chunk) of the Dice sums, a fixed-order
  tree reduction in shared memory (deterministic, float64).

The backend interface shared with ``numba_cpu_masks`` and ``cython_masks`` is the
plain functions at the bottom, on host arrays (``backend='cuda'`` with NumPy
input: copy in, compute, copy out).  COCO RLE parsing, encoding and the run
intersection are sequential per mask and light on memory traffic: this module
delegates them to the Numba CPU kernels.  :func:`overlap_on_device` is the path
for CUDA arrays (zero copy, result of the caller's kind).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numba import cuda
from numpy.typing import DTypeLike, NDArray

from .. import _config, _mask_formulas, _validate
from .._mask_formulas import AREA, FIRST, LAST, N_INFO, SIMPLE, TOTAL, X0, X1, Y0, Y1
from . import numba_cpu_masks as _cpu
from . import numba_cuda
from ._cuda_arrays import Library
from .numba_cuda import blocks, grid_1d
from .numba_cuda import device_name, require_gpu  # noqa: F401  (the family interface)

overlap = _mask_formulas.build(cuda.jit(device=True, inline="always")).overlap

WORD = 64
#: Threads per block of the Dice sums at most (the size of its shared arrays).
MAX_SUM_THREADS = 1024
#: Validation flags written by the pack kernel.
NOT_BINARY, HAS_NAN = 0, 1


# ---------------------------------------------------------------------------- kernels


@cuda.jit(cache=True)
def _init_info_kernel(info, height, width):
    for k in range(cuda.grid(1), info.shape[0], cuda.gridsize(1)):
        info[k, AREA] = 0
        info[k, Y0] = height
        info[k, Y1] = -1
        info[k, X0] = width
        info[k, X1] = -1


@cuda.jit(cache=True)
def _pack_kernel(masks, use_threshold, threshold, check, bits, info, flags):
    """Pack word ``(k, y, w)`` of every mask row; foreground is ``value > threshold``
    or ``value != 0``; ``flags`` records a NaN (with a threshold) or a value other
    than 0 and 1 (without one, when ``check``)."""
    height, width = masks.shape[1], masks.shape[2]
    n_words = bits.shape[2]
    total = masks.shape[0] * height * n_words
    for item in range(cuda.grid(1), total, cuda.gridsize(1)):
        k = item // (height * n_words)
        rest = item - k * (height * n_words)
        y = rest // n_words
        w = rest - y * n_words
        word = np.uint64(0)
        count = 0
        first = -1
        last = -1
        for b in range(min(WORD, width - w * WORD)):
            v = masks[k, y, w * WORD + b]
            if use_threshold:
                if v != v:
                    flags[HAS_NAN] = 1
                on = v > threshold
            else:
                on = v != 0
                if check and not (v == 0 or v == 1):
                    flags[NOT_BINARY] = 1
            if on:
                word |= np.uint64(1) << np.uint64(b)
                count += 1
                if first < 0:
                    first = b
                last = b
        bits[k, y, w] = word
        if count:
            cuda.atomic.add(info, (k, AREA), count)
            cuda.atomic.min(info, (k, Y0), y)
            cuda.atomic.max(info, (k, Y1), y)
            cuda.atomic.min(info, (k, X0), w * WORD + first)
            cuda.atomic.max(info, (k, X1), w * WORD + last)


@cuda.jit(cache=True)
def _finish_info_kernel(info, height, width):
    # The CPU kernel's summary: all zeros but TOTAL for an empty mask.
    for k in range(cuda.grid(1), info.shape[0], cuda.gridsize(1)):
        if info[k, AREA] == 0:
            for c in range(N_INFO):
                info[k, c] = 0
        else:
            info[k, FIRST] = info[k, Y0] * width
            info[k, LAST] = (info[k, Y1] + 1) * width
            info[k, SIMPLE] = 0  # the RLE-only flag: dense masks never take the RLE path
        info[k, TOTAL] = height * width


@cuda.jit(device=True, inline="always")
def _dense_inter(a, ia, b, ib):
    """Pixels shared by two packed masks, counted over the words of their common box."""
    if ia[AREA] == 0 or ib[AREA] == 0:
        return 0
    if ia[X1] < ib[X0] or ib[X1] < ia[X0] or ia[Y1] < ib[Y0] or ib[Y1] < ia[Y0]:
        return 0
    w0 = max(ia[X0], ib[X0]) // WORD
    w1 = min(ia[X1], ib[X1]) // WORD + 1
    total = 0
    for y in range(max(ia[Y0], ib[Y0]), min(ia[Y1], ib[Y1]) + 1):
        for w in range(w0, w1):
            total += cuda.popc(a[y, w] & b[y, w])
    return total


@cuda.jit(cache=True)
def _pairwise_kernel(code, bits1, info1, bits2, info2, crowd, out):
    j = cuda.blockIdx.x * cuda.blockDim.x + cuda.threadIdx.x
    if j >= out.shape[1]:
        return
    i = cuda.blockIdx.y * cuda.blockDim.y + cuda.threadIdx.y
    while i < out.shape[0]:
        inter = _dense_inter(bits1[i], info1[i], bits2[j], info2[j])
        out[i, j] = overlap(code, inter, info1[i, AREA], info2[j, AREA], crowd[j])
        i += cuda.gridDim.y * cuda.blockDim.y


@cuda.jit(cache=True)
def _aligned_kernel(code, bits1, info1, bits2, info2, crowd, out):
    for i in range(cuda.grid(1), out.shape[0], cuda.gridsize(1)):
        inter = _dense_inter(bits1[i], info1[i], bits2[i], info2[i])
        out[i] = overlap(code, inter, info1[i, AREA], info2[i, AREA], crowd[i])


@cuda.jit(cache=True)
def _row_sums_kernel(pred, target, threshold, binarize, squared, chunk, partial):
    """Block (chunk c, row r): ``partial[r, c] = (sum p t, sum p (or p^2), sum t (or t^2))``."""
    c = cuda.blockIdx.x
    tid = cuda.threadIdx.x
    nthreads = cuda.blockDim.x
    sums = cuda.shared.array((3, MAX_SUM_THREADS), np.float64)
    for r in range(cuda.blockIdx.y, pred.shape[0], cuda.gridDim.y):
        lo = c * chunk
        hi = min(pred.shape[1], lo + chunk)
        s_pt = 0.0
        s_p = 0.0
        s_t = 0.0
        for i in range(lo + tid, hi, nthreads):
            a: float = np.float64(pred[r, i])
            if binarize:
                a = 1.0 if a > threshold else 0.0
            b = np.float64(target[r, i])
            s_pt += a * b
            if squared:
                s_p += a * a
                s_t += b * b
            else:
                s_p += a
                s_t += b
        sums[0, tid] = s_pt
        sums[1, tid] = s_p
        sums[2, tid] = s_t
        cuda.syncthreads()
        step = 1
        while step < nthreads:
            if tid % (2 * step) == 0 and tid + step < nthreads:
                for q in range(3):
                    sums[q, tid] += sums[q, tid + step]
            cuda.syncthreads()
            step *= 2
        if tid == 0:
            for q in range(3):
                partial[r, c, q] = sums[q, 0]
        cuda.syncthreads()


# ---------------------------------------------------------------------------- launches


def pack(lib: Library, masks: Any, threshold: float | None, check: bool) -> tuple[Any, Any, Any]:
    """``(bits, info, flags)`` of device masks ``(K, H, W)`` (Numba device arrays)."""
    k, height, width = masks.shape
    _, bits = lib.empty((k, height, blocks(width, WORD)), np.int64)
    bits = bits.view(np.uint64)
    info = lib.empty((k, N_INFO), np.int64)[1]
    flags = lib.zeros((2,), np.int64)
    if k:
        _init_info_kernel[grid_1d(k) + (lib.stream,)](info, height, width)
        if bits.size:
            use = threshold is not None
            # NumPy compares float masks with a Python float in the masks' dtype (NEP 50)
            float_masks = masks.dtype.kind == "f"
            thr = masks.dtype.type(threshold) if use and float_masks else np.float64(threshold or 0)
            _pack_kernel[grid_1d(bits.size) + (lib.stream,)](masks, use, thr, check, bits, info, flags)
        _finish_info_kernel[grid_1d(k) + (lib.stream,)](info, height, width)
    return bits, info, flags


def launch_overlap(lib: Library, code: int, p1: tuple[Any, Any], p2: tuple[Any, Any], crowd: Any, out: Any,
                   aligned: bool) -> None:
    if out.size == 0:
        return
    args = (code, p1[0], p1[1], p2[0], p2[1], crowd, out)
    if aligned:
        _aligned_kernel[grid_1d(out.shape[0]) + (lib.stream,)](*args)
    else:
        rows, columns = _config.CUDA_TILE
        grid = (blocks(out.shape[1], columns), min(blocks(out.shape[0], rows), numba_cuda.MAX_BLOCKS))
        _pairwise_kernel[grid, (columns, rows), lib.stream](*args)


# ----------------------------------------------------------------- the backend interface


def pack_dense(
    masks: NDArray[np.uint8],
    bits: NDArray[np.uint64],
    info: NDArray[np.int64],
    parallel: bool,
) -> None:
    """As ``numba_cpu_masks.pack_dense``, on the GPU (host arrays in and out)."""
    lib = Library()
    d_bits, d_info, _ = pack(lib, lib.to_device(masks), None, False)
    bits[...] = lib.to_host(d_bits) if bits.size else bits
    info[...] = lib.to_host(d_info) if info.size else info


def _host_overlap(
    code: int,
    bits1: NDArray[np.uint64],
    info1: NDArray[np.int64],
    bits2: NDArray[np.uint64],
    info2: NDArray[np.int64],
    crowd: NDArray[np.uint8],
    out: NDArray[np.floating[Any]],
    aligned: bool,
) -> None:
    lib = Library()
    d_out = lib.empty(out.shape, out.dtype)[1]
    p1 = (lib.to_device(bits1), lib.to_device(info1))
    p2 = (lib.to_device(bits2), lib.to_device(info2))
    launch_overlap(lib, code, p1, p2, lib.to_device(crowd), d_out, aligned)
    out[...] = lib.to_host(d_out)


def dense_pairwise(
    code: int,
    bits1: NDArray[np.uint64],
    info1: NDArray[np.int64],
    bits2: NDArray[np.uint64],
    info2: NDArray[np.int64],
    crowd: NDArray[np.uint8],
    out: NDArray[np.floating[Any]],
    parallel: bool,
) -> None:
    """As ``numba_cpu_masks.dense_pairwise``, on the GPU (host arrays in and out)."""
    _host_overlap(code, bits1, info1, bits2, info2, crowd, out, False)


def dense_aligned(
    code: int,
    bits1: NDArray[np.uint64],
    info1: NDArray[np.int64],
    bits2: NDArray[np.uint64],
    info2: NDArray[np.int64],
    crowd: NDArray[np.uint8],
    out: NDArray[np.floating[Any]],
    parallel: bool,
) -> None:
    """As ``numba_cpu_masks.dense_aligned``, on the GPU (host arrays in and out)."""
    _host_overlap(code, bits1, info1, bits2, info2, crowd, out, True)


def row_sums(
    pred: NDArray[np.uint8] | NDArray[np.float32] | NDArray[np.float64],
    target: NDArray[np.uint8] | NDArray[np.float32] | NDArray[np.float64],
    threshold: float,
    binarize: bool,
    squared: bool,
    chunk: int,
    partial: NDArray[np.float64],
    parallel: bool,
) -> None:
    """As ``numba_cpu_masks.row_sums`` (float64 sums per row and chunk), on the GPU."""
    lib = Library()
    rows, nchunks = partial.shape[:2]
    d_partial = lib.to_device(partial)
    threads = min(_config.CUDA_THREADS_PER_BLOCK, MAX_SUM_THREADS)
    grid = (nchunks, min(rows, 65535))
    _row_sums_kernel[grid, threads, lib.stream](
        lib.to_device(pred), lib.to_device(target), np.float64(threshold), binarize, squared, chunk, d_partial
    )
    partial[...] = lib.to_host(d_partial)


# RLE and encoding: sequential per mask, run on the CPU (see the module docstring).
rle_from_strings = _cpu.rle_from_strings
rle_info = _cpu.rle_info
rle_pairwise = _cpu.rle_pairwise
rle_aligned = _cpu.rle_aligned
count_runs = _cpu.count_runs
write_runs = _cpu.write_runs
rle_to_strings = _cpu.rle_to_strings
rle_to_dense = _cpu.rle_to_dense


# ------------------------------------------------------------------ the CUDA-array path


def _device_masks(
    lib: Library, x: Any, name: str, threshold: float | None
) -> tuple[tuple[Any, Any], tuple[int, ...], np.dtype[Any]]:
    """Packed ``(bits, info)`` and shape of masks ``x`` (a CUDA array, or host masks copied over)."""
    if _validate.is_rle(x):
        raise TypeError(f"{name} is COCO RLE: with CUDA arrays, pass dense masks "
                        f"(or copy the others to the host)")
    if _validate.is_cuda_array(x):
        view = lib.view(x)
        _validate.check_mask_array(view, name)
        dtype = view.dtype
    else:  # host masks: validated and binarised here, then copied over
        binary, _, dtype = _validate.as_masks(x, name, threshold)
        view = lib.to_device(binary)
        threshold = None
    masks = view if view.ndim == 3 else view.reshape((1,) + tuple(view.shape))
    bits, info, flags = pack(lib, masks, threshold, True)
    nan, not_binary = lib.to_host(flags)[[HAS_NAN, NOT_BINARY]]
    if nan or not_binary:
        raise _validate.mask_value_error(name, bool(nan))
    return (bits, info), tuple(masks.shape), dtype


def overlap_on_device(code: int, masks1: Any, masks2: Any, *, iscrowd: Any = None, aligned: bool = False,
                      threshold: float | None = None, dtype: DTypeLike = None, out: Any = None) -> Any:
    """Pairwise (or aligned) mask IoU / Dice of dense CUDA masks, on the GPU.

    Returns an array of the kind of the first CUDA input, on its device (or the
    caller's ``out`` filled); validation and errors are the CPU path's.
    """
    aligned = _validate.check_bool(aligned, "aligned")
    threshold = _validate.check_threshold(threshold)
    lib = Library(masks1 if _validate.is_cuda_array(masks1) else masks2)
    with lib.device():
        p1, shape1, dtype1 = _device_masks(lib, masks1, "masks1", threshold)
        p2, shape2, dtype2 = _device_masks(lib, masks2, "masks2", threshold)
        _validate.check_mask_sizes(shape1, shape2, ("masks1", "masks2"), aligned)
        n, m = shape1[0], shape2[0]
        if _validate.is_cuda_array(iscrowd):
            iscrowd = lib.to_host(lib.view(iscrowd))
        crowd = lib.to_device(_validate.as_crowd(iscrowd, n if aligned else m))
        dt = _validate.compute_dtype(np.empty(0, dtype1), np.empty(0, dtype2), dtype=dtype)
        shape = (n,) if aligned else (n, m)
        if out is None:
            result, out_view = lib.empty(shape, dt)
        else:
            result, out_view = out, (lib.view(out) if _validate.is_cuda_array(out) else None)
            _validate.check_device_out(out, out_view, shape, dt)
        launch_overlap(lib, code, p1, p2, crowd, out_view, aligned)
    return result
