"""Box utilities with torchvision's semantics: conversion, area, clipping, filtering."""

from __future__ import annotations

from typing import Any

import numpy as np

from . import _validate
from ._columns import FORMATS


def _float_boxes(boxes: Any, name: str = "boxes") -> np.ndarray:
    arr = _validate.as_box_array(boxes, name)
    return arr.astype(_validate.compute_dtype(arr), copy=True)


def box_convert(boxes: Any, in_fmt: str, out_fmt: str) -> np.ndarray:
    """Convert ``(N, 4)`` boxes between ``'xyxy'``, ``'xywh'`` and ``'cxcywh'``.

    Returns a new float array (float32 stays float32, float64 stays float64,
    integers become float64); the input is never modified.

    Examples
    --------
    >>> import fastiou
    >>> fastiou.box_convert([[10, 20, 30, 60]], "xyxy", "cxcywh")
    array([[20., 40., 20., 40.]])
    """
    _validate.check_choice(in_fmt, "in_fmt", FORMATS)
    _validate.check_choice(out_fmt, "out_fmt", FORMATS)
    b = _float_boxes(boxes)
    if in_fmt == out_fmt:
        return b
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
    return b


def box_area(boxes: Any, *, fmt: str = "xyxy", offset: float = 0) -> np.ndarray:
    """Area of each box, ``(x2 - x1 + offset) * (y2 - y1 + offset)`` (torchvision's ``box_area``).

    Examples
    --------
    >>> import fastiou
    >>> fastiou.box_area([[0, 0, 2, 3], [1, 1, 1, 5]])
    array([6., 0.])
    """
    _validate.check_choice(fmt, "fmt", FORMATS)
    _validate.check_offset(offset)
    b = box_convert(boxes, fmt, "xyxy")
    return (b[:, 2] - b[:, 0] + offset) * (b[:, 3] - b[:, 1] + offset)


def clip_boxes_to_image(boxes: Any, size: tuple[int, int]) -> np.ndarray:
    """Clip ``xyxy`` boxes to an image of ``size = (height, width)`` (torchvision's semantics).

    Examples
    --------
    >>> import fastiou
    >>> fastiou.clip_boxes_to_image([[-5, 2, 120, 40]], (50, 100))
    array([[  0.,   2., 100.,  40.]])
    """
    if not (isinstance(size, (tuple, list)) and len(size) == 2):
        raise ValueError(f"size must be (height, width), got {size!r}")
    height, width = size
    b = _float_boxes(boxes)
    np.clip(b[:, 0::2], 0, width, out=b[:, 0::2])
    np.clip(b[:, 1::2], 0, height, out=b[:, 1::2])
    return b


def remove_small_boxes(boxes: Any, min_size: float) -> np.ndarray:
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
