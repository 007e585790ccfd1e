"""Tunables and Numba options, in one place.

``NUMBA_OPTIONS`` is used by every CPU kernel.  No fastmath: ``contract`` would fuse
``a1 + a2 - iw * ih`` into an FMA, so that identical boxes no longer give an IoU of
exactly 1, and ``nnan``/``ninf`` would break the NaN/inf semantics.  The kernels
vectorise without it (they have no reductions in the hot loop).
"""

from __future__ import annotations

import functools
import types

NUMBA_OPTIONS = dict(cache=True, nogil=True, error_model="numpy", fastmath=False)

#: Below this many pairs (or boxes, for per-box work) ``backend='auto'`` runs a
#: serial kernel: waking a thread pool costs more than the whole job.
SERIAL_WORK_THRESHOLD = 200_000

#: CUDA threads per block (tests patch it small to cover several blocks).
CUDA_THREADS_PER_BLOCK = 256
#: CUDA 2-D tiles: (rows, columns) of threads per block for pairwise kernels.
CUDA_TILE = (8, 32)


def serial_and_parallel(py_func):
    """Compile ``py_func`` twice: serially and with ``parallel=True`` (``prange``).

    Numba's on-disk cache keys on the function's qualified name and not on its
    flags, so the serial twin is compiled from a copy with its own name.
    """
    import numba

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
    return serial, parallel


def njit(py_func=None, **overrides):
    """``numba.njit`` with the project's options (``@njit`` or ``@njit(inline='always')``)."""
    import numba  # here, not at the top: importing fastiou does not start Numba

    options = {**NUMBA_OPTIONS, **overrides}
    if py_func is None:
        return lambda f: numba.njit(**options)(f)
    return numba.njit(**options)(py_func)


def lazy_njit(py_func):
    """``njit(py_func)`` compiled at its first call, so that the importing module does
    not start Numba (for the few compiled helpers of import-light modules)."""
    dispatcher = None

    @functools.wraps(py_func)
    def call(*args):
        nonlocal dispatcher
        if dispatcher is None:
            dispatcher = njit(py_func)
        return dispatcher(*args)

    return call
