"""Box utilities with torchvision's semantics: conversion, area, clipping, filtering, boxes of masks.

``box_convert``, ``box_area`` and ``clip_boxes_to_image`` take any leading batch
dimensions, ``(..., 4)``, as torchvision 0.29 does (one vectorised pass over all
boxes); an empty ``(0,)`` array is taken as ``(0, 4)``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from . import _rotated_columns, _validate, backends
from ._columns import FORMATS
from ._validate import ROTATED_FORMATS

#: Every format box_convert takes: axis-aligned and rotated.
ALL_FORMATS = (*FORMATS, *ROTATED_FORMATS)
from ._mask_formulas import X0, X1, Y0, Y1

if TYPE_CHECKING:  # pragma: no cover
    from numpy.typing import ArrayLike, DTypeLike, NDArray


def _float_boxes(boxes: Any, name: str = "boxes") -> NDArray[np.floating[Any]]:
    arr = _validate.as_box_array(boxes, name)
    return arr.astype(_validate.compute_dtype(arr), copy=True)


def _rotated_boxes(boxes: Any, fmt: str, name: str = "boxes"
                   ) -> tuple[NDArray[np.float64], np.dtype[np.floating[Any]], tuple[int, ...]]:
    """Validated rotated boxes ``(..., K)`` as float64 rows ``(-1, K)``, their compute dtype
    and their leading shape."""
    arr = _validate.as_rotated_array(boxes, name, fmt, lead="any")
    dt = _validate.compute_dtype(arr)
    a = arr.astype(np.float64).reshape(-1, arr.shape[-1])
    _validate.check_rotated_values(a, name, fmt, arr.shape[:-1])
    return a, dt, arr.shape[:-1]


def _float_box_batch(boxes: Any, name: str = "boxes") -> tuple[NDArray[np.floating[Any]], tuple[int, ...]]:
    """A fresh float copy (dtype policy) of boxes ``(..., 4)`` as ``(-1, 4)``, and their shape."""
    arr = _validate.as_box_batch(boxes, name)
    return arr.astype(_validate.compute_dtype(arr), copy=True).reshape(-1, 4), arr.shape


def box_convert(
    boxes: ArrayLike,
    in_fmt: Literal["xyxy", "xywh", "cxcywh", "cxcywhr", "xywhr", "xyxyxyxy"],
    out_fmt: Literal["xyxy", "xywh", "cxcywh", "cxcywhr", "xywhr", "xyxyxyxy"],
) -> NDArray[np.floating[Any]]:
    """Convert ``(..., 4)`` boxes between ``'xyxy'``, ``'xywh'`` and ``'cxcywh'``, and
    ``(..., K)`` boxes to and from the rotated ``'cxcywhr'``, ``'xywhr'`` (``K = 5``) and
    ``'xyxyxyxy'`` (``K = 8``).

    Rotated formats follow torchvision: angles in degrees, counter-clockwise in
    image axes (y down); ``'xyxyxyxy'`` lists the corners top-left, top-right,
    bottom-right, bottom-left (at angle 0) and is read as torchvision reads it (see
    :mod:`fastiou._rotated_columns`).  A rotated box converted to ``'xyxy'``,
    ``'xywh'`` or ``'cxcywh'`` gives its axis-aligned bounding box; an axis-aligned
    box converted to a rotated format gets angle 0.  Rotated input must be finite
    with ``w >= 0`` and ``h >= 0`` (``ValueError`` naming the first bad row).

    Returns a new float array of the input's leading shape (float32 stays float32, float64
    stays float64, integers become float64); the input is never modified.

    Examples
    --------
    >>> import fastiou
    >>> fastiou.box_convert([[10, 20, 30, 60]], "xyxy", "cxcywh")
    array([[20., 40., 20., 40.]])
    >>> fastiou.box_convert([[10, 20, 4, 2, 90]], "cxcywhr", "xyxy")
    array([[ 9., 18., 11., 22.]])
    """
    if in_fmt in ROTATED_FORMATS or out_fmt in ROTATED_FORMATS:
        _validate.check_choice(in_fmt, "in_fmt", ALL_FORMATS)
        _validate.check_choice(out_fmt, "out_fmt", ALL_FORMATS)
        a: NDArray[np.floating[Any]]
        if in_fmt in ROTATED_FORMATS:
            a, dt, lead = _rotated_boxes(boxes, in_fmt)
        else:
            a, lead = _float_box_batch(boxes)
            dt = a.dtype
            a = a.astype(np.float64, copy=False)
            lead = lead[:-1]
        if in_fmt != out_fmt:
            a = _rotated_columns.convert(a, in_fmt, out_fmt)
        return a.astype(dt, copy=False).reshape(lead + a.shape[-1:])
    _validate.check_choice(in_fmt, "in_fmt", FORMATS)
    _validate.check_choice(out_fmt, "out_fmt", FORMATS)
    b, shape = _float_box_batch(boxes)
    if in_fmt != out_fmt:
        _convert(b, in_fmt, out_fmt)
    return b.reshape(shape)


def _convert(b: NDArray[np.floating[Any]], in_fmt: str, out_fmt: str) -> None:
    """Convert the float boxes ``b`` ``(N, 4)`` in place."""
    half = b.dtype.type(0.5)
    if in_fmt == "xywh":
        b[:, 2:] += b[:, :2]
    elif in_fmt == "cxcywh":
        centre, size = b[:, :2].copy(), b[:, 2:] * half
        b[:, :2] = centre - size
        b[:, 2:] = centre + size
    # b is xyxy now
    if out_fmt == "xywh":
        b[:, 2:] -= b[:, :2]
    elif out_fmt == "cxcywh":
        size = b[:, 2:] - b[:, :2]
        b[:, :2] = (b[:, :2] + b[:, 2:]) * half
        b[:, 2:] = size


def box_area(
    boxes: ArrayLike,
    *,
    fmt: Literal["xyxy", "xywh", "cxcywh", "cxcywhr", "xywhr", "xyxyxyxy"] = "xyxy",
    offset: float = 0,
) -> NDArray[np.floating[Any]]:
    """Area of each box, ``(x2 - x1 + offset) * (y2 - y1 + offset)`` (torchvision's ``box_area``).

    Boxes ``(..., 4)`` give areas ``(...)``; rotated formats (``'cxcywhr'``, ``'xywhr'``,
    ``'xyxyxyxy'``, boxes ``(..., K)``) give ``w * h`` (``offset`` must then be 0).

    Examples
    --------
    >>> import fastiou
    >>> fastiou.box_area([[0, 0, 2, 3], [1, 1, 1, 5]])
    array([6., 0.])
    >>> fastiou.box_area([[5, 5, 2, 3, 30]], fmt="cxcywhr")
    array([6.])
    """
    if fmt in ROTATED_FORMATS:
        if _validate.check_offset(offset) != 0:
            raise ValueError(f"offset must be 0 for the rotated format {fmt!r}, got {offset!r}")
        a, dt, lead = _rotated_boxes(boxes, fmt)
        return _rotated_columns.area(a, fmt).astype(dt).reshape(lead)
    _validate.check_choice(fmt, "fmt", ALL_FORMATS)
    _validate.check_offset(offset)
    b = box_convert(boxes, fmt, "xyxy")
    areas: NDArray[np.floating[Any]] = (b[..., 2] - b[..., 0] + offset) * (b[..., 3] - b[..., 1] + offset)
    return areas


def clip_boxes_to_image(boxes: ArrayLike, size: tuple[int, int]) -> NDArray[np.floating[Any]]:
    """Clip ``xyxy`` boxes ``(..., 4)`` to an image of ``size = (height, width)`` (torchvision's semantics).

    Examples
    --------
    >>> import fastiou
    >>> fastiou.clip_boxes_to_image([[-5, 2, 120, 40]], (50, 100))
    array([[  0.,   2., 100.,  40.]])
    """
    if not (isinstance(size, (tuple, list)) and len(size) == 2):
        raise ValueError(f"size must be (height, width), got {size!r}")
    height, width = size
    b, shape = _float_box_batch(boxes)
    np.clip(b[:, 0::2], 0, width, out=b[:, 0::2])
    np.clip(b[:, 1::2], 0, height, out=b[:, 1::2])
    return b.reshape(shape)


def remove_small_boxes(boxes: ArrayLike, min_size: float) -> NDArray[np.int64]:
    """Indices (int64) of the ``xyxy`` boxes whose width and height are both ``>= min_size``.

    Examples
    --------
    >>> import fastiou
    >>> fastiou.remove_small_boxes([[0, 0, 1, 5], [0, 0, 4, 4]], 2)
    array([1])
    """
    b = _float_boxes(boxes)
    keep = (b[:, 2] - b[:, 0] >= min_size) & (b[:, 3] - b[:, 1] >= min_size)
    return np.flatnonzero(keep).astype(np.int64)


# (backend's Literal is spelt as a union: Sphinx reads this signature by splitting it at commas,
# as it cannot parse the default dtype's repr, <class 'numpy.float32'>)
def masks_to_boxes(masks: ArrayLike, *, threshold: float | None = None, dtype: DTypeLike = np.float32,
                   backend: Literal["auto"] | Literal["numba"] | Literal["cython"] = "auto",
                   ) -> NDArray[np.floating[Any]]:
    """The ``xyxy`` bounding box of each binary mask (torchvision's ``masks_to_boxes``).

    ``x2`` and ``y2`` are the last foreground column and row (inclusive pixel
    indices, as torchvision); an empty mask gives ``[0, 0, 0, 0]``.

    Parameters
    ----------
    masks : array_like (N, H, W) or (H, W)
        Binary masks: bools, or only 0 and 1.  torchvision takes every nonzero
        value as foreground: pass ``threshold=0`` for that.
    threshold : float, optional
        Foreground is ``value > threshold``.
    dtype : float32 or float64, default float32 (torchvision's)
    backend : {'auto', 'numba', 'cython'}, default 'auto'

    Returns
    -------
    ndarray, shape (N, 4), or (4,) for one (H, W) mask

    Examples
    --------
    >>> import numpy as np, fastiou
    >>> m = np.zeros((2, 4, 5), bool); m[0, 1:3, 2:4] = True
    >>> fastiou.masks_to_boxes(m)
    array([[2., 1., 3., 2.],
           [0., 0., 0., 0.]], dtype=float32)
    """
    _validate.check_backend(backend)
    threshold = _validate.check_threshold(threshold)
    dense, single, _ = _validate.as_masks(masks, "masks", threshold)
    boxes = np.zeros((dense.shape[0], 4), dtype=_validate.compute_dtype(dtype=dtype))
    if dense.size:
        from .masks import _pack  # here: the masks module imports SciPy

        module, parallel = backends.select(backend, dense.size, family="masks", kind="mask_pixels")
        _, info = _pack(module, dense, parallel)
        boxes[:] = info[:, [X0, Y0, X1, Y1]]
    return boxes[0] if single else boxes
