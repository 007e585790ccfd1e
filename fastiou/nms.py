"""Non-maximum suppression and its relatives: NMS, DIoU-NMS, batched NMS, soft-NMS, box fusion.

Every function here is exact, not approximate:

* :func:`nms` returns ``torchvision.ops.nms``'s indices, in the same order, whenever
  the scores are distinct.  A box is suppressed when its IoU with a kept box is
  strictly greater than ``iou_threshold``; equal scores keep the lower index
  first (a stable sort); NaN scores raise ``ValueError``.  The IoU is computed in
  the boxes' dtype with torchvision's operations and compared with the float64
  threshold, so float32 input gives float32 decisions, as in torchvision.
* :func:`batched_nms` is exactly :func:`nms` run on each class separately: it does
  not add a per-class offset to the coordinates (a trick whose rounding changes
  results in float32).
* :func:`soft_nms` follows mmcv's ``soft_nms``; :func:`weighted_boxes_fusion`
  follows ensemble-boxes' ``weighted_boxes_fusion``.

The kernels do not compare every pair: sorted by x1, a kept box only scans the
boxes whose x-interval could give an IoU above the threshold (see
:mod:`fastiou.backends.numba_cpu_nms`), which leaves the result unchanged.
"""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING, Any, Literal, Optional, Sequence, Tuple

import numpy as np

from . import _extreme, _validate, backends, rotated
from ._validate import ROTATED_FORMATS
from ._columns import FORMATS
from ._config import SMALL_NMS
from ._formulas import DIOU, IOU
from .backends import _nms_order as order

if TYPE_CHECKING:  # pragma: no cover
    from numpy.typing import ArrayLike, NDArray

#: :func:`~fastiou.backends._nms_order.exact_ranks`' ``(ranks, values)``, or None.
_ExactRanks = Optional[Tuple["NDArray[np.float64]", "NDArray[Any]"]]

NMS_METRICS = {"iou": IOU, "diou": DIOU}
SOFT_METHODS = {"linear": 0, "gaussian": 1, "hard": 2}
CONF_TYPES = ("avg", "max", "box_and_model_avg", "absent_model_aware_avg")

_EMPTY = np.empty(0, dtype=np.int64)
_EMPTY.flags.writeable = False


def _boxes_and_scores(
    boxes: Any, scores: Any, fmt: str, offset: float, validate: bool, scores_in_compute_dtype: bool,
) -> tuple[NDArray[np.floating[Any]], NDArray[Any], np.dtype[np.floating[Any]], _ExactRanks]:
    """Validated ``(columns (8, N), scores, result dtype, exact)`` of host arrays.

    The columns' dtype is the kernels' compute dtype: the result dtype, or float64
    for float32 boxes outside the formulas' safe range (:mod:`fastiou._extreme`);
    ``scores_in_compute_dtype`` gives the scores that dtype too.

    ``exact``: the scores' :func:`~fastiou.backends._nms_order.exact_ranks` (None
    unless they are integers that float64 would round).
    """
    _validate.check_choice(fmt, "fmt", FORMATS)
    _validate.check_offset(offset)
    arr = _validate.as_box_array(boxes, "boxes")
    s = _validate.as_scores(scores, "scores", arr.shape[0])
    exact = order.exact_ranks(s)
    dt = _validate.compute_dtype(arr, s) if scores_in_compute_dtype else _validate.compute_dtype(arr)
    cols, extreme = _validate.checked_box_columns(arr, "boxes", dt, fmt, offset, validate, angle=False)
    if extreme:  # a coordinate outside the safe range (rare): one scale for the whole set
        (cols,), _ = _extreme.one_scale_columns([arr.astype(dt, copy=False)], ["boxes"], dt, fmt, offset,
                                                angle=False)
    if scores_in_compute_dtype:
        s = s.astype(cols.dtype, copy=False)
    elif s.dtype not in _validate.FLOAT_DTYPES:
        # Only ranked: float32 and float64 as they are (sorting float32 is faster),
        # other dtypes in float64, which keeps their order.
        s = s.astype(np.float64)
    return cols, s, dt, exact


def _greedy(boxes: Any, scores: Any, idxs: Any, iou_threshold: float, score_threshold: float | None,
            max_output: int | None, metric: str, fmt: str, offset: float, validate: bool,
            backend: str) -> NDArray[np.int64]:
    _validate.check_backend(backend)
    code = NMS_METRICS[_validate.check_choice(metric, "metric", NMS_METRICS)]
    threshold = _validate.check_real(iou_threshold, "iou_threshold")
    score_threshold = _validate.check_threshold(score_threshold, "score_threshold")
    max_output = _validate.check_max_output(max_output)
    if type(fmt) is str and fmt in ROTATED_FORMATS:
        return _rotated_greedy(boxes, scores, idxs, threshold, score_threshold, max_output, code, fmt,
                               offset, validate, backend)
    if any(_validate.is_cuda_array(x) for x in (boxes, scores, idxs)):  # on the GPU, zero copy
        module, _ = backends.select(backend, 0, on_device=True, family="nms")
        on_device: NDArray[np.int64] = module.nms_on_device(
            code, boxes, scores, idxs, iou_threshold=threshold, score_threshold=score_threshold,
            max_output=max_output, fmt=fmt, offset=offset, validate=validate)
        return on_device
    cols, s, dt, exact = _boxes_and_scores(boxes, scores, fmt, offset, validate, False)
    n = cols.shape[1]
    labels = None if idxs is None else _validate.as_labels(idxs, "idxs", n)
    if n == 0 or max_output == 0:
        return _EMPTY.copy()
    if exact is not None:  # the kernels only compare scores: exact ranks order as they do
        s, score_threshold = exact[0], order.rank_threshold(exact[1], score_threshold)
    # work: boxes, of classes in parallel; one class is sequential (nothing to decide)
    module, parallel = backends.select(backend, 0 if labels is None else n, family="nms")
    ct = cols.dtype  # the compute dtype (see _boxes_and_scores)
    t = order.threshold_below(threshold, ct)
    one = ct.type(1)
    keep: NDArray[np.int64]
    if labels is None:
        keep = module.nms(code, cols, s, score_threshold, t, max_output, one, False)
    else:
        keep = module.batched_nms(code, cols, s, labels, score_threshold, t, max_output, one, parallel)
    return keep


def _rotated_greedy(boxes: Any, scores: Any, idxs: Any, threshold: float, score_threshold: float | None,
                    max_output: int, code: int, fmt: str, offset: float, validate: bool,
                    backend: str) -> NDArray[np.int64]:
    """:func:`_greedy` for rotated boxes (host arrays, metric 'iou')."""
    if code != IOU:
        raise ValueError(f"metric must be 'iou' for the rotated format {fmt!r}, got 'diou'")
    if _validate.check_offset(offset) != 0:
        raise ValueError(f"offset must be 0 for the rotated format {fmt!r}, got {offset!r}")
    if any(_validate.is_cuda_array(x) for x in (boxes, scores, idxs)):
        raise TypeError(f"rotated NMS (fmt={fmt!r}) takes host arrays (backend='cuda' computes "
                        f"on the GPU); copy CUDA arrays to the host")
    cols, s, dt = rotated.nms_arrays(boxes, scores, fmt, validate)
    n = cols.shape[1]
    labels = None if idxs is None else _validate.as_labels(idxs, "idxs", n)
    if n == 0 or max_output == 0:
        return _EMPTY.copy()
    exact = order.exact_ranks(s)
    if exact is not None:
        s, score_threshold = exact[0], order.rank_threshold(exact[1], score_threshold)
    elif s.dtype not in _validate.FLOAT_DTYPES:
        s = s.astype(np.float64)
    ranked = order.by_exact_score(s) if exact is not None else order.by_score(s)
    cand = order.candidates(s, score_threshold)
    if cand is not None:
        keep = np.zeros(n, np.bool_)
        keep[cand] = True
        ranked = ranked[keep[ranked]]
    module, _ = backends.select(backend, 0, family="rotated", kind="nms")  # serial: no cost model
    t = order.threshold_below(threshold, dt)
    kept: NDArray[np.int64] = module.nms(cols, ranked, labels, t, max_output)
    return kept


_COMMON_DOC = """\
    score_threshold : float, optional
        Only boxes with ``score > score_threshold`` take part (filtered before
        suppression).
    max_output : int, optional
        Return at most this many indices (the best; truncated after suppression).
    metric : {'iou', 'diou'}, default 'iou'
        'diou' is DIoU-NMS: suppress where the distance IoU exceeds the threshold.
    fmt : {'xyxy', 'xywh', 'cxcywh', 'cxcywhr', 'xywhr', 'xyxyxyxy'}, default 'xyxy'
        The rotated formats (torchvision's; see :mod:`fastiou.rotated`) take host
        arrays and ``metric='iou'``: greedy NMS with the exact polygon IoU.
    offset : {0, 1}, default 0
        1 for the legacy pixel-inclusive convention ``w = x2 - x1 + 1``.
    validate : bool, default True
        Check that coordinates are finite with ``x2 >= x1`` and ``y2 >= y1``
        (``ValueError`` naming the first bad row).  False skips the check: results
        for bad boxes are then unspecified, but nothing crashes.
    backend : {'auto', 'numba', 'cython', 'cuda'}, default 'auto'
        CUDA arrays (PyTorch, CuPy, Numba) run on their GPU and return indices of
        their own kind; ``'cuda'`` with NumPy input copies it to the GPU and back.
"""


def nms(
    boxes: ArrayLike,
    scores: ArrayLike,
    iou_threshold: float,
    *,
    score_threshold: float | None = None,
    max_output: int | None = None,
    metric: Literal["iou", "diou"] = "iou",
    fmt: Literal["xyxy", "xywh", "cxcywh", "cxcywhr", "xywhr", "xyxyxyxy"] = "xyxy",
    offset: float = 0,
    validate: bool = True,
    backend: Literal["auto", "numba", "cython", "cuda"] = "auto",
) -> NDArray[np.int64]:
    """Greedy non-maximum suppression (torchvision's ``nms``).

    Repeatedly keeps the best-scored remaining box and suppresses the boxes whose
    IoU with it is strictly greater than ``iou_threshold``.  A pair with zero
    union (two zero-area boxes) has IoU 0, where torchvision gets NaN: such boxes
    do not suppress each other when ``iou_threshold >= 0``, and do below 0
    (``0 > iou_threshold``; torchvision's NaN never suppresses).

    Parameters
    ----------
    boxes : array_like, shape (N, 4)
    scores : array_like, shape (N,)
        Equal scores keep the lower index first; NaN raises ``ValueError``.
        Integer scores are ranked exactly, also int64 beyond 2**53 (which
        float64 would round into ties), and ``score_threshold`` compared exactly.
    iou_threshold : float
{common}
    Returns
    -------
    ndarray of int64
        Indices of the kept boxes, by decreasing score.  For distinct scores, the
        indices ``torchvision.ops.nms`` returns, in the same order.

    Examples
    --------
    >>> import fastiou
    >>> boxes = [[0, 0, 10, 10], [1, 1, 11, 11], [20, 20, 30, 30]]
    >>> fastiou.nms(boxes, [0.9, 0.8, 0.7], 0.5)
    array([0, 2])
    """
    if (backend == "auto" and score_threshold is None and max_output is None and type(iou_threshold) is float
            and type(fmt) is str and backends.DEFAULT == "auto"):
        # small-input fast path: checks, sort and suppression in one compiled call, no thread
        # pool; None: anything unusual, or a bad box or score (the general way names it)
        small: NDArray[np.int64] | None = backends.serial_entry("small_nms")(
            NMS_METRICS.get(metric, -1), boxes, scores, FORMATS.get(fmt, -1), offset, validate,
            iou_threshold, SMALL_NMS)
        if small is not None:
            return small
    return _greedy(boxes, scores, None, iou_threshold, score_threshold, max_output, metric, fmt,
                   offset, validate, backend)


def batched_nms(
    boxes: ArrayLike,
    scores: ArrayLike,
    idxs: ArrayLike,
    iou_threshold: float,
    *,
    score_threshold: float | None = None,
    max_output: int | None = None,
    metric: Literal["iou", "diou"] = "iou",
    fmt: Literal["xyxy", "xywh", "cxcywh", "cxcywhr", "xywhr", "xyxyxyxy"] = "xyxy",
    offset: float = 0,
    validate: bool = True,
    backend: Literal["auto", "numba", "cython", "cuda"] = "auto",
) -> NDArray[np.int64]:
    """NMS within each category: boxes of different ``idxs`` never suppress each other.

    Exactly :func:`nms` run on each category separately (no coordinate-offset
    trick), with the categories in parallel on large inputs.

    Parameters
    ----------
    boxes : array_like, shape (N, 4)
    scores : array_like, shape (N,)
    idxs : array_like of int, shape (N,)
        The category of each box (any integers; floats with integer values).
    iou_threshold : float
{common}
    Returns
    -------
    ndarray of int64
        Indices of the kept boxes of every category, by decreasing score (equal
        scores: lower index first).

    Examples
    --------
    >>> import fastiou
    >>> boxes = [[0, 0, 10, 10], [1, 1, 11, 11], [1, 1, 11, 11]]
    >>> fastiou.batched_nms(boxes, [0.9, 0.8, 0.7], [0, 0, 1], 0.5)
    array([0, 2])
    """
    no_boxes = not _validate.is_cuda_array(boxes) and np.size(boxes) == 0
    if no_boxes and (scores is None or idxs is None or iou_threshold is None):
        return _EMPTY.copy()  # as torchvision: no boxes give no indices before the rest is read
    if idxs is None:  # torchvision requires idxs too; silently running plain nms hides a bug
        raise TypeError("idxs must be the category of each box, shape (N,), got None "
                        "(use nms for one category)")
    return _greedy(boxes, scores, idxs, iou_threshold, score_threshold, max_output, metric, fmt,
                   offset, validate, backend)


def soft_nms(
    boxes: ArrayLike,
    scores: ArrayLike,
    iou_threshold: float = 0.3,
    sigma: float = 0.5,
    score_threshold: float = 1e-3,
    method: Literal["linear", "gaussian", "hard"] = "linear",
    idxs: ArrayLike | None = None,
    *,
    max_output: int | None = None,
    fmt: Literal["xyxy", "xywh", "cxcywh"] = "xyxy",
    offset: float = 0,
    validate: bool = True,
    backend: Literal["auto", "numba", "cython", "cuda"] = "auto",
) -> tuple[NDArray[np.int64], NDArray[np.floating[Any]]]:
    """Soft-NMS (Bodla et al. 2017) with mmcv's semantics: decay scores instead of dropping boxes.

    Repeatedly picks the box of highest current score and multiplies the score of
    every remaining box by a weight of its IoU with the pick:

    * ``'linear'``: ``1 - iou`` where ``iou >= iou_threshold``, else 1;
    * ``'gaussian'``: ``exp(-iou**2 / sigma)`` for every box;
    * ``'hard'``: 0 where ``iou >= iou_threshold`` (classic NMS, but ``>=``).

    A box whose score falls below ``score_threshold`` is dropped.  Choices, where
    mmcv leaves them open: boxes already scored below ``score_threshold`` are
    dropped up front (mmcv keeps the first pick whatever its score); equal scores
    pick the lower index first; with ``idxs``, each category is processed alone
    (mmcv's ``batched_nms``).  The arithmetic is in the compute dtype: float32
    gives mmcv's float32 results.  Integer scores are decayed in float64 (the
    decay needs floats): the returned scores of int64 beyond 2**53 are rounded,
    but the order is exact, as in :func:`nms`: where two current scores are equal
    in float64, the higher integer score is picked first, then the lower index.

    Parameters
    ----------
    boxes : array_like, shape (N, 4)
    scores : array_like, shape (N,)
    iou_threshold : float, default 0.3
    sigma : float, default 0.5
        Width of the gaussian decay (positive).
    score_threshold : float, default 1e-3
    method : {'linear', 'gaussian', 'hard'}, default 'linear'
    idxs : array_like of int, shape (N,), optional
        Categories: boxes of different categories never decay each other.
    max_output : int, optional
        Return at most this many boxes (the best).
    fmt, offset, validate, backend
        As in :func:`nms`.

    Returns
    -------
    indices : ndarray of int64
        The boxes kept, by decreasing decayed score (equal: lower index first).
    scores : ndarray
        Their decayed scores, in the compute dtype (float32 stays float32).

    Examples
    --------
    >>> import fastiou
    >>> boxes = [[0, 0, 10, 10], [0, 0, 10, 5], [20, 20, 30, 30]]
    >>> keep, new_scores = fastiou.soft_nms(boxes, [0.9, 0.8, 0.7])
    >>> keep, new_scores
    (array([0, 2, 1]), array([0.9, 0.7, 0.4]))
    """
    _validate.check_backend(backend)
    code = _validate.check_choice(method, "method", SOFT_METHODS)
    threshold = _validate.check_real(iou_threshold, "iou_threshold")
    sigma = _validate.check_real(sigma, "sigma", 0, low_open=True)
    score_threshold = _validate.check_real(score_threshold, "score_threshold")
    max_output = _validate.check_max_output(max_output)
    _validate.check_host_boxes((boxes, "boxes"), (scores, "scores"), (idxs, "idxs"))
    cols, s, dt, exact = _boxes_and_scores(boxes, scores, fmt, offset, validate, True)
    n = cols.shape[1]
    labels = None if idxs is None else _validate.as_labels(idxs, "idxs", n)
    if n == 0 or max_output == 0:
        return _EMPTY.copy(), np.empty(0, dtype=dt)
    module, parallel = backends.select(backend, n, family="nms")  # work: boxes
    perm: NDArray[np.intp] | None = None
    if exact is not None:  # the kernels break float ties by index: put the exact order there
        perm = order.by_exact_score(exact[0])
        cols, s = np.take(cols, perm, axis=1), s[perm]
        labels = None if labels is None else labels[perm]
    # mmcv compares with the threshold in the compute dtype (rounded to nearest).
    ct = cols.dtype  # the compute dtype (see _boxes_and_scores)
    keep, new_scores = module.soft_nms(SOFT_METHODS[code], cols, s, labels, ct.type(threshold),
                                       ct.type(sigma), ct.type(score_threshold), max_output, ct.type(1),
                                       parallel)
    return (keep if perm is None else perm[keep]), new_scores.astype(dt, copy=False)


def _model_arrays(
    boxes_list: Any, scores_list: Any, labels_list: Any, validate: bool,
) -> tuple[int, NDArray[np.floating[Any]], NDArray[np.floating[Any]], NDArray[np.int64], NDArray[np.intp],
           np.dtype[np.floating[Any]], _ExactRanks]:
    """Per-model validated arrays, concatenated.

    Returns ``(n_models, boxes, scores, labels, model of each box, dtype, exact)``;
    ``exact``: the raw scores' :func:`~fastiou.backends._nms_order.exact_ranks`.
    """
    try:
        boxes_list = list(boxes_list)
    except TypeError:
        raise TypeError(f"boxes_list must be a sequence of (N, 4) box arrays, one per model, "
                        f"got {type(boxes_list).__name__}") from None
    n_models = len(boxes_list)
    scores_list = _validate.check_length(scores_list, "scores_list", n_models)
    labels_list = _validate.check_length(labels_list, "labels_list", n_models)
    lists = {"boxes_list": boxes_list, "scores_list": scores_list, "labels_list": labels_list}
    for name, items in lists.items():
        _validate.check_host_boxes(*[(item, f"{name}[{t}]") for t, item in enumerate(items)])
    boxes: list[NDArray[Any]] = []
    scores: list[NDArray[Any]] = []
    labels: list[NDArray[np.int64]] = []
    for t in range(n_models):
        b = _validate.as_box_array(boxes_list[t], f"boxes_list[{t}]")
        boxes.append(b)
        scores.append(_validate.as_scores(scores_list[t], f"scores_list[{t}]", b.shape[0]))
        labels.append(_validate.as_labels(labels_list[t], f"labels_list[{t}]", b.shape[0]))
    dt = _validate.compute_dtype(*boxes, *scores)
    if validate:
        for t, b in enumerate(boxes):
            _validate.as_box_columns(b, f"boxes_list[{t}]", dt, "xyxy", 0, True, angle=False)
    models = np.repeat(np.arange(n_models), [b.shape[0] for b in boxes])
    cat = np.concatenate(boxes).astype(dt, copy=False) if n_models else np.empty((0, 4), dt)
    raw_scores = np.concatenate(scores) if n_models else np.empty(0, dt)
    lab = np.concatenate(labels) if n_models else np.empty(0, np.int64)
    return (n_models, cat, raw_scores.astype(dt, copy=False), lab, models, dt,
            order.exact_ranks(raw_scores))


def _fused_scores(
    conf_type: str,
    allows_overflow: bool,
    conf: NDArray[np.floating[Any]],
    cluster: NDArray[np.intp],
    scores: NDArray[np.floating[Any]],
    models: NDArray[np.intp],
    weights: NDArray[np.float64],
) -> NDArray[np.float64]:
    """ensemble-boxes' cluster confidence from the clusters' members (float64)."""
    fused: NDArray[np.float64]
    k = conf.shape[0]
    count = np.bincount(cluster, minlength=k)
    total = weights.sum()
    if conf_type == "max":
        best = np.full(k, -np.inf)
        np.maximum.at(best, cluster, scores.astype(np.float64))
        fused = best / weights.max()
        return fused
    mean = conf.astype(np.float64) / count
    if conf_type == "avg":
        fused = mean * (count if allows_overflow else np.minimum(weights.shape[0], count)) / total
        return fused
    weight_sum = np.bincount(cluster, weights=weights[models], minlength=k)
    # Weight of the distinct models present in each cluster.
    pairs = np.unique(cluster * weights.shape[0] + models)
    present = np.bincount(pairs // weights.shape[0], weights=weights[pairs % weights.shape[0]], minlength=k)
    if conf_type == "box_and_model_avg":
        fused = mean * count / weight_sum * present / total
        return fused
    fused = mean * count / (weight_sum + (total - present))
    return fused


def weighted_boxes_fusion(
    boxes_list: Sequence[ArrayLike],
    scores_list: Sequence[ArrayLike],
    labels_list: Sequence[ArrayLike],
    weights: ArrayLike | None = None,
    iou_thr: float = 0.55,
    skip_box_thr: float = 0.0,
    conf_type: Literal["avg", "max", "box_and_model_avg", "absent_model_aware_avg"] = "avg",
    allows_overflow: bool = False,
    *,
    validate: bool = True,
    backend: Literal["auto", "numba", "cython"] = "auto",
) -> tuple[NDArray[np.floating[Any]], NDArray[np.floating[Any]], NDArray[np.int64]]:
    """Weighted boxes fusion (Solovyev et al.): ensemble-boxes' ``weighted_boxes_fusion``.

    Merges the predictions of several models.  Per label, boxes by decreasing
    (weighted) score join the cluster whose fused box they overlap most with
    IoU > ``iou_thr``, or start a new cluster; a fused box is the score-weighted
    mean of its members, and its confidence is rescaled by ``conf_type``.

    Boxes are ``xyxy`` in normalised coordinates: coordinates outside [0, 1] are
    clipped (with one ``UserWarning``), and boxes of zero area after clipping,
    and boxes scored below ``skip_box_thr``, are skipped, as ensemble-boxes does.
    Where ensemble-boxes swaps ``x2 < x1``, prints a message or exits, this
    function raises ``ValueError`` (bad boxes, NaN scores, non-integer labels, a
    wrong number of weights, an unknown ``conf_type``).  Labels come back as
    int64 (ensemble-boxes returns floats).  Equal scores are taken in input order
    (model, then box); ensemble-boxes' order on ties follows NumPy's unstable sort.
    Scores are weights of the fused boxes, so integer scores are computed in
    float64; where int64 scores beyond 2**53 round to equal weighted scores, the
    higher integer score is taken first.

    Parameters
    ----------
    boxes_list : sequence of array_like, each (N_t, 4)
        One array per model.
    scores_list : sequence of array_like, each (N_t,)
    labels_list : sequence of array_like of int, each (N_t,)
    weights : array_like, shape (n_models,), optional
        Positive weight of each model (default 1); a box's score is multiplied by it.
    iou_thr : float, default 0.55
    skip_box_thr : float, default 0.0
    conf_type : {'avg', 'max', 'box_and_model_avg', 'absent_model_aware_avg'}, default 'avg'
    allows_overflow : bool, default False
        With 'avg': let the confidence exceed 1 when a cluster has more boxes
        than there are models.
    validate : bool, default True
        Check that coordinates are finite with ``x2 >= x1`` and ``y2 >= y1``.
    backend : {'auto', 'numba', 'cython'}, default 'auto'

    Returns
    -------
    boxes : ndarray (K, 4)
        Fused boxes, in the compute dtype.
    scores : ndarray (K,)
    labels : ndarray of int64 (K,)
        By decreasing score.

    Examples
    --------
    >>> import fastiou
    >>> boxes, scores, labels = fastiou.weighted_boxes_fusion(
    ...     [[[0.1, 0.1, 0.5, 0.5]], [[0.1, 0.1, 0.5, 0.7]]], [[0.9], [0.3]], [[0], [0]])
    >>> boxes.round(2), scores.round(2), labels
    (array([[0.1 , 0.1 , 0.5 , 0.55]]), array([0.6]), array([0]))
    """
    _validate.check_backend(backend)
    _validate.check_choice(conf_type, "conf_type", CONF_TYPES)
    allows_overflow = _validate.check_bool(allows_overflow, "allows_overflow")
    threshold = _validate.check_real(iou_thr, "iou_thr")
    skip = _validate.check_real(skip_box_thr, "skip_box_thr")
    n_models, raw, s, labels, models, dt, exact = _model_arrays(boxes_list, scores_list, labels_list,
                                                                validate)
    if weights is None:
        w = np.ones(n_models)
    else:
        w = _validate.as_array(weights, "weights").astype(np.float64)
        if w.shape != (n_models,):
            raise ValueError(f"weights must have one value per model, shape ({n_models},), got {w.shape}")
        if not (np.isfinite(w).all() and (w > 0).all()):
            raise ValueError(f"weights must be finite and positive, got {w.tolist()}")
    if raw.size and (raw.min() < 0 or raw.max() > 1):
        warnings.warn("weighted_boxes_fusion: coordinates outside [0, 1] were clipped to [0, 1]",
                      UserWarning, stacklevel=2)
    cols = _validate.as_box_columns(np.clip(raw, 0, 1), "boxes_list", dt, "xyxy", 0, False,
                                    angle=False)
    keep = np.flatnonzero((s >= skip) & (cols[4] > 0))
    if keep.size == 0:
        return np.zeros((0, 4), dt), np.zeros(0, dt), np.zeros(0, np.int64)
    if exact is not None:  # the kernels break float ties by index: put the exact order there
        keep = keep[order.by_exact_score(exact[0][keep])]
    cols = np.ascontiguousarray(cols[:, keep])
    models = models[keep]
    ws = (s[keep] * w[models].astype(dt)).astype(dt, copy=False)
    labels = labels[keep]
    module, parallel = backends.select(backend, keep.size, family="nms")
    t = order.threshold_below(threshold, dt)
    cluster, fused, conf = module.wbf(cols, ws, labels, t, dt.type(1), parallel)
    score = _fused_scores(conf_type, allows_overflow, conf, cluster, ws, models, w)
    cluster_label = np.empty(conf.shape[0], np.int64)
    cluster_label[cluster] = labels
    by_score = np.argsort(-score, kind="stable")
    return fused[by_score], score[by_score].astype(dt), cluster_label[by_score]


for _f in (nms, batched_nms):
    if _f.__doc__ is not None:  # None under python -OO
        _f.__doc__ = _f.__doc__.replace("{common}\n", _COMMON_DOC + "\n")  # blank line: next section
del _f
