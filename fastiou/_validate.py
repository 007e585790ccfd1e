"""The validation boundary: every public function checks its input here, once.

Turns user input (NumPy arrays, lists, CPU tensors, anything with ``__array__``)
into arrays the kernels can trust, applies the dtype policy, and raises
``TypeError`` (wrong kind) or ``ValueError`` (wrong shape or value) naming the
argument.  The caller's arrays are never modified: kernels only read what this
module returns, which is a fresh array whenever a conversion is needed.
"""

from __future__ import annotations

import math
import numbers
from typing import TYPE_CHECKING, Any, Collection, TypeVar

import numpy as np

from ._columns import FORMATS, box_columns
from ._formulas import EXTREME
from ._config import lazy_njit
from .backends import BACKENDS

if TYPE_CHECKING:  # pragma: no cover
    from typing import Literal

    from numpy.typing import DTypeLike, NDArray

    #: Every box format, axis-aligned and rotated (for the annotations of private helpers:
    #: public signatures spell their ``Literal`` out, which the API reference shows).
    AnyFormat = Literal["xyxy", "xywh", "cxcywh", "cxcywhr", "xywhr", "xyxyxyxy"]
    #: The pairwise metrics by name.
    MetricName = Literal["iou", "ioa", "giou", "diou", "ciou"]

_ScalarT = TypeVar("_ScalarT", bound=np.generic)
_FloatT = TypeVar("_FloatT", bound="np.floating[Any]")

FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))
REDUCTIONS = ("none", "mean", "sum")


def is_cuda_array(x: Any) -> bool:
    """True for CUDA arrays: ``__cuda_array_interface__`` or a Numba device array.

    Under ``NUMBA_ENABLE_CUDASIM=1`` Numba's device arrays (``FakeCUDAArray``)
    have no interface: they are recognised by Numba's own ``__cuda_ndarray__``
    marker, which real Numba device arrays carry too.
    """
    return hasattr(x, "__cuda_array_interface__") or getattr(x, "__cuda_ndarray__", False) is True


def as_array(x: Any, name: str) -> NDArray[Any]:
    """``np.asarray(x)`` that accepts only real numbers and bools.

    A tensor that requires grad is read through its ``detach()`` (these functions
    compute values, not gradients; ``np.asarray`` of it raises).
    """
    if isinstance(x, (str, bytes)):
        raise TypeError(f"{name} must be an array of numbers, got {type(x).__name__}")
    if type(x) is not np.ndarray and getattr(x, "requires_grad", False) is True:
        x = x.detach()
    try:
        arr: NDArray[Any] = np.asarray(x)
    except (ValueError, TypeError) as exc:  # ragged lists and the like
        raise TypeError(f"{name} must be an array of numbers: {exc}") from None
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"{name} must hold real numbers, got dtype {arr.dtype}")
    return arr


def compute_dtype(*arrays: NDArray[Any], dtype: DTypeLike = None) -> np.dtype[np.floating[Any]]:
    """The dtype policy: float64 and float32 stay; float16 -> float32; ints and bools -> float64.

    ``dtype`` (float32 or float64) overrides it.
    """
    if dtype is not None:
        try:
            dt: np.dtype[Any] = np.dtype(dtype)
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


def check_backend(backend: Any, allowed: tuple[str, ...] = BACKENDS) -> str:
    """``backend`` if it is one of ``allowed`` (default: every backend), else ``ValueError``.

    Public functions call it first, so that a misspelt name fails on empty input
    too (the dispatcher, which also checks, is not reached there).
    """
    if not isinstance(backend, str) or backend not in allowed:
        raise ValueError(f"backend must be one of {allowed}, got {backend!r}")
    return backend


def check_choice(value: Any, name: str, choices: Collection[str]) -> str:
    if not isinstance(value, str) or value not in choices:
        raise ValueError(f"Invalid {name}: {name} must be one of {sorted(choices)}, got {value!r}")
    return value


def check_offset(offset: float) -> float:
    if isinstance(offset, bool) or not isinstance(offset, numbers.Real) or offset not in (0, 1):
        raise ValueError(f"offset must be 0 or 1, got {offset!r}")
    return offset


def check_reduction(reduction: Any, allowed: Collection[str] = REDUCTIONS) -> str:
    return check_choice(reduction, "reduction", allowed)


def as_box_array(x: Any, name: str, batched: bool = False) -> NDArray[Any]:
    """An ``(N, 4)`` array of real numbers (not yet converted); ``(..., N, 4)`` with ``batched``.

    An empty ``(0,)`` array (``torch.empty((0,))``, ``[]``) is taken as ``(0, 4)``,
    as torchvision does.
    """
    arr = as_array(x, name)
    if arr.shape == (0,):
        arr = arr.reshape(0, 4)
    check_box_shape(arr, name, batched)
    return arr


def as_box_batch(x: Any, name: str) -> NDArray[Any]:
    """Boxes ``(..., 4)`` of real numbers, any leading dimensions (one box ``(4,)`` too), as
    torchvision's box utilities and box losses take them; ``(0,)`` is ``(0, 4)``."""
    arr = as_array(x, name)
    if arr.shape == (0,):
        arr = arr.reshape(0, 4)
    if arr.ndim == 0 or arr.shape[-1] != 4:
        raise ValueError(f"{name} must have shape (..., 4), got {arr.shape}")
    return arr


def check_box_shape(arr: Any, name: str, batched: bool = False) -> None:
    """Boxes (a host array or a device array's Numba view) of real numbers, shape ``(N, 4)``
    (``(..., N, 4)``, any leading batch dimensions, with ``batched``)."""
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"{name} must hold real numbers, got dtype {arr.dtype}")
    shape = tuple(arr.shape)  # (a CUDA-simulator array's shape takes no negative index)
    if batched:
        if len(shape) < 2 or shape[-1] != 4:
            raise ValueError(f"{name} must have shape (..., N, 4), got {tuple(arr.shape)}")
    elif arr.ndim != 2 or arr.shape[1] != 4:
        raise ValueError(f"{name} must have shape (N, 4), got {tuple(arr.shape)}")


def batch_shape(shape1: tuple[int, ...], shape2: tuple[int, ...],
                names: tuple[str, str] = ("boxes1", "boxes2")) -> tuple[int, ...]:
    """The common leading (batch) dimensions of two box sets ``(..., N, 4)`` and ``(..., M, 4)``:
    equal, or broadcastable as torchvision's broadcasting allows; else ``ValueError``."""
    lead1, lead2 = tuple(shape1[:-2]), tuple(shape2[:-2])
    if lead1 == lead2:
        return lead1
    try:
        return np.broadcast_shapes(lead1, lead2)
    except ValueError:
        raise ValueError(
            f"{names[1]} must have the leading (batch) dimensions of {names[0]}, {lead1} "
            f"(or ones that broadcast with them), got {lead2}"
        ) from None


def as_batch(arr: NDArray[_ScalarT], lead: tuple[int, ...]) -> NDArray[_ScalarT]:
    """Boxes ``(..., N, K)`` broadcast to the leading dimensions ``lead``, as ``(B * N, K)``
    (a view when no broadcasting is needed and the layout allows)."""
    if tuple(arr.shape[:-2]) != lead:
        arr = np.broadcast_to(arr, lead + arr.shape[-2:])
    return arr.reshape(-1, arr.shape[-1])


def row_index(flat_row: int, shape: tuple[int, ...]) -> int | tuple[int, ...]:
    """The index of row ``flat_row`` of boxes of shape ``shape + (K,)`` flattened to rows:
    the row itself for one set of boxes, the full index tuple for batched boxes."""
    if len(shape) <= 1:
        return flat_row
    return tuple(int(k) for k in np.unravel_index(flat_row, shape))


def flat_view(out: NDArray[_ScalarT], shape: tuple[int, ...]) -> NDArray[_ScalarT] | None:
    """``out`` seen as ``shape`` without a copy (a kernel's 2-D or 1-D output), or None
    where its strides do not allow it (the result then goes through a fresh array)."""
    if out.shape == shape:
        return out
    view = out.view()
    try:
        view.shape = shape
    except AttributeError:
        return None
    return view


def check_aligned(shape1: tuple[int, ...], shape2: tuple[int, ...],
                  names: tuple[str, str] = ("boxes1", "boxes2")) -> None:
    """``aligned=True`` needs two box sets of the same length."""
    if tuple(shape1)[-2] != tuple(shape2)[-2]:
        raise ValueError(
            f"aligned=True needs {names[0]} and {names[1]} of the same length, "
            f"got {tuple(shape1)} and {tuple(shape2)}"
        )


def _row_text(row: int | tuple[Any, ...] | str) -> str:
    """A row as errors name it: ``7``, or ``[1, 7]`` for batched boxes."""
    if isinstance(row, tuple):
        return "[" + ", ".join(str(int(k)) for k in row) + "]"
    return str(row)


def invalid_box_error(name: str, row: int | tuple[Any, ...] | str, values: list[Any], fmt: str) -> ValueError:
    """The error for the first invalid box ``row`` of ``name`` (host and device paths);
    ``row`` is an index tuple for batched boxes."""
    return ValueError(
        f"{name} has an invalid box at row {_row_text(row)}: {values} "
        f"(coordinates must be finite with x2 >= x1 and y2 >= y1 in {fmt!r} format)"
    )


def as_box_columns(
    arr: NDArray[Any], name: str, dt: np.dtype[_FloatT], fmt: str, offset: float, validate: bool,
    angle: bool = True,
) -> NDArray[_FloatT]:
    """Columns ``(8, N)`` of boxes ``arr`` in dtype ``dt`` (see :mod:`fastiou._columns`).

    Raises ``ValueError`` naming ``name`` and the first row that is not finite or
    has ``x2 < x1`` or ``y2 < y1`` after format conversion, unless ``validate`` is
    False (results for such rows are then unspecified, but nothing crashes).
    """
    return checked_box_columns(arr, name, dt, fmt, offset, validate, angle)[0]


def checked_box_columns(
    arr: NDArray[Any], name: str, dt: np.dtype[_FloatT], fmt: str, offset: float, validate: bool,
    angle: bool = True,
) -> tuple[NDArray[_FloatT], bool]:
    """:func:`as_box_columns`, and whether a coordinate lies outside the fast formulas'
    safe range (the call then goes to :mod:`fastiou._extreme`)."""
    native = arr.astype(dt, copy=False)  # also makes byte-swapped input native
    cols, bad = box_columns(native, fmt, offset, validate, angle)
    if bad >= 0:
        raise invalid_box_error(name, bad, arr[bad].tolist(), fmt)
    return cols, bad == EXTREME


def box_pair(
    boxes1: Any,
    boxes2: Any,
    *,
    fmt: str,
    offset: float,
    dtype: DTypeLike,
    validate: bool,
    aligned: bool,
    names: tuple[str, str] = ("boxes1", "boxes2"),
    angle: bool = True,
    batched: bool = False,
) -> tuple[NDArray[np.floating[Any]], NDArray[np.floating[Any]], np.dtype[np.floating[Any]], bool]:
    """Validate two box sets; return their columns, the common compute dtype, and
    whether a coordinate lies outside the fast formulas' safe range.

    ``angle=False``: the metric is not CIoU, which alone reads the aspect angle.
    ``batched``: :func:`box_batch` (boxes ``(..., N, 4)``) with its ``lead`` dropped.
    """
    c1, c2, dt, extreme, _ = box_batch(boxes1, boxes2, fmt=fmt, offset=offset, dtype=dtype,
                                       validate=validate, aligned=aligned, names=names,
                                       angle=angle, batched=batched)
    return c1, c2, dt, extreme


def box_batch(
    boxes1: Any,
    boxes2: Any,
    *,
    fmt: str,
    offset: float,
    dtype: DTypeLike,
    validate: bool,
    aligned: bool,
    names: tuple[str, str] = ("boxes1", "boxes2"),
    angle: bool = True,
    batched: bool = True,
) -> tuple[NDArray[np.floating[Any]], NDArray[np.floating[Any]], np.dtype[np.floating[Any]], bool,
           tuple[tuple[int, ...], int, int]]:
    """:func:`box_pair` for boxes ``(..., N, 4)`` and ``(..., M, 4)`` whose leading
    dimensions are equal or broadcast (:func:`batch_shape`).

    Returns the columns of the boxes flattened over the common leading dimensions
    ``lead`` (``(8, B * N)`` and ``(8, B * M)``, batch after batch), the compute
    dtype, the out-of-range flag, and ``(lead, N, M)``.  An invalid box is named by
    its full index, ``boxes1[b, ..., i]``.
    """
    check_choice(fmt, "fmt", FORMATS)
    check_offset(offset)
    a1 = as_box_array(boxes1, names[0], batched)
    a2 = as_box_array(boxes2, names[1], batched)
    if aligned:
        check_aligned(a1.shape, a2.shape, names)
    lead = batch_shape(a1.shape, a2.shape, names) if batched else ()
    dt = compute_dtype(a1, a2, dtype=dtype)
    cols: list[NDArray[np.floating[Any]]] = []
    extreme = False
    for arr, name in ((a1, names[0]), (a2, names[1])):
        flat = as_batch(arr, lead)
        native = flat.astype(dt, copy=False)  # also makes byte-swapped input native
        c, bad = box_columns(native, fmt, offset, validate, angle)
        if bad >= 0:
            raise invalid_box_error(name, row_index(bad, lead + arr.shape[-2:-1]), flat[bad].tolist(), fmt)
        cols.append(c)
        extreme = extreme or bad == EXTREME
    return cols[0], cols[1], dt, extreme, (lead, a1.shape[-2], a2.shape[-2])


def as_out(out: object, shape: tuple[int, ...], dt: np.dtype[_ScalarT]) -> NDArray[_ScalarT]:
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


def check_device_out(out: Any, view: Any, shape: tuple[int, ...], dt: np.dtype[Any]) -> None:
    """The caller's ``out`` for CUDA input: a CUDA array (``view``: its Numba view) of ``shape``, ``dt``."""
    if not is_cuda_array(out):
        raise TypeError(f"out must be a CUDA array like the inputs, got {type(out).__name__}")
    if tuple(view.shape) != tuple(shape):
        raise ValueError(f"out must have shape {tuple(shape)}, got {tuple(view.shape)}")
    if view.dtype != dt:
        raise TypeError(f"out must have dtype {dt}, got {view.dtype}")


# --- pictures ---------------------------------------------------------------


def as_single_box(x: Any, name: str) -> NDArray[Any]:
    """One box, ``(4,)`` or ``(1, 4)``, as a ``(1, 4)`` array of real numbers."""
    arr = as_array(x, name)
    if arr.shape not in ((4,), (1, 4)):
        raise ValueError(f"{name} must be one box of shape (4,), got {arr.shape}")
    return arr.reshape(1, 4)


def as_per_box(x: Any, name: str, n: int) -> NDArray[Any]:
    """One real number per box: shape ``(n,)``."""
    arr = as_array(x, name)
    check_per_box(arr, name, n)
    return arr


def check_per_box(arr: Any, name: str, n: int) -> None:
    """One real number per box (a host array or a device array's Numba view): shape ``(n,)``."""
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"{name} must hold real numbers, got dtype {arr.dtype}")
    if tuple(arr.shape) != (n,):
        raise ValueError(f"{name} must have shape ({n},), one value per box, got {tuple(arr.shape)}")


def check_length(seq: Any, name: str, n: int) -> list[Any]:
    """Any sequence (strings allowed) with one entry per box, as a list."""
    try:
        items = list(seq)
    except TypeError:
        raise TypeError(f"{name} must be a sequence, got {type(seq).__name__}") from None
    if len(items) != n:
        raise ValueError(f"{name} must have one entry per box ({n}), got {len(items)}")
    return items


def as_indices(x: Any, name: str, n: int) -> NDArray[np.int64]:
    """1-D integer indices into ``n`` items, as int64."""
    arr = as_array(x, name)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be 1-D indices, got shape {arr.shape}")
    if arr.size and arr.dtype.kind not in "iu":
        raise TypeError(f"{name} must hold integer indices, got dtype {arr.dtype}")
    arr = arr.astype(np.int64)
    if arr.size and (arr.min() < 0 or arr.max() >= n):
        raise ValueError(f"{name} must hold indices in [0, {n}), got {arr.min()}..{arr.max()}")
    return arr


def as_image_or_size(x: Any, name: str) -> tuple[NDArray[Any] | None, int, int]:
    """An image ``(H, W)``, ``(H, W, 3)`` or ``(H, W, 4)``, or a size ``(height, width)``.

    Returns ``(image or None, height, width)``.
    """
    if isinstance(x, (tuple, list)) and len(x) == 2 and all(isinstance(v, numbers.Integral) for v in x):
        height, width = int(x[0]), int(x[1])
        if height <= 0 or width <= 0:
            raise ValueError(f"{name} as a size must be positive (height, width), got {tuple(x)}")
        return None, height, width
    arr = as_array(x, name)
    if not (arr.ndim == 2 or (arr.ndim == 3 and arr.shape[2] in (3, 4))) or 0 in arr.shape:
        raise ValueError(
            f"{name} must be an image of shape (H, W), (H, W, 3) or (H, W, 4), or a size "
            f"(height, width), got shape {arr.shape}"
        )
    return arr, arr.shape[0], arr.shape[1]


# --- losses -----------------------------------------------------------------


def check_real(value: Any, name: str, low: float | None = None, high: float | None = None, *,
               low_open: bool = False, high_open: bool = False) -> float:
    """A finite real number in ``[low, high]`` (``(`` / ``)`` where open), as a float."""
    if type(value) not in (float, int) and (  # the common case skips the slow ABC check
            isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real)):
        raise TypeError(f"{name} must be a real number, got {type(value).__name__}")
    v = float(value)
    too_low = low is not None and (v <= low if low_open else v < low)
    too_high = high is not None and (v >= high if high_open else v > high)
    if not math.isfinite(v) or too_low or too_high:
        lo = "-inf" if low is None else repr(float(low))
        hi = "inf" if high is None else repr(float(high))
        interval = f"{'(' if low_open or low is None else '['}{lo}, {hi}{')' if high_open or high is None else ']'}"
        raise ValueError(f"{name} must be a finite number in {interval}, got {value!r}")
    return v


def check_int(value: Any, name: str) -> int:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer, got {type(value).__name__}")
    return int(value)


def loss_dtype(first: NDArray[Any], *others: NDArray[Any]) -> np.dtype[np.floating[Any]]:
    """The dtype policy over ``first`` and the other *float* arrays of a loss.

    Integer or boolean labels do not promote float32 scores to float64.
    """
    return compute_dtype(first, *[a for a in others if a.dtype.kind == "f"])


def check_same_shape(a: NDArray[Any], b: NDArray[Any], names: tuple[str, str]) -> None:
    if a.shape != b.shape:
        raise ValueError(f"{names[1]} must have the shape of {names[0]}, {a.shape}, got {b.shape}")


def broadcast_as(arr: NDArray[_ScalarT], shape: tuple[int, ...], name: str) -> NDArray[_ScalarT]:
    """``arr`` broadcast to ``shape`` (a read-only view), or ValueError naming ``name``."""
    try:
        return np.broadcast_to(arr, shape)
    except ValueError:
        raise ValueError(f"{name} of shape {arr.shape} does not broadcast to {shape}") from None


def check_in_range(arr: NDArray[Any], name: str, low: float, high: float) -> None:
    """Every element of ``arr`` in ``[low, high]`` (NaN fails too)."""
    if arr.size and not (arr.min() >= low and arr.max() <= high):
        raise ValueError(f"{name} must have every element in [{low}, {high}]")


def check_sign_labels(arr: NDArray[Any], name: str) -> None:
    """Binary labels in {-1, +1}."""
    if arr.size and not np.all((arr == 1) | (arr == -1)):
        bad = int(np.flatnonzero((arr != 1) & (arr != -1))[0])
        raise ValueError(f"{name} must hold labels -1 or +1, got {arr.reshape(-1)[bad]!r} at flat index {bad}")


def as_class_indices(x: Any, name: str, num_classes: int,
                     ignore_index: int | None = None) -> NDArray[np.int64]:
    """Integer class indices in ``[0, num_classes)`` (or equal to ``ignore_index``), as int64."""
    arr = as_array(x, name)
    if arr.dtype.kind not in "iu":
        raise TypeError(f"{name} must hold integer class indices, got dtype {arr.dtype}")
    arr = arr.astype(np.int64, copy=False)
    bad = (arr < 0) | (arr >= num_classes)
    if ignore_index is not None:
        bad &= arr != ignore_index
    if bad.any():
        first = int(np.flatnonzero(bad.reshape(-1))[0])
        allowed = f" or ignore_index={ignore_index}" if ignore_index is not None else ""
        raise ValueError(
            f"{name} must hold class indices in [0, {num_classes}){allowed}, "
            f"got {arr.reshape(-1)[first]} at flat index {first}"
        )
    return arr


# --- masks --------------------------------------------------------------------


def check_bool(value: Any, name: str) -> bool:
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be True or False, got {value!r}")
    return bool(value)


def check_threshold(threshold: Any, name: str = "threshold") -> float | None:
    """None, or a finite real number."""
    return None if threshold is None else check_real(threshold, name)


def as_masks(x: Any, name: str,
             threshold: float | None = None) -> tuple[NDArray[np.uint8], bool, np.dtype[Any]]:
    """Binary masks ``(H, W)`` or ``(N, H, W)`` as ``(uint8 (N, H, W) of 0/1, single, input dtype)``.

    Bools are taken as they are.  Other dtypes must hold only 0 and 1, unless
    ``threshold`` is given: then the foreground is ``value > threshold`` (NaN
    raises).  The result is C-contiguous and a view of ``x`` where possible;
    ``single`` is True for one ``(H, W)`` mask (returned as ``(1, H, W)``).
    """
    arr = as_array(x, name)
    check_mask_array(arr, name)
    single = arr.ndim == 2
    if single:
        arr = arr[None]
    if threshold is not None:
        if arr.dtype.kind == "f" and np.isnan(arr).any():
            raise mask_value_error(name, nan=True)
        binary = arr > threshold
    elif arr.dtype.kind == "b":
        binary = arr
    elif arr.dtype.kind == "u" and (arr.size == 0 or arr.max() <= 1):
        binary = arr if arr.dtype.itemsize == 1 else arr.astype(np.uint8)
    elif arr.size and not np.all((arr == 0) | (arr == 1)):
        raise mask_value_error(name, nan=False)
    else:
        binary = arr.astype(np.uint8)
    return np.ascontiguousarray(binary).view(np.uint8), single, arr.dtype


def check_mask_array(arr: Any, name: str) -> None:
    """Masks (a host array or a device array's Numba view) of real numbers, ``(H, W)`` or ``(N, H, W)``."""
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"{name} must hold real numbers, got dtype {arr.dtype}")
    if arr.ndim not in (2, 3):
        raise ValueError(f"{name} must have shape (H, W) or (N, H, W), got {tuple(arr.shape)}")


def mask_value_error(name: str, nan: bool) -> ValueError:
    """The error for masks with NaN (with a threshold) or values other than 0 and 1 (without)."""
    if nan:
        return ValueError(f"{name} has NaN values")
    return ValueError(
        f"{name} must be binary (bool, or only 0 and 1); pass threshold= to binarise "
        f"other values (foreground = value > threshold)"
    )


def check_mask_sizes(shape1: tuple[int | None, ...], shape2: tuple[int | None, ...], names: tuple[str, str],
                     aligned: bool = False) -> None:
    """Both mask sets of the same ``(H, W)`` (and the same ``N`` when ``aligned``).

    A size of None (no RLE masks, so no size) matches any size.
    """
    if aligned and shape1[0] != shape2[0]:
        raise ValueError(
            f"aligned=True needs {names[0]} and {names[1]} of the same length, got shapes {shape1} and {shape2}"
        )
    if None not in shape1 and None not in shape2 and shape1[-2:] != shape2[-2:]:
        raise ValueError(
            f"{names[0]} and {names[1]} must have the same height and width, got shapes {shape1} and {shape2}"
        )


def is_rle(x: Any) -> bool:
    """True for a COCO RLE dict or a list/tuple of them (an empty list counts: no masks)."""
    if isinstance(x, dict):
        return True
    if not isinstance(x, (list, tuple)):
        return False
    return set(map(type, x)) <= {dict} or all(isinstance(item, dict) for item in x)


def _rle_size(rle: dict[str, Any], where: str) -> list[int]:
    if "size" not in rle or "counts" not in rle:
        raise ValueError(f"{where} must be a COCO RLE with keys 'size' and 'counts', got keys {sorted(rle)}")
    size = rle["size"]
    if not isinstance(size, (list, tuple, np.ndarray)):
        raise ValueError(f"{where}['size'] must be [height, width], got {size!r}")
    try:
        h, w = (int(v) for v in size)
    except (TypeError, ValueError):
        raise ValueError(f"{where}['size'] must be [height, width], got {size!r}") from None
    if h < 0 or w < 0 or [h, w] != [v for v in size]:
        raise ValueError(f"{where}['size'] must be two non-negative integers, got {size!r}")
    return [h, w]


def _rle_counts(c: Any, where: str) -> bytes | NDArray[np.int64]:
    if isinstance(c, str):
        c = c.encode("ascii")
    if isinstance(c, bytes):
        return c
    arr = as_array(c, f"{where}['counts']")
    if arr.size == 0:  # np.asarray([]) is float64: the counts of an empty (0 x W) mask
        return np.empty(0, np.int64)
    if arr.ndim != 1 or arr.dtype.kind not in "iu" or (arr.size and arr.min() < 0):
        raise ValueError(f"{where}['counts'] must be a compressed string or a list of non-negative integers")
    return arr.astype(np.int64)


def as_rles(x: Any, name: str) -> tuple[int | None, int | None, list[bytes | NDArray[np.int64]], bool]:
    """COCO RLEs ``{'size': [h, w], 'counts': ...}`` as ``(h, w, counts, single)``.

    Each item of ``counts`` is the compressed string as bytes (pycocotools'
    form; ``str`` is encoded as ASCII) or, for uncompressed RLE, an int64 array.
    Every mask must have the same size; ``h`` and ``w`` are None for no masks.
    """
    single = isinstance(x, dict)
    items = [x] if single else x
    if not items:
        return None, None, [], single
    first = _rle_size(items[0], name if single else f"{name}[0]")
    # The common case, checked in bulk: compressed strings (pycocotools' bytes, or str
    # as in JSON) and the same size list.
    try:
        counts = [rle["counts"] for rle in items]
        sizes = [rle["size"] for rle in items]
        kinds = set(map(type, counts))
        if kinds <= {bytes, str} and set(map(type, sizes)) == {list} and sizes.count(first) == len(sizes):
            if str in kinds:
                counts = [c.encode("ascii") if type(c) is str else c for c in counts]
            return first[0], first[1], counts, single
    except (KeyError, TypeError):
        pass  # the item-by-item checks below say what is wrong
    counts = []
    for k, rle in enumerate(items):
        where = name if single else f"{name}[{k}]"
        size = _rle_size(rle, where)
        if size != first:
            raise ValueError(f"every mask of {name} must have the same size: {where} has {size}, "
                             f"{name}[0] has {first}")
        counts.append(_rle_counts(rle["counts"], where))
    return first[0], first[1], counts, single


def check_rle_totals(
    totals: NDArray[np.integer[Any]],
    height: int,
    width: int,
    name: str,
    single: bool,
) -> None:
    """Each decoded RLE covers exactly ``height * width`` pixels (``-1``: a negative run)."""
    bad = np.flatnonzero(totals != height * width)
    if bad.size:
        k = int(bad[0])
        where = name if single else f"{name}[{k}]"
        raise ValueError(f"{where} is not a valid RLE of a {height} x {width} mask "
                         f"(its runs cover {int(totals[k])} pixels)")


def as_crowd(iscrowd: Any, n: int, name: str = "iscrowd") -> NDArray[np.uint8]:
    """``None`` (no crowd) or ``n`` booleans (0/1), as uint8."""
    if iscrowd is None:
        return np.zeros(n, dtype=np.uint8)
    arr = as_array(iscrowd, name)
    if arr.shape != (n,):
        raise ValueError(f"{name} must have shape ({n},), one flag per mask of masks2, got {arr.shape}")
    if arr.size and not np.all((arr == 0) | (arr == 1)):
        raise ValueError(f"{name} must hold booleans (0 or 1)")
    return arr.astype(np.uint8)


# --- sparse joins and matching ----------------------------------------------------


def check_host_boxes(*pairs: tuple[Any, str]) -> None:
    """``TypeError`` for CUDA arrays where only host (NumPy) input is supported."""
    for x, name in pairs:
        if is_cuda_array(x):
            raise TypeError(f"{name} is a CUDA array; this function takes host arrays (copy it to the host)")


def as_box_flags(x: Any, name: str, n: int) -> NDArray[np.bool_]:
    """``None`` (all False) or one flag per box: bools, or integers 0 and 1; as bool ``(n,)``."""
    if x is None:
        return np.zeros(n, dtype=np.bool_)
    arr = as_array(x, name)
    if arr.shape != (n,):
        raise ValueError(f"{name} must have shape ({n},), one flag per box, got {arr.shape}")
    if arr.size and not np.all((arr == 0) | (arr == 1)):
        raise ValueError(f"{name} must hold booleans (True/False or 0/1)")
    return arr.astype(np.bool_)


# --- NMS family -------------------------------------------------------------------


def as_scores(x: Any, name: str, n: int) -> NDArray[Any]:
    """One score per box, shape ``(n,)``; NaN raises (it has no place in a ranking)."""
    arr = as_per_box(x, name, n)
    if arr.dtype.kind == "f":
        if arr.dtype in FLOAT_DTYPES:  # native float32/float64: one compiled pass, no temporaries
            bad: int = _first_nan(arr)
        else:
            nan = np.flatnonzero(np.isnan(arr))
            bad = int(nan[0]) if nan.size else -1
        if bad >= 0:
            raise nan_score_error(name, bad)
    return arr


@lazy_njit
def _first_nan(arr: NDArray[np.floating[Any]]) -> int:
    for i in range(arr.shape[0]):
        if arr[i] != arr[i]:
            return i
    return -1


def nan_score_error(name: str, index: int) -> ValueError:
    """The error for a NaN score (host and device paths)."""
    return ValueError(f"{name} must not contain NaN, got NaN at index {index}")


def as_labels(x: Any, name: str, n: int) -> NDArray[np.int64]:
    """One class id per box, shape ``(n,)``, as int64: integers, or floats with integer values."""
    arr = as_per_box(x, name, n)
    if arr.dtype.kind == "f":
        ok = (np.abs(arr) < 2.0**63) & (arr == np.trunc(arr))  # NaN and inf fail too
        if not ok.all():
            bad = int(np.flatnonzero(~ok)[0])
            raise ValueError(f"{name} must hold integer class ids, got {arr[bad]!r} at index {bad}")
    return arr.astype(np.int64, copy=False)


def check_max_output(value: Any, name: str = "max_output") -> int:
    """None (no limit, returned as -1) or a non-negative integer."""
    if value is None:
        return -1
    v = check_int(value, name)
    if v < 0:
        raise ValueError(f"{name} must be None or >= 0, got {v}")
    return v


# --- rotated boxes ------------------------------------------------------------

#: Rotated box formats and their number of coordinates K (torchvision's names).
ROTATED_FORMATS = {"cxcywhr": 5, "xywhr": 5, "xyxyxyxy": 8}



def as_rotated_array(x: Any, name: str, fmt: str,
                     lead: Literal["none", "batch", "any"] = "none") -> NDArray[Any]:
    """Real numbers of rotated ``fmt`` (K coordinates per box): ``(N, K)``; with
    ``lead='batch'`` ``(..., N, K)`` (the pairwise metrics), with ``lead='any'``
    ``(..., K)`` (conversions).  ``(0,)`` is ``(0, K)``, as torchvision takes it."""
    arr = as_array(x, name)
    k = ROTATED_FORMATS[fmt]
    if arr.shape == (0,):
        arr = arr.reshape(0, k)
    least = {"none": 2, "batch": 2, "any": 1}[lead]
    if arr.ndim < least or (lead == "none" and arr.ndim != 2) or arr.shape[-1] != k:
        wanted = {"none": f"(N, {k})", "batch": f"(..., N, {k})", "any": f"(..., {k})"}[lead]
        raise ValueError(f"{name} must have shape {wanted} for fmt={fmt!r}, got {tuple(arr.shape)}")
    return arr


def check_rotated_values(arr: NDArray[Any], name: str, fmt: str, shape: tuple[int, ...] = ()) -> None:
    """Finite coordinates and angles, and (for ``'cxcywhr'`` / ``'xywhr'``) ``w >= 0``, ``h >= 0``,
    of rotated boxes ``arr`` ``(R, K)``, the rows of boxes of shape ``shape + (K,)`` (for
    the error's index; default: ``arr``'s own rows).

    ``ValueError`` naming ``name`` and the first bad row.
    """
    bad = ~np.isfinite(arr).all(axis=1)
    if fmt != "xyxyxyxy":
        bad |= (arr[:, 2] < 0) | (arr[:, 3] < 0)
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        rule = "finite corners" if fmt == "xyxyxyxy" else "finite values, w >= 0 and h >= 0"
        raise ValueError(f"{name} has an invalid rotated box at row {_row_text(row_index(row, shape))}: "
                         f"{arr[row].tolist()} ({rule} in {fmt!r} format)")
