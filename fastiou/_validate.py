"""The validation boundary: every public function checks its input here, once.

Turns user input (NumPy arrays, lists, CPU tensors, anything with ``__array__``)
into arrays the kernels can trust, applies the dtype policy, and raises
``TypeError`` (wrong kind) or ``ValueError`` (wrong shape or value) naming the
argument.  The caller's arrays are never modified: kernels only read what this
module returns, which is a fresh array whenever a conversion is needed.
"""

from __future__ import annotations

import numbers
from typing import Any

import numpy as np

from ._columns import FORMATS, box_columns

FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))
REDUCTIONS = ("none", "mean", "sum")


def is_cuda_array(x: Any) -> bool:
    """True for CUDA arrays: ``__cuda_array_interface__`` or a Numba device array.

    Under ``NUMBA_ENABLE_CUDASIM=1`` Numba's device arrays have no interface, so
    they are recognised by type (only when numba.cuda is already imported).
    """
    if hasattr(x, "__cuda_array_interface__"):
        return True
    import sys

    cuda = sys.modules.get("numba.cuda")
    if cuda is None:
        return False
    try:
        from numba.cuda.simulator.cudadrv.devicearray import FakeCUDAArray
    except ImportError:  # pragma: no cover - depends on numba's layout
        FakeCUDAArray = ()
    return isinstance(x, FakeCUDAArray)


def as_array(x: Any, name: str) -> np.ndarray:
    """``np.asarray(x)`` that accepts only real numbers and bools."""
    if isinstance(x, (str, bytes)):
        raise TypeError(f"{name} must be an array of numbers, got {type(x).__name__}")
    try:
        arr = np.asarray(x)
    except (ValueError, TypeError) as exc:  # ragged lists and the like
        raise TypeError(f"{name} must be an array of numbers: {exc}") from None
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"{name} must hold real numbers, got dtype {arr.dtype}")
    return arr


def compute_dtype(*arrays: np.ndarray, dtype: Any = None) -> np.dtype:
    """The dtype policy: float64 and float32 stay; float16 -> float32; ints and bools -> float64.

    ``dtype`` (float32 or float64) overrides it.
    """
    if dtype is not None:
        try:
            dt = np.dtype(dtype)
        except TypeError:
            raise TypeError(f"dtype must be float32 or float64, got {dtype!r}") from None
        if dt not in FLOAT_DTYPES:
            raise TypeError(f"dtype must be float32 or float64, got {dt}")
        return dt
    result = np.dtype(np.float32)
    for arr in arrays:
        kind, size = arr.dtype.kind, arr.dtype.itemsize
        if kind != "f" or size > 4:
            return np.dtype(np.float64)
    return result


def check_choice(value: Any, name: str, choices) -> Any:
    if not isinstance(value, str) or value not in choices:
        raise ValueError(f"{name} must be one of {sorted(choices)}, got {value!r}")
    return value


def check_offset(offset: Any) -> float:
    if isinstance(offset, bool) or not isinstance(offset, numbers.Real) or offset not in (0, 1):
        raise ValueError(f"offset must be 0 or 1, got {offset!r}")
    return offset


def check_reduction(reduction: Any, allowed=REDUCTIONS) -> str:
    return check_choice(reduction, "reduction", allowed)


def as_box_array(x: Any, name: str) -> np.ndarray:
    """An ``(N, 4)`` array of real numbers (not yet converted)."""
    arr = as_array(x, name)
    if arr.ndim != 2 or arr.shape[1] != 4:
        raise ValueError(f"{name} must have shape (N, 4), got {arr.shape}")
    return arr


def as_box_columns(
    arr: np.ndarray, name: str, dt: np.dtype, fmt: str, offset: float, validate: bool
) -> np.ndarray:
    """Columns ``(8, N)`` of boxes ``arr`` in dtype ``dt`` (see :mod:`fastiou._columns`).

    Raises ``ValueError`` naming ``name`` and the first row that is not finite or
    has ``x2 < x1`` or ``y2 < y1`` after format conversion, unless ``validate`` is
    False (results for such rows are then unspecified, but nothing crashes).
    """
    native = arr.astype(dt, copy=False)  # also makes byte-swapped input native
    cols, bad = box_columns(native, fmt, offset, validate)
    if bad >= 0:
        raise ValueError(
            f"{name} has an invalid box at row {bad}: {arr[bad].tolist()} "
            f"(coordinates must be finite with x2 >= x1 and y2 >= y1 in {fmt!r} format)"
        )
    return cols


def box_pair(
    boxes1: Any,
    boxes2: Any,
    *,
    fmt: str,
    offset: float,
    dtype: Any,
    validate: bool,
    aligned: bool,
    names=("boxes1", "boxes2"),
) -> tuple[np.ndarray, np.ndarray, np.dtype]:
    """Validate two box sets; return their columns and the common compute dtype."""
    check_choice(fmt, "fmt", FORMATS)
    check_offset(offset)
    a1 = as_box_array(boxes1, names[0])
    a2 = as_box_array(boxes2, names[1])
    if aligned and a1.shape[0] != a2.shape[0]:
        raise ValueError(
            f"aligned=True needs {names[0]} and {names[1]} of the same length, "
            f"got {a1.shape} and {a2.shape}"
        )
    dt = compute_dtype(a1, a2, dtype=dtype)
    c1 = as_box_columns(a1, names[0], dt, fmt, offset, validate)
    c2 = as_box_columns(a2, names[1], dt, fmt, offset, validate)
    return c1, c2, dt


def as_out(out: Any, shape: tuple, dt: np.dtype) -> np.ndarray:
    """A fresh output, or the caller's ``out`` after checking shape, dtype and writability."""
    if out is None:
        return np.empty(shape, dtype=dt)
    if not isinstance(out, np.ndarray):
        raise TypeError(f"out must be a numpy.ndarray, got {type(out).__name__}")
    if out.shape != shape:
        raise ValueError(f"out must have shape {shape}, got {out.shape}")
    if out.dtype != dt:
        raise TypeError(f"out must have dtype {dt}, got {out.dtype}")
    if not out.flags.writeable:
        raise ValueError("out must be writeable")
    return out
