"""Rotated boxes: the metrics' and NMS's host path, and mmcv/detectron2 spellings.

:func:`fastiou.box_iou`, :func:`fastiou.box_ioa`, :func:`fastiou.generalized_box_iou`,
:func:`fastiou.nms` and :func:`fastiou.batched_nms` take ``fmt='cxcywhr'``,
``'xywhr'`` or ``'xyxyxyxy'`` (torchvision's formats, see
:mod:`fastiou._rotated_columns`) and come here.  The intersection is exact
convex-polygon clipping (:mod:`fastiou._rotated_formulas`): IoU is never
negative, above 1 or NaN for finite input, exactly 1 for identical boxes and
exactly 0 for boxes whose bounding boxes do not meet.

Rotated GIoU follows powerboxes' ``rotated_giou_distance``: the enclosing shape
is the axis-aligned box around both boxes (not the smallest enclosing rotated
rectangle or convex hull).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal, TypeVar

import math

import numpy as np

from . import _rotated_columns, _validate, backends
from ._formulas import GIOU, IOA, IOU, METRICS
from ._validate import ROTATED_FORMATS

if TYPE_CHECKING:  # pragma: no cover
    from numpy.typing import ArrayLike, DTypeLike, NDArray

_FloatT = TypeVar("_FloatT", bound="np.floating[Any]")

_NAMES = {IOU: "box_iou", IOA: "box_ioa", GIOU: "generalized_box_iou"}


def rotated_columns(
    boxes: Any,
    name: str,
    fmt: str,
    dt: np.dtype[_FloatT],
    validate: bool,
) -> NDArray[_FloatT]:
    """Validated ``(9, N)`` columns of rotated boxes in ``dt``."""
    arr = _validate.as_rotated_array(boxes, name, fmt)
    a = arr.astype(np.float64)
    if validate:
        _validate.check_rotated_values(a, name, fmt)
    else:  # unspecified results, but no NaN-driven crash: non-finite rows become empty boxes
        a[~np.isfinite(a).all(axis=1)] = 0.0
    return _rotated_columns.columns(a, fmt, dt)


def check_rotated_options(code: int, fmt: str, offset: float) -> None:
    if code not in _NAMES:
        raise ValueError(f"fmt={fmt!r} (rotated boxes) is supported by box_iou, box_ioa and "
                         f"generalized_box_iou; use one of the axis-aligned formats here")
    if _validate.check_offset(offset) != 0:
        raise ValueError(f"offset must be 0 for the rotated format {fmt!r}, got {offset!r}")


def metric(code: int, boxes1: Any, boxes2: Any, fmt: str, offset: float, aligned: bool, dtype: DTypeLike,
           out: NDArray[np.floating[Any]] | None, validate: bool, backend: str) -> NDArray[np.floating[Any]]:
    """The host path of the pairwise metrics for rotated ``fmt``."""
    _validate.check_backend(backend)
    check_rotated_options(code, fmt, offset)
    if _validate.is_cuda_array(boxes1) or _validate.is_cuda_array(boxes2):
        raise TypeError(f"rotated boxes (fmt={fmt!r}) take host arrays; copy CUDA arrays to the host")
    a1 = _validate.as_rotated_array(boxes1, "boxes1", fmt)
    a2 = _validate.as_rotated_array(boxes2, "boxes2", fmt)
    if aligned:
        _validate.check_aligned(a1.shape, a2.shape)
    dt = _validate.compute_dtype(a1, a2, dtype=dtype)
    c1 = rotated_columns(a1, "boxes1", fmt, dt, validate)
    c2 = rotated_columns(a2, "boxes2", fmt, dt, validate)
    n, m = c1.shape[1], c2.shape[1]
    out = _validate.as_out(out, (n,) if aligned else (n, m), dt)
    if out.size:
        module, parallel = backends.select(backend, out.size, family="rotated", kind="rotated_pairs")
        kernel = module.aligned if aligned else module.pairwise
        kernel(code, c1, c2, dt.type(0.5), out, parallel)
    return out


def box_iou_rotated(
    bboxes1: ArrayLike,
    bboxes2: ArrayLike,
    mode: Literal["iou", "iof"] = "iou",
    aligned: bool = False,
    clockwise: bool = True,
    *,
    dtype: DTypeLike = None,
    out: NDArray[np.floating[Any]] | None = None,
    validate: bool = True,
    backend: Literal["auto", "numba", "cython", "cuda"] = "auto",
) -> NDArray[np.floating[Any]]:
    """mmcv's ``box_iou_rotated``: IoU (or IoF) of rotated boxes ``(x, y, w, h, angle)``, angle in radians.

    ``clockwise=True`` (mmcv's default): a positive angle turns the box clockwise
    in image axes (y down), the opposite of torchvision's ``'cxcywhr'``.
    ``clockwise=False`` is torchvision's convention in radians.  detectron2's
    ``pairwise_iou_rotated(boxes1, boxes2)`` (degrees) is
    ``box_iou(boxes1, boxes2, fmt='cxcywhr')``.

    Parameters
    ----------
    bboxes1 : array_like, shape (N, 5)
    bboxes2 : array_like, shape (M, 5)
    mode : {'iou', 'iof'}, default 'iou'
        'iof' divides by the area of ``bboxes1``.
    aligned : bool, default False
        Compare ``bboxes1[i]`` with ``bboxes2[i]`` only, giving ``(N,)``.
    clockwise : bool, default True

    Returns
    -------
    ndarray, shape (N, M), or (N,) with ``aligned=True``

    Examples
    --------
    >>> import math, fastiou
    >>> fastiou.box_iou_rotated([[0, 0, 2, 2, 0]], [[0, 0, 2, 2, math.pi / 4]]).round(6)
    array([[0.707107]])
    """
    code = METRICS[_validate.check_choice(mode, "mode", ("iou", "iof"))]
    _validate.check_bool(aligned, "aligned")
    sign = -1.0 if _validate.check_bool(clockwise, "clockwise") else 1.0
    b1 = _validate.as_rotated_array(bboxes1, "bboxes1", "cxcywhr")
    b2 = _validate.as_rotated_array(bboxes2, "bboxes2", "cxcywhr")
    dt = _validate.compute_dtype(b1, b2, dtype=dtype)
    scale = np.array([1.0, 1.0, 1.0, 1.0, sign * 180.0 / math.pi])
    return metric(code, b1 * scale, b2 * scale, "cxcywhr", 0, aligned, dt, out, validate, backend)


def nms_arrays(boxes: Any, scores: Any, fmt: str,
               validate: bool) -> tuple[NDArray[np.floating[Any]], NDArray[Any], np.dtype[np.floating[Any]]]:
    """``(columns, scores, compute dtype)`` of the host NMS path for rotated ``fmt``."""
    arr = _validate.as_rotated_array(boxes, "boxes", fmt)
    s = _validate.as_scores(scores, "scores", arr.shape[0])
    dt = _validate.compute_dtype(arr)
    return rotated_columns(arr, "boxes", fmt, dt, validate), s, dt


def nms_rotated(
    boxes: ArrayLike,
    scores: ArrayLike,
    iou_threshold: float,
    *,
    fmt: Literal["xyxy", "xywh", "cxcywh", "cxcywhr", "xywhr", "xyxyxyxy"] = "cxcywhr",
    **options: Any,
) -> NDArray[np.int64]:
    """Greedy NMS of rotated boxes: :func:`fastiou.nms` with ``fmt='cxcywhr'`` (degrees,
    counter-clockwise, torchvision's convention); detectron2's and mmcv's name.

    Returns int64 indices of the kept boxes by decreasing score (equal scores:
    lower index first).  Takes :func:`fastiou.nms`'s keyword options.

    Examples
    --------
    >>> import fastiou
    >>> boxes = [[5, 5, 4, 2, 0], [5, 5, 4, 2, 10], [20, 5, 4, 2, 45]]
    >>> fastiou.nms_rotated(boxes, [0.9, 0.8, 0.7], 0.5)
    array([0, 2])
    """
    from .nms import nms

    return nms(boxes, scores, iou_threshold, fmt=fmt, **options)


__all__ = ["box_iou_rotated", "nms_rotated", "ROTATED_FORMATS"]
