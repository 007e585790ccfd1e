"""Rotated boxes: the metrics' and NMS's host path, and mmcv/detectron2 spellings.

:func:`fastiou.box_iou`, :func:`fastiou.box_ioa`, :func:`fastiou.generalized_box_iou`,
:func:`fastiou.nms` and :func:`fastiou.batched_nms` take ``fmt='cxcywhr'``,
``'xywhr'`` or ``'xyxyxyxy'`` (torchvision's formats, see
:mod:`fastiou._rotated_columns`) and come here.  The intersection is exact, in
closed form (:mod:`fastiou._rotated_formulas`): IoU is never
negative, above 1 or NaN for finite input, exactly 1 for identical boxes and
exactly 0 for boxes whose bounding boxes do not meet.

Sizes whose areas would overflow or lose their digits (float64 sides beyond 2^500
or below 2^-400, float32 beyond 2^56 or below 2^-32) are computed in float64 with
each pair of boxes scaled together by a power of two, which is exact: the metric of
boxes at 1e300 or 1e-300 is that of the same boxes at 1.  NMS compares all its boxes
at one scale, and IoA divides by the area of the box of ``boxes1``: a box too small
for that one scale raises ``ValueError`` naming its row.

Rotated GIoU follows powerboxes' ``rotated_giou_distance``: the enclosing shape
is the axis-aligned box around both boxes (not the smallest enclosing rotated
rectangle or convex hull).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal, TypeVar

import math

import numpy as np

from . import _extreme, _rotated_columns, _validate, backends
from ._formulas import GIOU, IOA, IOU, METRICS, SAFE_HI32, SAFE_HI64, SAFE_LO32, SAFE_LO64
from ._validate import ROTATED_FORMATS

if TYPE_CHECKING:  # pragma: no cover
    from types import ModuleType

    from numpy.typing import ArrayLike, DTypeLike, NDArray

_FloatT = TypeVar("_FloatT", bound="np.floating[Any]")

_F64 = np.dtype(np.float64)
_NAMES = {IOU: "box_iou", IOA: "box_ioa", GIOU: "generalized_box_iou"}


def rotated_values(arr: NDArray[Any], name: str, fmt: str, validate: bool,
                   shape: tuple[int, ...] = ()) -> NDArray[np.float64]:
    """Rotated boxes ``arr`` ``(R, K)`` of ``fmt``, validated, as a float64 copy; ``shape``:
    the leading shape they were flattened from (for the error's index)."""
    a = arr.astype(np.float64)
    if validate:
        _validate.check_rotated_values(a, name, fmt, shape)
    else:  # unspecified results, but no NaN-driven crash: non-finite rows become empty boxes
        a[~np.isfinite(a).all(axis=1)] = 0.0
    return a


def _lengths(fmt: str) -> slice:
    """The columns of rotated ``fmt`` that scale with the box (all but the angle)."""
    return slice(0, 8) if fmt == "xyxyxyxy" else slice(0, 4)


def _outside_safe_range(arrays: list[NDArray[np.float64]], fmt: str, dt: np.dtype[Any]) -> bool:
    """Whether a position or size leaves the kernels' safe range in ``dt`` (areas and the
    intersection's products would overflow, or sizes lose their digits in the subnormals)."""
    lo, hi = (SAFE_LO32, SAFE_HI32) if dt.itemsize == 4 else (SAFE_LO64, SAFE_HI64)
    for a in arrays:
        v = np.abs(a[:, _lengths(fmt)])
        if ((v > hi) | ((v < lo) & (v > 0))).any():
            return True
    return False


def _scaled_columns(a: NDArray[np.float64], rows: NDArray[np.intp], shift: int, fmt: str) -> NDArray[np.float64]:
    """float64 columns of ``a[rows]`` with every length scaled by ``2**shift`` (exact; the
    angle is kept, and every rotated metric is invariant to the scaling)."""
    scaled = a[rows]
    with np.errstate(under="ignore"):
        scaled[:, _lengths(fmt)] = np.ldexp(scaled[:, _lengths(fmt)], shift)
    return _rotated_columns.columns(scaled, fmt, _F64)


def check_rotated_options(code: int, fmt: str, offset: float) -> None:
    if code not in _NAMES:
        raise ValueError(f"fmt={fmt!r} (rotated boxes) is supported by box_iou, box_ioa and "
                         f"generalized_box_iou; use one of the axis-aligned formats here")
    if _validate.check_offset(offset) != 0:
        raise ValueError(f"offset must be 0 for the rotated format {fmt!r}, got {offset!r}")


def metric(code: int, boxes1: Any, boxes2: Any, fmt: str, offset: float, aligned: bool, dtype: DTypeLike,
           out: NDArray[np.floating[Any]] | None, validate: bool, backend: str) -> NDArray[np.floating[Any]]:
    """The host path of the pairwise metrics for rotated ``fmt``: boxes ``(..., N, K)`` and
    ``(..., M, K)`` with equal or broadcasting leading dimensions, as the axis-aligned ones."""
    _validate.check_backend(backend)
    check_rotated_options(code, fmt, offset)
    if _validate.is_cuda_array(boxes1) or _validate.is_cuda_array(boxes2):
        raise TypeError(f"rotated boxes (fmt={fmt!r}) take host arrays; copy CUDA arrays to the host")
    a1 = _validate.as_rotated_array(boxes1, "boxes1", fmt, lead="batch")
    a2 = _validate.as_rotated_array(boxes2, "boxes2", fmt, lead="batch")
    if aligned:
        _validate.check_aligned(a1.shape, a2.shape)
    lead = _validate.batch_shape(a1.shape, a2.shape)
    dt = _validate.compute_dtype(a1, a2, dtype=dtype)
    n, m = a1.shape[-2], a2.shape[-2]
    v1 = rotated_values(_validate.as_batch(a1, lead), "boxes1", fmt, validate, lead + (n,))
    v2 = rotated_values(_validate.as_batch(a2, lead), "boxes2", fmt, validate, lead + (m,))
    out = _validate.as_out(out, lead + ((n,) if aligned else (n, m)), dt)
    if not out.size:
        return out
    module, parallel = backends.select(backend, out.size, family="rotated", kind="rotated_pairs")
    if not _outside_safe_range([v1, v2], fmt, dt):
        shape = (out.size,) if aligned else (out.size // m, m)
        flat = _validate.flat_view(out, shape)
        target = flat if flat is not None else np.empty(shape, dt)
        c1, c2 = _rotated_columns.columns(v1, fmt, dt), _rotated_columns.columns(v2, fmt, dt)
        if aligned:
            module.aligned(code, c1, c2, dt.type(0.5), target, parallel)
        else:  # one flat problem: row i of target meets the boxes of c2 of its batch, i // n
            module.pairwise(code, c1, c2, dt.type(0.5), target, parallel, rows=n)
        if target is not flat:
            out[...] = target.reshape(out.shape)
        return out
    for index in np.ndindex(*lead):  # one batch item at a time (rare: split by scale anyway)
        b = int(np.ravel_multi_index(index, lead)) if lead else 0
        _by_scale(module, code, v1[b * n:(b + 1) * n], v2[b * m:(b + 1) * m], fmt, aligned, parallel,
                  out[index])
    return out


def _by_scale(module: ModuleType, code: int, v1: NDArray[np.float64], v2: NDArray[np.float64], fmt: str,
              aligned: bool, parallel: bool, out: NDArray[np.floating[Any]]) -> None:
    """The metric of boxes whose sizes would overflow or underflow the kernels: in float64,
    each pair of boxes scaled together by a power of two (as the axis-aligned metrics,
    :mod:`fastiou._extreme`)."""
    def block(rows: NDArray[np.intp], cols: NDArray[np.intp], shift: int, result: NDArray[np.float64]) -> None:
        c1, c2 = _scaled_columns(v1, rows, shift, fmt), _scaled_columns(v2, cols, shift, fmt)
        if aligned:
            module.aligned(code, c1, c2, np.float64(0.5), result, parallel)
        else:
            module.pairwise(code, c1, c2, np.float64(0.5), result, parallel, rows=result.shape[0])

    bins1, bins2 = _extreme.scale_bins(v1[:, _lengths(fmt)]), _extreme.scale_bins(v2[:, _lengths(fmt)])
    if code == IOA:
        _check_ioa_scales(bins1, bins2, aligned)
    _extreme.by_scale(block, bins1, bins2, aligned, out)


def _check_ioa_scales(bins1: NDArray[np.intc], bins2: NDArray[np.intc], aligned: bool) -> None:
    """IoA divides by the area of the box of ``boxes1``: at the scale of a box of
    ``boxes2`` over 2^384 times larger that area underflows (the axis-aligned IoA clips
    the larger box instead; a rotated box has no such exact clip): ``ValueError``."""
    gap = bins2 - bins1 if aligned else bins2.max() - bins1
    if (gap > 6).any():
        row = int(np.flatnonzero(gap > 6)[0])
        raise ValueError(f"box_ioa of rotated boxes: boxes1 row {row} is below 2^-384 of the size of a box "
                         "of boxes2 it is compared with, where its area underflows: compare boxes of "
                         "such different sizes in separate calls")


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
    if validate:  # (here, to name mmcv's arguments)
        _validate.check_rotated_values(b1.astype(np.float64), "bboxes1", "cxcywhr")
        _validate.check_rotated_values(b2.astype(np.float64), "bboxes2", "cxcywhr")
    dt = _validate.compute_dtype(b1, b2, dtype=dtype)
    scale = np.array([1.0, 1.0, 1.0, 1.0, sign * 180.0 / math.pi])
    return metric(code, b1 * scale, b2 * scale, "cxcywhr", 0, aligned, dt, out, validate, backend)


def nms_arrays(boxes: Any, scores: Any, fmt: str,
               validate: bool) -> tuple[NDArray[np.floating[Any]], NDArray[Any], np.dtype[np.floating[Any]]]:
    """``(columns, scores, compute dtype)`` of the host NMS path for rotated ``fmt``.

    NMS compares every box with every other at one scale: a call whose sizes leave the
    safe range is computed in float64 with every length scaled by one power of two
    (the largest to [1/4, 1/2)); a box that then loses its size raises ``ValueError``.
    """
    arr = _validate.as_rotated_array(boxes, "boxes", fmt)
    s = _validate.as_scores(scores, "scores", arr.shape[0])
    dt = _validate.compute_dtype(arr)
    v = rotated_values(arr, "boxes", fmt, validate)
    if not _outside_safe_range([v], fmt, dt):
        return _rotated_columns.columns(v, fmt, dt), s, dt
    lengths = np.abs(v[:, _lengths(fmt)])
    shift = -int(np.frexp(lengths.max())[1]) - 1
    scaled = np.ldexp(lengths, shift)
    lost = ((lengths > 0) & (scaled < SAFE_LO64)).any(axis=1)
    if lost.any():
        row = int(np.flatnonzero(lost)[0])
        raise ValueError(f"boxes row {row} ({v[row].tolist()}) is below 2^-400 of the largest coordinate "
                         "of the call, which NMS compares at one scale: call it separately for boxes of "
                         "very different scales")
    return _scaled_columns(v, np.arange(v.shape[0]), shift, fmt), s, _F64


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
