"""Box metrics without the N x M matrix: thresholded sparse joins and best matches.

A dense matrix of 1M x 1M boxes holds 10^12 values (4 TB in float32), almost all
of them 0; the pairs that matter are the few that overlap.  :func:`sparse_box_iou`
returns exactly the pairs whose metric exceeds ``min_iou`` as a
``scipy.sparse.csr_array``, and :func:`max_box_iou` each row's best match, both
from a k-d tree over ``boxes2`` queried with the exact bounds that a threshold
puts on the other box's corners (see :mod:`fastiou.backends.numba_cpu_sparse`):
O((N + M) log(N + M) + K) work for K pairs on detector-like data and
O(N + M + K) memory.  The values are those of the dense functions
(:func:`fastiou.box_iou`, ...), computed by the same formulas, bit for bit.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import scipy.sparse

from . import _extreme, _validate, backends
from ._formulas import CIOU, FOUR_OVER_PI2, IOA, IOU, METRICS
from .backends.numba_cpu_sparse import LEAF_SIZE, MAX_COLUMNS

if TYPE_CHECKING:  # pragma: no cover
    from numpy.typing import ArrayLike, DTypeLike, NDArray

SPARSE_METRICS = ("iou", "ioa", "giou", "diou", "ciou")
SPARSE_BACKENDS = ("auto", "numba")

_KEYWORDS_DOC = """\
    metric : {'iou', 'ioa', 'giou', 'diou', 'ciou'}, default 'iou'
        The metric of :func:`fastiou.box_iou`, :func:`fastiou.box_ioa` (intersection
        over the area of ``boxes1``), :func:`fastiou.generalized_box_iou`,
        :func:`fastiou.distance_box_iou` or :func:`fastiou.complete_box_iou`.
    fmt : {'xyxy', 'xywh', 'cxcywh'}, default 'xyxy'
        Box format of both inputs.
    offset : {0, 1}, default 0
        1 for the legacy pixel-inclusive convention ``w = x2 - x1 + 1``.
    dtype : float32 or float64, optional
        Compute and output dtype.  Default: float64 and float32 stay, float16 is
        computed in float32, integers and bools in float64.
    validate : bool, default True
        Check that coordinates are finite with ``x2 >= x1`` and ``y2 >= y1``
        (``ValueError`` naming the first bad row).  False skips the check: results
        for bad boxes are then unspecified.
    backend : {'auto', 'numba'}, default 'auto'
        These joins have Numba CPU kernels only.
"""


def _prepare(
    boxes1: Any,
    boxes2: Any,
    metric: str,
    fmt: str,
    offset: float,
    dtype: DTypeLike,
    validate: bool,
    backend: str,
    names: tuple[str, str] = ("boxes1", "boxes2"),
) -> tuple[int, NDArray[np.floating[Any]], NDArray[np.floating[Any]], np.dtype[np.floating[Any]]]:
    """Validated ``(code, c1, c2, dtype)`` of a join."""
    code = METRICS[_validate.check_choice(metric, "metric", SPARSE_METRICS)]
    _validate.check_backend(backend, SPARSE_BACKENDS)
    _validate.check_host_boxes((boxes1, names[0]), (boxes2, names[1]))
    c1, c2, dt, extreme = _validate.box_pair(boxes1, boxes2, fmt=fmt, offset=offset, dtype=dtype,
                                             validate=validate, aligned=False, names=names,
                                             angle=code == CIOU)
    if extreme:  # a coordinate outside the safe range (rare): both sets at one scale
        arrays = [_validate.as_box_array(b, name).astype(dt, copy=False)
                  for b, name in ((boxes1, names[0]), (boxes2, names[1]))]
        (c1, c2), _ = _extreme.one_scale_columns(arrays, list(names), dt, fmt, offset, code == CIOU)
    return code, c1, c2, dt


def join(code: int, c1: NDArray[np.floating[Any]], c2: NDArray[np.floating[Any]],
         threshold: float) -> scipy.sparse.csr_array:
    """The pairs of validated columns with metric ``code`` > ``threshold`` (any real), as CSR.

    A negative threshold with IoU or IoA keeps every pair (used by matching at threshold 0).
    """
    n, m = c1.shape[1], c2.shape[1]
    if m > MAX_COLUMNS:
        raise ValueError(f"boxes2 must hold at most {MAX_COLUMNS} boxes, got {m}")
    work = n * m if threshold < 0 else (n + m) * LEAF_SIZE
    module, parallel = backends.select("numba", work, family="sparse")
    dt = c1.dtype.type
    data, indices, indptr = module.sparse_join(code, c1, c2, threshold, dt(FOUR_OVER_PI2), dt(1), parallel)
    result = scipy.sparse.csr_array((data, indices, indptr), shape=(n, m))
    result.has_sorted_indices = True
    return result


def sparse_box_iou(
    boxes1: ArrayLike,
    boxes2: ArrayLike,
    min_iou: float,
    *,
    metric: Literal["iou", "ioa", "giou", "diou", "ciou"] = "iou",
    fmt: Literal["xyxy", "xywh", "cxcywh"] = "xyxy",
    offset: float = 0,
    dtype: DTypeLike = None,
    validate: bool = True,
    backend: Literal["auto", "numba"] = "auto",
) -> scipy.sparse.csr_array:
    """The pairs of boxes whose IoU (or ``metric``) is strictly greater than ``min_iou``.

    Equal to the dense matrix thresholded, ``box_iou(boxes1, boxes2) > min_iou``,
    with the same values, computed without it: for thresholds ``>= 0`` only the
    pairs that a threshold allows are ever compared (a k-d tree over ``boxes2``),
    O((N + M) log(N + M) + K) work on detector-like data and O(N + M + K) memory.

    GIoU, DIoU and CIoU take negative thresholds too, where disjoint boxes,
    however far apart, can pass: such a join compares every pair (O(N M) work, a
    row at a time: the memory stays O(N + M + K)).

    Parameters
    ----------
    boxes1 : array_like, shape (N, 4)
    boxes2 : array_like, shape (M, 4)
    min_iou : float
        Keep the pairs with metric ``> min_iou``: in [0, 1] for 'iou' and 'ioa',
        in [-1, 1] for 'giou', 'diou' and 'ciou'.  The metric, of the compute
        dtype, is compared exactly with the float64 ``min_iou``, as torchvision's
        NMS does (NumPy's ``iou > min_iou`` on a float32 array rounds ``min_iou``
        to float32 first: a value equal to ``float32(min_iou)`` can differ).
{keywords}
    Returns
    -------
    scipy.sparse.csr_array, shape (N, M)
        The metric of every kept pair, in the compute dtype; the column indices of
        each row are sorted.  Pairs not stored are at or below ``min_iou``.

    Examples
    --------
    >>> import fastiou
    >>> boxes1 = [[0, 0, 10, 10], [20, 20, 30, 30]]
    >>> boxes2 = [[1, 1, 11, 11], [50, 50, 60, 60], [20, 20, 30, 31]]
    >>> pairs = fastiou.sparse_box_iou(boxes1, boxes2, 0.5)
    >>> pairs.nnz, pairs.toarray().round(3)
    (2, array([[0.681, 0.   , 0.   ],
           [0.   , 0.   , 0.909]]))
    >>> rows, cols = pairs.nonzero(); rows, cols
    (array([0, 1], dtype=int32), array([0, 2], dtype=int32))
    """
    code, c1, c2, dt = _prepare(boxes1, boxes2, metric, fmt, offset, dtype, validate, backend)
    low = 0.0 if code in (IOU, IOA) else -1.0
    threshold = _validate.check_real(min_iou, "min_iou", low, 1.0)
    return join(code, c1, c2, threshold).astype(dt, copy=False)


def max_box_iou(
    boxes1: ArrayLike,
    boxes2: ArrayLike,
    *,
    metric: Literal["iou", "ioa", "giou", "diou", "ciou"] = "iou",
    fmt: Literal["xyxy", "xywh", "cxcywh"] = "xyxy",
    offset: float = 0,
    dtype: DTypeLike = None,
    validate: bool = True,
    backend: Literal["auto", "numba"] = "auto",
) -> tuple[NDArray[np.floating[Any]], NDArray[np.int64]]:
    """Each box's best match: the row-wise max and argmax of the metric matrix, without it.

    Equal to ``m = box_iou(boxes1, boxes2); m.max(1), m.argmax(1)`` (ties go to the
    lowest column, as ``np.argmax``).  Only the boxes that overlap a box of
    ``boxes1`` are compared with it (a k-d tree over ``boxes2``): every other box
    has IoU 0.  For GIoU, DIoU and CIoU a row that overlaps nothing with a
    positive metric is compared with every column (disjoint boxes have different,
    negative values), so the work on such rows is O(M); the memory is O(N + M)
    whatever the input.

    Parameters
    ----------
    boxes1 : array_like, shape (N, 4)
    boxes2 : array_like, shape (M, 4)
{keywords}
    Returns
    -------
    values : ndarray, shape (N,)
        The best metric of each box of ``boxes1`` (0 when M = 0), in the compute dtype.
    indices : ndarray of int64, shape (N,)
        The column of that best value; -1 when M = 0.

    Examples
    --------
    >>> import fastiou
    >>> values, indices = fastiou.max_box_iou([[0, 0, 10, 10], [100, 100, 110, 110]],
    ...                                       [[50, 50, 60, 60], [0, 0, 10, 20]])
    >>> values, indices
    (array([0.5, 0. ]), array([1, 0]))
    """
    code, c1, c2, dt = _prepare(boxes1, boxes2, metric, fmt, offset, dtype, validate, backend)
    n, m = c1.shape[1], c2.shape[1]
    module, parallel = backends.select("numba", (n + m) * LEAF_SIZE, family="sparse")
    ct = c1.dtype.type  # float64 for float32 boxes outside the safe range
    values, indices = module.best_match(code, c1, c2, ct(FOUR_OVER_PI2), ct(1), parallel)
    return values.astype(dt, copy=False), indices


for _f in (sparse_box_iou, max_box_iou):
    if _f.__doc__ is not None:  # None under python -OO
        _f.__doc__ = _f.__doc__.replace("{keywords}\n", _KEYWORDS_DOC + "\n")  # blank line: next section
del _f
