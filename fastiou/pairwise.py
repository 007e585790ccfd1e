"""Pairwise and aligned box metrics: IoU, IoA (mmcv's 'iof'), GIoU, DIoU, CIoU.

Each public function is ``metric(boxes1, boxes2)``: ``(N, 4) x (M, 4) -> (N, M)``,
or ``(N, 4) x (N, 4) -> (N,)`` with ``aligned=True``.  Batched boxes (torchvision
0.29): ``(..., N, 4) x (..., M, 4) -> (..., N, M)`` (aligned: ``(..., N)``), the
leading dimensions equal or broadcast as in torchvision (``(N, 4) x (B, M, 4)``
gives ``(B, N, M)``); the kernels see one flat problem, ``B * N`` rows each meeting
its own batch's ``M`` boxes.  An empty ``(0,)`` array is taken as ``(0, 4)``.
Division is guarded:
where torchvision returns NaN (two zero-area boxes: 0 / 0), fastiou returns the
limit the metric is defined by (IoU 0; GIoU equal to its IoU for a zero enclosing
area; DIoU equal to its IoU for a zero enclosing diagonal; CIoU's alpha 0 where
its denominator is 0).

``eps=`` (DIoU and CIoU: torchvision's; ``bbox_overlaps``: mmdet's floor) is an
absolute quantity, so calls with an ``eps`` skip the exact rescaling path of
:mod:`fastiou._extreme`: a float32 call with a coordinate outside the fast
formulas' range is computed in float64 (exact enough for any float32 box) and
rounded; float64 coordinates beyond 2^500 can then overflow, as in torchvision.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from . import _extreme, _validate, backends, rotated
from ._validate import ROTATED_FORMATS
from ._columns import FORMATS
from ._formulas import CIOU, DIOU, FOUR_OVER_PI2, GIOU, IOA, IOU, METRICS

if TYPE_CHECKING:  # pragma: no cover
    from types import ModuleType

    from numpy.typing import ArrayLike, DTypeLike, NDArray

_KEYWORDS_DOC = """\
    fmt : {'xyxy', 'xywh', 'cxcywh', 'cxcywhr', 'xywhr', 'xyxyxyxy'}, default 'xyxy'
        Box format of both inputs.  The rotated formats (torchvision's: degrees,
        counter-clockwise in image axes; boxes (..., N, 5), (..., N, 5), (..., N, 8), batched
        as the axis-aligned ones) are taken by
        box_iou, box_ioa and generalized_box_iou (whose enclosing shape is then the
        axis-aligned box around both boxes, as powerboxes' ``rotated_giou_distance``);
        see :mod:`fastiou.rotated`.
    offset : {0, 1}, default 0
        1 for the legacy pixel-inclusive convention ``w = x2 - x1 + 1``.
    aligned : bool, default False
        Compare ``boxes1[i]`` with ``boxes2[i]`` only (``N == M``), giving ``(N,)``.
    dtype : float32 or float64, optional
        Compute and output dtype.  Default: float64 and float32 stay, float16 is
        computed in float32, integers and bools in float64.
    out : ndarray, optional
        Preallocated output of the result's shape and dtype (any strides).
    validate : bool, default True
        Check that coordinates are finite with ``x2 >= x1`` and ``y2 >= y1``
        (``ValueError`` naming the first bad row).  False skips the check: results
        for bad boxes are then unspecified.
    backend : {'auto', 'numba', 'cython', 'cuda'}, default 'auto'
"""


#: The cost model's work kind of each metric (fastiou._config.SERIAL_NS_PER_UNIT).
_WORK_KIND = {IOU: "iou_pairs", IOA: "iou_pairs", GIOU: "giou_pairs", DIOU: "giou_pairs",
              CIOU: "ciou_pairs"}


def _metric(
    code: int,
    boxes1: Any,
    boxes2: Any,
    fmt: str = "xyxy",
    offset: float = 0,
    aligned: bool = False,
    dtype: DTypeLike = None,
    out: NDArray[np.floating[Any]] | None = None,
    validate: bool = True,
    backend: str = "auto",
    eps: float | None = None,
    names: tuple[str, str] = ("boxes1", "boxes2"),
) -> NDArray[np.floating[Any]]:
    if type(fmt) is str and fmt in ROTATED_FORMATS:
        if eps is not None:
            raise ValueError(f"eps applies to the axis-aligned formats only, not to fmt={fmt!r}")
        return rotated.metric(code, boxes1, boxes2, fmt, offset, aligned, dtype, out, validate, backend)
    if (backend == "auto" and out is None and dtype is None and not aligned and eps is None
            and backends.DEFAULT == "auto"):
        # small-input fast path (per-frame tracking): checks, split and kernel in one
        # compiled call, no thread pool; None: anything unusual (batched boxes too), or an
        # invalid box, goes the general way below (which names the box)
        result: NDArray[np.floating[Any]] | None = backends.serial_entry("small_metric")(
            code, boxes1, boxes2, FORMATS.get(fmt, -1) if type(fmt) is str else -1, offset, validate,
            backends.SERIAL_WORK_THRESHOLD,
        )
        if result is not None:
            return result
    _validate.check_backend(backend)  # before any early return (the fast path takes only 'auto')
    if eps is not None:
        eps = _validate.check_real(eps, "eps", 0)
    if _validate.is_cuda_array(boxes1) or _validate.is_cuda_array(boxes2):
        module, _ = backends.select(backend, 0, on_device=True)
        on_device: NDArray[np.floating[Any]] = module.metric_on_device(
            code, boxes1, boxes2, fmt=fmt, offset=offset, aligned=aligned, dtype=dtype, out=out,
            validate=validate, eps=eps,
        )
        return on_device
    c1, c2, dt, extreme, (lead, n, m) = _validate.box_batch(
        boxes1, boxes2, fmt=fmt, offset=offset, dtype=dtype, validate=validate, aligned=aligned,
        angle=code == CIOU, names=names,
    )
    batches = int(np.prod(lead, dtype=np.int64))
    shape = lead + ((n,) if aligned else (n, m))
    out = _validate.as_out(out, shape, dt)
    if out.size == 0:
        return out
    module, parallel = backends.select(backend, out.size, kind=_WORK_KIND[code])
    if extreme and eps is None:  # a coordinate outside the fast formulas' safe range (rare)
        _extreme_metric(module, code, boxes1, boxes2, lead, fmt, offset, aligned, dt, parallel, out)
        return out
    if extreme:  # torchvision's eps formula: computed as it is, in float64 (no rescaling)
        c1, c2, _, _, _ = _validate.box_batch(
            boxes1, boxes2, fmt=fmt, offset=offset, dtype=np.float64, validate=False,
            aligned=aligned, angle=code == CIOU)
    kt = c1.dtype.type
    flat = _validate.flat_view(out, (out.size,) if aligned else (batches * n, m))
    target = flat if flat is not None and flat.dtype == c1.dtype else np.empty(
        (out.size,) if aligned else (batches * n, m), c1.dtype)
    e = None if eps is None else kt(eps)
    if aligned:
        module.aligned(code, c1, c2, kt(FOUR_OVER_PI2), kt(1), target, parallel, eps=e)
    else:
        module.pairwise(code, c1, c2, kt(FOUR_OVER_PI2), kt(1), target, parallel, rows=n, eps=e)
    if target is not flat:
        out[...] = target.reshape(shape)
    return out


def _extreme_metric(module: ModuleType, code: int, boxes1: Any, boxes2: Any, lead: tuple[int, ...], fmt: str,
                    offset: float, aligned: bool, dt: np.dtype[np.floating[Any]], parallel: bool,
                    out: NDArray[np.floating[Any]]) -> None:
    """The exact path of :mod:`fastiou._extreme` (coordinates outside the safe range), one
    batch item at a time (it splits each call by scale already)."""
    kernel = module.aligned if aligned else module.pairwise
    a1 = _validate.as_box_array(boxes1, "boxes1", True).astype(dt, copy=False)
    a2 = _validate.as_box_array(boxes2, "boxes2", True).astype(dt, copy=False)
    a1 = np.broadcast_to(a1, lead + a1.shape[-2:])
    a2 = np.broadcast_to(a2, lead + a2.shape[-2:])
    for index in np.ndindex(*lead):
        _extreme.metric(lambda a, b, block: kernel(code, a, b, FOUR_OVER_PI2, 1.0, block, parallel),
                        a1[index], a2[index], fmt, offset, aligned, code == CIOU, code == IOA,
                        out[index])


def box_iou(
    boxes1: ArrayLike,
    boxes2: ArrayLike,
    *,
    fmt: Literal["xyxy", "xywh", "cxcywh", "cxcywhr", "xywhr", "xyxyxyxy"] = "xyxy",
    offset: float = 0,
    aligned: bool = False,
    dtype: DTypeLike = None,
    out: NDArray[np.floating[Any]] | None = None,
    validate: bool = True,
    backend: Literal["auto", "numba", "cython", "cuda"] = "auto",
) -> NDArray[np.floating[Any]]:
    """Intersection over union of every pair of boxes (torchvision's ``box_iou``).

    Parameters
    ----------
    boxes1 : array_like, shape (N, 4) or (..., N, 4)
    boxes2 : array_like, shape (M, 4) or (..., M, 4)
{keywords}
    Returns
    -------
    ndarray, shape (..., N, M), or (..., N) with ``aligned=True``
        IoU in [0, 1]; 0 where the union is 0 (torchvision gives NaN there).

    Examples
    --------
    >>> import fastiou
    >>> fastiou.box_iou([[0, 0, 2, 2]], [[1, 1, 3, 3], [0, 0, 2, 2]])
    array([[0.14285714, 1.        ]])
    """
    return _metric(IOU, boxes1, boxes2, fmt, offset, aligned, dtype, out, validate, backend)


def box_ioa(
    boxes1: ArrayLike,
    boxes2: ArrayLike,
    *,
    fmt: Literal["xyxy", "xywh", "cxcywh", "cxcywhr", "xywhr", "xyxyxyxy"] = "xyxy",
    offset: float = 0,
    aligned: bool = False,
    dtype: DTypeLike = None,
    out: NDArray[np.floating[Any]] | None = None,
    validate: bool = True,
    backend: Literal["auto", "numba", "cython", "cuda"] = "auto",
) -> NDArray[np.floating[Any]]:
    """Intersection over the area of ``boxes1`` (mmcv's ``'iof'``) for every pair.

    Parameters
    ----------
    boxes1 : array_like, shape (N, 4) or (..., N, 4)
        The boxes whose area is the denominator.
    boxes2 : array_like, shape (M, 4) or (..., M, 4)
{keywords}
    Returns
    -------
    ndarray, shape (..., N, M), or (..., N) with ``aligned=True``
        In [0, 1]; 0 where ``boxes1[i]`` has zero area.

    Examples
    --------
    >>> import fastiou
    >>> fastiou.box_ioa([[0, 0, 2, 2]], [[1, 1, 3, 3]])
    array([[0.25]])
    """
    return _metric(IOA, boxes1, boxes2, fmt, offset, aligned, dtype, out, validate, backend)


def generalized_box_iou(
    boxes1: ArrayLike,
    boxes2: ArrayLike,
    *,
    fmt: Literal["xyxy", "xywh", "cxcywh", "cxcywhr", "xywhr", "xyxyxyxy"] = "xyxy",
    offset: float = 0,
    aligned: bool = False,
    dtype: DTypeLike = None,
    out: NDArray[np.floating[Any]] | None = None,
    validate: bool = True,
    backend: Literal["auto", "numba", "cython", "cuda"] = "auto",
) -> NDArray[np.floating[Any]]:
    """Generalized IoU: ``IoU - (C - U) / C`` with C the smallest enclosing box's area.

    Parameters
    ----------
    boxes1 : array_like, shape (N, 4) or (..., N, 4)
    boxes2 : array_like, shape (M, 4) or (..., M, 4)
{keywords}
    Returns
    -------
    ndarray, shape (..., N, M), or (..., N) with ``aligned=True``
        In (-1, 1]; equal to the IoU where the enclosing area is 0.

    Examples
    --------
    >>> import fastiou
    >>> fastiou.generalized_box_iou([[0, 0, 1, 1]], [[2, 0, 3, 1]])
    array([[-0.33333333]])
    """
    return _metric(GIOU, boxes1, boxes2, fmt, offset, aligned, dtype, out, validate, backend)


def distance_box_iou(
    boxes1: ArrayLike,
    boxes2: ArrayLike,
    eps: float | None = None,
    *,
    fmt: Literal["xyxy", "xywh", "cxcywh", "cxcywhr", "xywhr", "xyxyxyxy"] = "xyxy",
    offset: float = 0,
    aligned: bool = False,
    dtype: DTypeLike = None,
    out: NDArray[np.floating[Any]] | None = None,
    validate: bool = True,
    backend: Literal["auto", "numba", "cython", "cuda"] = "auto",
) -> NDArray[np.floating[Any]]:
    """Distance IoU: ``IoU - rho^2 / c^2`` (centre distance over enclosing diagonal).

    Parameters
    ----------
    boxes1 : array_like, shape (N, 4) or (..., N, 4)
    boxes2 : array_like, shape (M, 4) or (..., M, 4)
    eps : float >= 0, optional
        None (the default): the guarded division (``rho^2 / c^2`` is 0 where ``c = 0``).
        A number: torchvision's formula with that eps, ``rho^2 / (c^2 + eps)``
        (torchvision's default is 1e-7; its IoU term has no eps, and neither has
        fastiou's, which stays guarded).
{keywords}
    Returns
    -------
    ndarray, shape (..., N, M), or (..., N) with ``aligned=True``
        In (-1, 1]; equal to the IoU where the enclosing diagonal is 0.

    Examples
    --------
    >>> import fastiou
    >>> fastiou.distance_box_iou([[0, 0, 1, 1]], [[2, 0, 3, 1]])
    array([[-0.4]])
    >>> fastiou.distance_box_iou([[0, 0, 1, 1]], [[2, 0, 3, 1]], eps=1.0)  # 0 - 4 / (10 + 1)
    array([[-0.36363636]])
    """
    return _metric(DIOU, boxes1, boxes2, fmt, offset, aligned, dtype, out, validate, backend, eps)


def complete_box_iou(
    boxes1: ArrayLike,
    boxes2: ArrayLike,
    eps: float | None = None,
    *,
    fmt: Literal["xyxy", "xywh", "cxcywh", "cxcywhr", "xywhr", "xyxyxyxy"] = "xyxy",
    offset: float = 0,
    aligned: bool = False,
    dtype: DTypeLike = None,
    out: NDArray[np.floating[Any]] | None = None,
    validate: bool = True,
    backend: Literal["auto", "numba", "cython", "cuda"] = "auto",
) -> NDArray[np.floating[Any]]:
    """Complete IoU: DIoU minus ``alpha * v``, the aspect-ratio consistency term.

    ``v = 4 / pi^2 * (atan(w1 / h1) - atan(w2 / h2))^2`` (``atan(w / 0) = pi / 2``,
    computed once per box) and ``alpha = v / (1 - IoU + v)``, 0 where that
    denominator is 0.

    Parameters
    ----------
    boxes1 : array_like, shape (N, 4) or (..., N, 4)
    boxes2 : array_like, shape (M, 4) or (..., M, 4)
    eps : float >= 0, optional
        None (the default): the guarded division described above.  A number:
        torchvision's formula with that eps, ``rho^2 / (c^2 + eps)`` and
        ``alpha = v / (1 - IoU + v + eps)`` (torchvision's default is 1e-7).
{keywords}
    Returns
    -------
    ndarray, shape (..., N, M), or (..., N) with ``aligned=True``
        In [-1.5, 1] (DIoU's (-1, 1] minus ``alpha * v`` <= 1/2).

    Examples
    --------
    >>> import fastiou
    >>> fastiou.complete_box_iou([[0, 0, 2, 1]], [[0, 0, 1, 2]]).round(4)
    array([[0.2371]])
    """
    return _metric(CIOU, boxes1, boxes2, fmt, offset, aligned, dtype, out, validate, backend, eps)


def bbox_overlaps(
    bboxes1: ArrayLike,
    bboxes2: ArrayLike,
    mode: Literal["iou", "iof", "giou", "diou", "ciou"] = "iou",
    is_aligned: bool = False,
    offset: float = 0,
    *,
    aligned: bool | None = None,
    eps: float | None = None,
    fmt: Literal["xyxy", "xywh", "cxcywh", "cxcywhr", "xywhr", "xyxyxyxy"] = "xyxy",
    dtype: DTypeLike = None,
    out: NDArray[np.floating[Any]] | None = None,
    validate: bool = True,
    backend: Literal["auto", "numba", "cython", "cuda"] = "auto",
) -> NDArray[np.floating[Any]]:
    """mmcv's and mmdet's ``bbox_overlaps``: the metric ``mode`` between two box sets.

    Both spellings work: mmcv's ``bbox_overlaps(bboxes1, bboxes2, mode, aligned,
    offset)`` and mmdet's ``bbox_overlaps(bboxes1, bboxes2, mode, is_aligned, eps)``
    (the fourth positional argument is the same flag in both; ``aligned``,
    ``offset`` and ``eps`` are also keywords).

    Parameters
    ----------
    bboxes1 : array_like, shape (N, 4) or (..., N, 4)
    bboxes2 : array_like, shape (M, 4) or (..., M, 4)
    mode : {'iou', 'iof', 'giou', 'diou', 'ciou'}, default 'iou'
        'iof' is intersection over the area of ``bboxes1`` (:func:`box_ioa`).
    is_aligned, aligned : bool, default False
        mmdet's and mmcv's names of ``aligned`` of the other metrics (give either).
    offset : {0, 1}, default 0
        mmcv's pixel-inclusive offset.
    eps : float >= 0, optional
        None (the default): fastiou's guarded division.  A number: mmdet's floor on
        the denominators, ``I / max(U, eps)`` ('iou'), ``I / max(area1, eps)``
        ('iof') and ``(C' - U') / C'`` with ``U' = max(U, eps)``, ``C' = max(C, eps)``
        ('giou'); torchvision's ``eps`` for 'diou' and 'ciou' (see
        :func:`distance_box_iou`).  mmdet's default, 1e-6, changes only pairs whose
        union (or enclosing area) is below 1e-6.

    Returns
    -------
    ndarray, shape (..., N, M), or (..., N) with ``is_aligned=True``

    Examples
    --------
    >>> import fastiou
    >>> fastiou.bbox_overlaps([[0, 0, 10, 10]], [[0, 0, 10, 20]], mode="iof")
    array([[1.]])
    >>> fastiou.bbox_overlaps([[0, 0, 2, 2]], [[1, 1, 3, 3]], "iou", True, eps=1e-6)
    array([0.14285714])
    """
    code = METRICS[_validate.check_choice(mode, "mode", ("iou", "iof", "giou", "diou", "ciou"))]
    flag = _validate.check_bool(is_aligned, "is_aligned")
    if aligned is not None:
        other = _validate.check_bool(aligned, "aligned")
        if flag and not other:
            raise ValueError("give one of aligned (mmcv) and is_aligned (mmdet), not both")
        flag = other
    return _metric(code, bboxes1, bboxes2, fmt, offset, flag, dtype, out, validate, backend, eps,
                   ("bboxes1", "bboxes2"))


for _f in (box_iou, box_ioa, generalized_box_iou, distance_box_iou, complete_box_iou):
    if _f.__doc__ is not None:  # None under python -OO
        _f.__doc__ = _f.__doc__.replace("{keywords}\n", _KEYWORDS_DOC + "\n")  # blank line: next section
del _f
