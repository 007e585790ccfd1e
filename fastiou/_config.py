"""Tunables and Numba options, in one place.

``NUMBA_OPTIONS`` is used by every CPU kernel.  No fastmath: ``contract`` would fuse
``a1 + a2 - iw * ih`` into an FMA, so that identical boxes no longer give an IoU of
exactly 1, and ``nnan``/``ninf`` would break the NaN/inf semantics.  The kernels
vectorise without it (they have no reductions in the hot loop).
"""

from __future__ import annotations

import functools
import os
import types
from typing import Any, Callable

NUMBA_OPTIONS = dict(cache=True, nogil=True, error_model="numpy", fastmath=False)

#: How long a thread of the OpenMP runtime (libgomp: the Cython extensions' pool, and
#: Numba's under its 'omp' threading layer) spins before it sleeps.  libgomp's default,
#: 300,000 spins, keeps the pool's threads on their vCPUs for milliseconds after each
#: region: beside one busy process on a 2-vCPU machine, forced-parallel calls then took
#: 4-40 ms where the serial ones took 0.1-1.4 ms (cross_entropy 1000 x 80: 4.1 ms, against
#: 0.26 ms with 10,000 spins; box_iou 1000 x 1000: 3.1 ms against 0.6 ms), and quiet
#: back-to-back calls took the same time with either.  Set at import where the user set
#: neither GOMP_SPINCOUNT nor OMP_WAIT_POLICY; libgomp reads it when it loads, so it holds
#: unless another library loaded libgomp before fastiou was imported.
GOMP_SPINCOUNT = "10000"
if "GOMP_SPINCOUNT" not in os.environ and "OMP_WAIT_POLICY" not in os.environ:
    os.environ["GOMP_SPINCOUNT"] = GOMP_SPINCOUNT

#: A pairwise call of fewer pairs takes the compiled small-input path (serial, one
#: call that checks, splits and computes).
SERIAL_WORK_THRESHOLD = 200_000
#: Up to this many boxes, NMS compares all pairs of a class in one compiled call (cheaper
#: than the NumPy sorts of the general kernels, about 30 us, and the x1 windows); a plain
#: ``nms`` call of that many NumPy boxes also skips the Python validation (the fast path).
SMALL_NMS = 768

#: The work model of the serial/parallel choice (fastiou/backends/_cost.py): serial
#: nanoseconds per unit of work of each kind of kernel, the faster backend's, measured
#: on one thread of the development machine (2 vCPUs, AVX-512).  Rounded down: an
#: underestimate only keeps a call serial.
SERIAL_NS_PER_UNIT = {
    "iou_pairs": 0.6,  # box_iou / box_ioa: a pair
    "giou_pairs": 0.9,  # generalized_ / distance_box_iou
    "ciou_pairs": 1.2,  # complete_box_iou
    "nms": 150.0,  # nms family: an input box
    "rotated_pairs": 0.8,  # rotated box_iou / box_ioa / GIoU: a pair (scattered 0.9, clustered 3.7)
    "masks": 0.08,  # mask_iou / mask_dice: packed words and runs (see masks.py)
    "mask_encode": 2.0,  # rle_encode: a pixel
    "mask_pixels": 0.2,  # rle_decode, dice, masks_to_boxes: a pixel
    "losses": 3.0,  # elementwise and softmax losses: an element
    "box_losses": 100.0,  # IoU-family losses: a pair of boxes
    # sparse joins and best matches: a box times LEAF_SIZE (fastiou.sparse); on one thread 23-78 ns
    # at a detector's density (tiled, 300-10,000 boxes), 11-264 ns from sparse to dense clusters
    "sparse": 50.0,
    "coco": 2.0,  # COCO greedy matching: a (pair or box) x area range x threshold
}

#: Kinds whose parallel kernel, run on one thread, beats its serial twin (the load matrix:
#: 0.84x the serial time for box_iou 1000 x 1000, 0.5-0.8x for the sparse joins; for the
#: losses 0.86-0.89x for cross_entropy rows, 0.90-1.02x for the others measured; within a
#: few percent or slower for the other kinds).  The parallel kernel's loop body is compiled as a
#: separate function whose array arguments are marked as not aliasing one another, which
#: lets those loops vectorise without runtime overlap checks; so a serial choice (one thread,
#: or several where parallel does not pay) runs that kernel on the calling thread alone, for
#: calls big enough to be measured at all (fastiou.backends._cost.on_one_thread).
ONE_THREAD_PARALLEL = frozenset({"iou_pairs", "sparse", "losses"})

#: CUDA threads per block (tests patch it small to cover several blocks).
CUDA_THREADS_PER_BLOCK = 256
#: CUDA 2-D tiles: (rows, columns) of threads per block for pairwise kernels.
CUDA_TILE = (8, 32)


def serial_and_parallel(py_func: Callable[..., Any]) -> tuple[Any, Any]:
    """Compile ``py_func`` twice: serially and with ``parallel=True`` (``prange``).

    Numba's on-disk cache keys on the function's qualified name and not on its
    flags, so the serial twin is compiled from a copy with its own name.  Both are
    :func:`fastiou.backends._cost.timed`: the cost model observes what its choices took.
    """
    import numba

    from .backends._cost import timed

    parallel = numba.njit(parallel=True, **NUMBA_OPTIONS)(py_func)
    twin = types.FunctionType(
        py_func.__code__,
        py_func.__globals__,
        py_func.__name__ + "_serial",
        py_func.__defaults__,
        py_func.__closure__,
    )
    twin.__qualname__ = py_func.__qualname__ + "_serial"
    twin.__doc__ = py_func.__doc__
    serial = numba.njit(**NUMBA_OPTIONS)(twin)
    return timed(serial, False), timed(parallel, True)


def njit(py_func: Callable[..., Any] | None = None, **overrides: Any) -> Any:
    """``numba.njit`` with the project's options (``@njit`` or ``@njit(inline='always')``)."""
    import numba  # here, not at the top: importing fastiou does not start Numba

    options = {**NUMBA_OPTIONS, **overrides}
    if py_func is None:
        return lambda f: numba.njit(**options)(f)
    return numba.njit(**options)(py_func)


def lazy_njit(py_func: Callable[..., Any]) -> Callable[..., Any]:
    """``njit(py_func)`` compiled at its first call, so that the importing module does
    not start Numba (for the few compiled helpers of import-light modules)."""
    dispatcher = None

    @functools.wraps(py_func)
    def call(*args: Any) -> Any:
        nonlocal dispatcher
        if dispatcher is None:
            dispatcher = njit(py_func)
        return dispatcher(*args)

    return call
