"""Matching predictions to ground truth: COCO's greedy rule or the best assignment.

Both methods look only at the pairs with IoU at or above the threshold, found by
the sparse join of :mod:`fastiou.sparse` (never the dense matrix).

``gt_ignore`` follows COCO's handling of ``iscrowd``/ignored ground truth: a
prediction is matched to an ignored ground truth only when no free, not ignored
one qualifies, and an ignored ground truth may absorb any number of predictions.
Such pairs are returned too (``gt_ignore[gt]`` tells them apart): COCO counts
those predictions neither as true nor as false positives.  Unlike pycocotools,
the overlap with an ignored box is its IoU (pycocotools uses, for crowd regions,
the intersection over the prediction's area).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import scipy.optimize
import scipy.sparse
import scipy.sparse.csgraph

from . import _validate, backends, sparse
from ._formulas import IOU

if TYPE_CHECKING:  # pragma: no cover
    from numpy.typing import ArrayLike, DTypeLike, NDArray

MATCH_METHODS = ("greedy", "hungarian")


def _hungarian(pairs: scipy.sparse.csr_array,
               ignore: NDArray[np.bool_]) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """Maximum-total-IoU assignment over the stored pairs, then unmatched rows to ignored columns."""
    n, m = pairs.shape
    coo = pairs.tocoo()
    rows, cols, vals = coo.row.astype(np.int64), coo.col.astype(np.int64), coo.data
    main = ~ignore[cols]
    r, c, v = rows[main], cols[main], vals[main]
    # Independent problems: the connected components of the bipartite graph of pairs.
    comp = np.empty(0, np.int64)
    if r.size:
        graph = scipy.sparse.coo_array((np.ones(r.size), (r, n + c)), shape=(n + m, n + m))
        comp = scipy.sparse.csgraph.connected_components(graph, directed=False)[1][r]
    order = np.argsort(comp, kind="stable")
    bounds = np.flatnonzero(np.diff(comp[order])) + 1
    preds: list[NDArray[np.int64]] = []
    gts: list[NDArray[np.int64]] = []
    for edges in np.split(order, bounds) if order.size else []:
        er, ec = r[edges], c[edges]
        ur, ir = np.unique(er, return_inverse=True)
        uc, ic = np.unique(ec, return_inverse=True)
        weight = np.zeros((ur.size, uc.size))  # absent pairs weigh 0: taking one adds nothing
        present = np.zeros((ur.size, uc.size), np.bool_)
        weight[ir, ic] = v[edges]
        present[ir, ic] = True
        a, b = scipy.optimize.linear_sum_assignment(weight, maximize=True)
        keep = present[a, b]
        preds.append(ur[a[keep]])
        gts.append(uc[b[keep]])
    pred = np.concatenate(preds) if preds else np.empty(0, np.int64)
    gt = np.concatenate(gts) if gts else np.empty(0, np.int64)
    # Unmatched predictions fall back to their best ignored ground truth (ties: lower index).
    side = ~main & ~np.isin(rows, pred)
    sr, sc, sv = rows[side], cols[side], vals[side]
    first = np.lexsort((sc, -sv.astype(np.float64), sr))
    sr, sc = sr[first], sc[first]
    head = np.ones(sr.size, np.bool_)
    head[1:] = sr[1:] != sr[:-1]
    return np.concatenate([pred, sr[head]]), np.concatenate([gt, sc[head]])


def match_boxes(
    pred_boxes: ArrayLike,
    pred_scores: ArrayLike,
    gt_boxes: ArrayLike,
    iou_threshold: float,
    *,
    method: Literal["greedy", "hungarian"] = "greedy",
    gt_ignore: ArrayLike | None = None,
    fmt: Literal["xyxy", "xywh", "cxcywh"] = "xyxy",
    offset: float = 0,
    dtype: DTypeLike = None,
    validate: bool = True,
) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """Match predictions to ground-truth boxes with IoU at or above ``iou_threshold``.

    ``method='greedy'`` is COCO's evaluation rule: predictions in decreasing score
    order (ties: lower index first), each to its highest-IoU ground truth that is
    still free (ties: lower index).  ``method='hungarian'`` maximises the total IoU
    over the matched pairs (``scipy.optimize.linear_sum_assignment`` on each
    connected group of eligible pairs); it may match fewer pairs than greedy.

    Parameters
    ----------
    pred_boxes : array_like, shape (N, 4)
    pred_scores : array_like, shape (N,)
        Scores (NaN raises ``ValueError``); they only order the greedy rule and the
        output.
    gt_boxes : array_like, shape (M, 4)
    iou_threshold : float in [0, 1]
        A pair is eligible when its IoU is ``>= iou_threshold`` (COCO's rule; the
        IoU, of the compute dtype, is compared exactly with the float64 threshold).
        At 0 every pair is eligible, and the join compares every pair.
    method : {'greedy', 'hungarian'}, default 'greedy'
    gt_ignore : array_like of bool, shape (M,), optional
        COCO's ``iscrowd``/ignore flags: an ignored ground truth is matched only by
        predictions that match no free, not ignored one, and by any number of them
        (see the module's notes).
    fmt : {'xyxy', 'xywh', 'cxcywh'}, default 'xyxy'
    offset : {0, 1}, default 0
    dtype : float32 or float64, optional
        Compute dtype of the IoU (default: the dtype policy of :func:`fastiou.box_iou`).
    validate : bool, default True
        Check the boxes (``ValueError`` naming the first bad row).

    Returns
    -------
    pred_indices, gt_indices : ndarray of int64
        The matched pairs, in decreasing score order of the predictions.  Every
        not ignored ground truth appears at most once.

    Examples
    --------
    >>> import fastiou
    >>> gt = [[0, 0, 10, 10], [20, 0, 30, 10]]
    >>> pred = [[0, 0, 10, 9], [1, 0, 11, 10], [20, 0, 30, 12]]
    >>> fastiou.match_boxes(pred, [0.9, 0.8, 0.7], gt, 0.5)
    (array([0, 2]), array([0, 1]))
    >>> fastiou.match_boxes(pred, [0.9, 0.8, 0.7], gt, 0.5, gt_ignore=[True, False])
    (array([0, 1, 2]), array([0, 0, 1]))
    """
    _validate.check_choice(method, "method", MATCH_METHODS)
    threshold = _validate.check_real(iou_threshold, "iou_threshold", 0.0, 1.0)
    _, c1, c2, _ = sparse._prepare(pred_boxes, gt_boxes, "iou", fmt, offset, dtype, validate, "auto",
                                   names=("pred_boxes", "gt_boxes"))
    n, m = c1.shape[1], c2.shape[1]
    scores = _validate.as_scores(pred_scores, "pred_scores", n).astype(np.float64)
    ignore = _validate.as_box_flags(gt_ignore, "gt_ignore", m)
    # IoU >= threshold  <=>  IoU > the float64 just below it (float32 IoUs are float64 values)
    pairs = sparse.join(IOU, c1, c2, float(np.nextafter(threshold, -np.inf)))
    order = np.argsort(-scores, kind="stable")
    if method == "greedy":
        module, _ = backends.select("numba", n, family="sparse")
        matched: tuple[NDArray[np.int64], NDArray[np.int64]] = module.greedy_match(
            pairs.indptr, pairs.indices, pairs.data, order, ignore)
        return matched
    pred, gt = _hungarian(pairs, ignore)
    rank = np.empty(n, np.int64)
    rank[order] = np.arange(n)
    by_rank = np.argsort(rank[pred], kind="stable")
    return pred[by_rank].astype(np.int64), gt[by_rank].astype(np.int64)
