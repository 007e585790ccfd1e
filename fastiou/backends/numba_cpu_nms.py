"""Numba CPU kernels of the NMS family: greedy (batched) NMS, soft-NMS, weighted boxes fusion.

The backend interface (shared with ``cython_nms``) is the plain functions at the
bottom: ``nms``, ``batched_nms``, ``soft_nms`` and ``wbf``.  They take the
per-box columns ``(8, N)`` of :mod:`fastiou._columns` and validated scores and
labels, and contain no validation.

Greedy NMS need not compare every pair.  With boxes sorted by x1, the IoU of two
boxes is at most their 1-D IoU along x, so a box b right of a kept box a has IoU
<= (x2_a - x1_b) / w_a, and a box b left of it has IoU <= (x2_b - x1_a) / w_b and
IoU <= w_a / w_b: a kept box only scans the x-sorted candidates of a window
(:func:`window`).  The window is widened by a margin far above the rounding error
of the computed IoU, so the kept indices are exactly the all-pairs greedy loop's.
Every box of a class is either live or dead (suppressed, or already decided), so
the scan needs no rank comparison, runs branch-free and vectorised, and the dead
boxes are compacted away once they are half of the class.  Small inputs take one
compiled call that compares all pairs instead (:data:`SMALL`).  The orders (by
score, by class, by x1) come from :mod:`._nms_order`, shared with ``cython_nms``.
"""

from __future__ import annotations

import math

import numpy as np
from numba import prange, uint64

from .._config import SMALL_NMS, njit, serial_and_parallel
from .._formulas import DIOU, IOU
from .._validate import _first_nan
from . import _nms_order as order
from .numba_cpu import claim, fill_columns, filled, metric, new_counter, workers

#: Relative widening of the search window.  The computed IoU is within a few ulp
#: (float32: ~1e-6 relative) of the exact IoU of the stored coordinates.
WINDOW_MARGIN = 1e-5
#: soft-NMS methods.
SOFT_LINEAR, SOFT_GAUSSIAN, SOFT_HARD = 0, 1, 2


@njit(inline="always")
def window(ax1, ax2, threshold, wmax):
    """``(left, right)``: a box b with ``IoU(a, b) > threshold`` has ``left <= x1_b <= right``.

    ``wmax`` is the widest box of the class.  Float64 bounds, widened by
    ``WINDOW_MARGIN`` and a few ulp of the coordinates; unbounded where the
    threshold is not positive (DIoU exceeds a negative threshold for disjoint boxes).
    """
    if not threshold > 0.0:
        return -np.inf, np.inf
    t = threshold * (1.0 - WINDOW_MARGIN)
    x1 = np.float64(ax1)
    x2 = np.float64(ax2)
    w = x2 - x1
    slack = 1e-14 * (abs(x1) + abs(x2) + wmax)
    return x1 - (1.0 - t) * min(wmax, w / t) - slack, x2 - t * w + slack


@njit(inline="always")
def overlap_window(ax1, ax2, wmax):
    """``(left, right)``: a box b that overlaps a (IoU > 0) has ``left <= x1_b <= right``."""
    x1 = np.float64(ax1)
    x2 = np.float64(ax2)
    slack = 1e-14 * (abs(x1) + abs(x2) + wmax)
    return x1 - wmax - slack, x2 + slack


@njit(inline="always")
def _widest(c, lo, hi):
    wmax = 0.0
    for p in range(lo, hi):
        wmax = max(wmax, np.float64(c[2, p]) - np.float64(c[0, p]))
    return wmax


@njit(inline="always")
def _suppress(code, c, p, q0, q1, threshold, dead, hit, one):
    """Mark dead the boxes at positions ``[q0, q1)`` whose metric with box p exceeds the threshold.

    Returns how many were live.  Vectorised: branch-free (dead boxes are re-marked
    harmlessly), in two passes through the scratch ``hit`` (a loop that reads and
    writes ``dead`` while reading the columns does not vectorise), with unsigned
    positions (a signed index costs a negative-index fix-up that turns loads into
    gathers).  CIoU's constant is unused by IoU and DIoU: ``one`` fills it.
    """
    ax1, ay1, ax2, ay2 = c[0, p], c[1, p], c[2, p], c[3, p]
    aarea, acx2, acy2, aangle = c[4, p], c[5, p], c[6, p], c[7, p]
    bx1, by1, bx2, by2 = c[0], c[1], c[2], c[3]
    barea, bcx2, bcy2, bangle = c[4], c[5], c[6], c[7]
    for q in range(uint64(q0), uint64(q1)):
        hit[q] = metric(code, ax1, ay1, ax2, ay2, aarea, acx2, acy2, aangle,
                        bx1[q], by1[q], bx2[q], by2[q], barea[q], bcx2[q], bcy2[q], bangle[q],
                        one, one) > threshold
    newly = 0
    for q in range(uint64(q0), uint64(q1)):
        newly += hit[q] > dead[q]  # newly dead
        dead[q] = dead[q] | hit[q]
    return newly


@njit(inline="always")
def _compact(c, orig, rank_at, pos_of_rank, dead, lo, end):
    """Drop the dead boxes from the x-sorted positions ``[lo, end)``; returns the new end.

    Keeps the survivors in x order and updates ``pos_of_rank`` (-1 for the dead).
    """
    k = lo
    for p in range(lo, end):
        r = rank_at[p]
        if dead[p]:
            pos_of_rank[r] = -1
            continue
        if k != p:
            for row in range(8):
                c[row, k] = c[row, p]
            orig[k] = orig[p]
            rank_at[k] = r
            dead[k] = False
        pos_of_rank[r] = k
        k += 1
    return k


@njit(inline="always")
def _first_above(x, lo, hi, bound):
    """The first position in ``[lo, hi)`` of sorted ``x`` with ``x > bound`` (or hi)."""
    while lo < hi:
        mid = (lo + hi) >> 1
        if x[mid] > bound:
            hi = mid
        else:
            lo = mid + 1
    return lo


@njit(inline="always")
def first_at_least(x, lo, hi, bound):
    """The first position in ``[lo, hi)`` of sorted ``x`` with ``x >= bound`` (or hi)."""
    while lo < hi:
        mid = (lo + hi) >> 1
        if x[mid] >= bound:
            hi = mid
        else:
            lo = mid + 1
    return lo


#: Dead boxes are compacted away once they are half of at least this many positions.
COMPACT_MIN = 256


@njit(inline="always")
def _greedy(code, c, orig, rank_at, lo, hi, pos_of_rank, dead, hit, threshold, max_output, kept, one):
    """Greedy NMS of the x-sorted positions ``[lo, hi)`` (one class).

    ``pos_of_rank[r]`` (r in ``[lo, hi)``) is the position of the class's
    (r - lo)-th best box and ``orig[p]`` the input index of the box at position p;
    marks ``kept[orig[p]]``.  Decided boxes (kept or suppressed) are all dead, and
    are compacted away when they fill half the class's positions, so that the
    scans read mostly live boxes.  ``c``, ``orig`` and ``pos_of_rank`` are reordered.
    """
    wmax = _widest(c, lo, hi)
    for r in range(lo, hi):
        rank_at[pos_of_rank[r]] = r
    end = hi
    n_dead = 0
    count = 0
    for r in range(lo, hi):
        if count == max_output:
            break
        p = pos_of_rank[r]
        if p < 0 or dead[p]:
            continue
        dead[p] = True  # decided: later (lower-ranked) boxes never look at it
        kept[orig[p]] = True
        count += 1
        x1 = c[0]
        left, right = window(x1[p], c[2, p], threshold, wmax)
        n_dead += 1 + _suppress(code, c, p, p + 1, _first_above(x1, p + 1, end, right), threshold,
                                dead, hit, one)
        n_dead += _suppress(code, c, p, first_at_least(x1, lo, p, left), p, threshold, dead, hit, one)
        if n_dead + n_dead > end - lo and end - lo >= COMPACT_MIN:
            end = _compact(c, orig, rank_at, pos_of_rank, dead, lo, end)
            n_dead = 0


@njit(inline="always")
def _greedy_all_pairs(code, c, lo, hi, dead, hit, threshold, max_output, kept, one):
    """Greedy NMS of positions ``[lo, hi)`` already in score order, comparing every later box.

    For small inputs: cheaper than sorting by x1.
    """
    count = 0
    for p in range(lo, hi):
        if count == max_output:
            break
        if dead[p]:
            continue
        kept[p] = True
        count += 1
        _suppress(code, c, p, p + 1, hi, threshold, dead, hit, one)


@njit
def _class_segments(labels, order):
    """Start offsets (and the end) of the runs of equal ``labels[order]``."""
    starts = [0]
    for i in range(1, order.shape[0]):
        if labels[order[i]] != labels[order[i - 1]]:
            starts.append(i)
    starts.append(order.shape[0])
    return np.array(starts, dtype=np.int64)


#: Up to this many boxes, (batched) NMS runs in one compiled call that sorts with
#: Numba and compares all pairs of a class (see fastiou._config.SMALL_NMS).
SMALL = SMALL_NMS


@njit
def _small(code, cols, scores, labels, has_labels, use_score_threshold, score_threshold,
           threshold, max_output, one):
    """(Batched) NMS of up to :data:`SMALL` boxes in one call: the interface's arguments."""
    n = cols.shape[1]
    cand = np.flatnonzero(scores > score_threshold) if use_score_threshold else np.arange(n)
    m = cand.shape[0]
    by_score = cand[np.argsort(-scores[cand], kind="mergesort")]  # stable: ties by index
    if has_labels:
        by_class = by_score[np.argsort(labels[by_score], kind="mergesort")]
        seg = _class_segments(labels, by_class)
    else:
        by_class = by_score
        seg = np.array([0, m], dtype=np.int64)
    c = np.empty((8, m), cols.dtype)
    for p in range(m):
        for k in range(8):
            c[k, p] = cols[k, by_class[p]]
    dead = np.zeros(m, np.bool_)
    hit = np.empty(m, np.bool_)
    kept = np.zeros(m, np.bool_)
    for g in range(seg.shape[0] - 1):
        if code == IOU:
            _greedy_all_pairs(IOU, c, seg[g], seg[g + 1], dead, hit, threshold, max_output, kept, one)
        else:
            _greedy_all_pairs(DIOU, c, seg[g], seg[g + 1], dead, hit, threshold, max_output, kept, one)
    if not has_labels:
        return by_class[kept]  # already by decreasing score
    mask = np.zeros(n, np.bool_)
    mask[by_class[kept]] = True
    result = by_score[mask[by_score]]
    return result if max_output < 0 else result[:max_output]


def _greedy_classes(code, c, orig, seg, pos_of_rank, threshold, max_output, one, kept, counter):
    """Greedy NMS of each class of the x-sorted columns ``c``; marks ``kept`` (input indices).

    ``c``, ``orig`` (the input index at each position) and ``pos_of_rank`` are
    scratch: the kernel reorders them.
    """
    m = c.shape[1]
    dead = filled(m, False)
    hit = np.empty(m, np.bool_)
    rank_at = np.empty(m, np.int64)
    n_groups = seg.shape[0] - 1
    for _ in prange(workers(n_groups, 1)):  # classes differ in cost: one per claim
        g = claim(counter, 1)
        while g < n_groups:
            # max_output also caps each class: the overall best max_output has at most that many.
            if code == IOU:
                _greedy(IOU, c, orig, rank_at, seg[g], seg[g + 1], pos_of_rank, dead, hit, threshold,
                        max_output, kept, one)
            else:
                _greedy(DIOU, c, orig, rank_at, seg[g], seg[g + 1], pos_of_rank, dead, hit, threshold,
                        max_output, kept, one)
            g = claim(counter, 1)


_greedy_kernels = serial_and_parallel(_greedy_classes)


# ------------------------------------------------------------------------------ soft-NMS
# The best live box is found through blocks of about sqrt(n) x-sorted positions:
# ``bound[j]`` is at least the score of every live box of block j (decays only lower
# scores, so a decayed or dropped box leaves the bound as it is).  The block of
# largest bound is rescanned, and its bound made exact, until that bound is exact:
# it is then the best score.  A decay costs nothing; a pick costs O(sqrt n).  (A
# negative score rises when decayed: its block's bound is raised at once.)


@njit(inline="always")
def _block_best(s, live, orig, a, b):
    """(score, position) of the best live box of positions ``[a, b)``; (-inf, -1) if none.

    Ties go to the lower input index ``orig``.
    """
    best = -np.inf
    pos = -1
    for q in range(a, b):
        if live[q] and (s[q] > best or (s[q] == best and (pos < 0 or orig[q] < orig[pos]))):
            best = s[q]
            pos = q
    return best, pos


@njit
def _pick(s, live, orig, bound, lo, hi, size):
    """The live box of highest score among positions ``[lo, hi)`` (ties: lower input index), or -1.

    Blocks of ``size`` positions; their bounds are ``bound[lo:lo + n_blocks]``.
    """
    n_blocks = (hi - lo + size - 1) // size
    if n_blocks == 0:
        # An empty class: ``bound[lo]`` is the next class's (writing it lost boxes
        # when the classes ran in parallel).
        return -1
    while True:
        j = lo
        for k in range(lo + 1, lo + n_blocks):
            if bound[k] > bound[j]:
                j = k
        v = bound[j]
        if v == -np.inf:
            return -1  # no live box left (scores below the finite threshold are gone)
        a = lo + (j - lo) * size
        best, p = _block_best(s, live, orig, a, min(hi, a + size))
        bound[j] = best
        if best == v:
            # v is the best score: look for ties in the other blocks bounded by v
            for k in range(lo, lo + n_blocks):
                if k != j and bound[k] == v:
                    a = lo + (k - lo) * size
                    other, q = _block_best(s, live, orig, a, min(hi, a + size))
                    bound[k] = other
                    if other == v and orig[q] < orig[p]:
                        p = q
            return p


@njit(inline="always")
def soft_weight(method, iou, threshold, sigma, one):
    """mmcv's decay: linear ``1 - iou`` and hard ``0`` where iou >= threshold; gaussian always."""
    if method == SOFT_GAUSSIAN:
        # exp(-0) is exactly 1: skip the exponential for disjoint boxes, the common case
        return math.exp(-(iou * iou) / sigma) if iou > 0 else one
    if iou >= threshold:
        return one - iou if method == SOFT_LINEAR else iou - iou
    return one


@njit(inline="always")
def soft_window(method, ax1, ax2, threshold, wmax):
    """The x1 window of the boxes a picked box at [ax1, ax2] can decay.

    A positive threshold bounds the linear and hard decays to the NMS window; the
    linear and gaussian weights are exactly 1 at IoU 0, so otherwise the window of
    overlapping boxes; hard decay with a threshold <= 0 reaches every box.
    """
    if method != SOFT_GAUSSIAN and threshold > 0.0:
        return window(ax1, ax2, threshold, wmax)
    if method == SOFT_HARD:
        return -np.inf, np.inf
    return overlap_window(ax1, ax2, wmax)


@njit(inline="always")
def _decay_span(method, c, p, q0, q1, s, live, bound, lo, size, threshold, sigma, score_threshold,
                one, ious, near):
    """Decay the live boxes at positions ``[q0, q1)`` by the picked box p.

    A vectorised pass computes the IoUs (into ``ious``, at the positions), a
    branch-free pass lists the live boxes the decay can change (``near``; the
    scratch starts at q0), then only those are decayed: a box of IoU 0 keeps its
    score (weight exactly 1), except under hard decay with a threshold <= 0.
    """
    ax1, ay1, ax2, ay2, aarea = c[0, p], c[1, p], c[2, p], c[3, p], c[4, p]
    bx1, by1, bx2, by2, barea = c[0], c[1], c[2], c[3], c[4]
    for q in range(uint64(q0), uint64(q1)):
        # IoU reads no centre or angle: ``one`` fills those arguments.
        ious[q] = metric(IOU, ax1, ay1, ax2, ay2, aarea, one, one, one,
                         bx1[q], by1[q], bx2[q], by2[q], barea[q], one, one, one, one, one)
    floor = threshold if method == SOFT_HARD else np.inf  # hard: every iou >= threshold
    k = q0
    for q in range(uint64(q0), uint64(q1)):
        near[k] = q
        k += ((ious[q] > 0) | (ious[q] >= floor)) & live[q]
    for j in range(q0, k):
        q = near[j]
        w = soft_weight(method, ious[q], threshold, sigma, one)
        if w != one:
            s[q] = s[q] * w
            if s[q] < score_threshold:
                live[q] = False
            else:  # a negative score rises when decayed: raise its block's bound
                blk = lo + (q - lo) // size
                bound[blk] = max(bound[blk], s[q])


@njit
def _soft_group(method, c, orig, lo, hi, s, live, bound, ious, near, threshold, sigma,
                score_threshold, max_output, picked, one):
    """Soft-NMS of the x-sorted positions ``[lo, hi)`` (one class); marks ``picked``."""
    wmax = _widest(c, lo, hi)
    size = max(16, int(math.sqrt(hi - lo)))
    for j in range((hi - lo + size - 1) // size):
        a = lo + j * size
        bound[lo + j] = _block_best(s, live, orig, a, min(hi, a + size))[0]
    count = 0
    x1 = c[0]
    while count != max_output:
        p = _pick(s, live, orig, bound, lo, hi, size)
        if p < 0:
            break
        live[p] = False
        picked[p] = True
        count += 1
        left, right = soft_window(method, x1[p], c[2, p], threshold, wmax)
        _decay_span(method, c, p, p + 1, _first_above(x1, p + 1, hi, right), s, live, bound, lo, size,
                    threshold, sigma, score_threshold, one, ious, near)
        _decay_span(method, c, p, first_at_least(x1, lo, p, left), p, s, live, bound, lo, size,
                    threshold, sigma, score_threshold, one, ious, near)


def _soft_classes(method, c, orig, seg, s, threshold, sigma, score_threshold, max_output, one, counter):
    """Soft-NMS of each class of the x-sorted columns ``c``, decaying the scores ``s``.

    ``orig`` are the positions' input indices (ties in score go to the lower one).
    Returns the picked positions' mask.
    """
    m = c.shape[1]
    live = filled(m, True)
    bound = np.empty(m, s.dtype)
    ious = np.empty(m, s.dtype)
    near = np.empty(m, np.int64)
    picked = filled(m, False)
    n_groups = seg.shape[0] - 1
    for _ in prange(workers(n_groups, 1)):  # one class per claim
        g = claim(counter, 1)
        while g < n_groups:
            _soft_group(method, c, orig, seg[g], seg[g + 1], s, live, bound, ious, near, threshold, sigma,
                        score_threshold, max_output, picked, one)
            g = claim(counter, 1)
    return picked


_soft_kernels = serial_and_parallel(_soft_classes)


# ---------------------------------------------------------------- weighted boxes fusion


def _wbf_classes(cols, scores, by_class, seg, iou_threshold, one, counter):
    """Cluster the boxes of each class and fuse each cluster (ensemble-boxes' algorithm).

    ``by_class`` lists each class's boxes by decreasing score.  In that order, a box
    joins the cluster whose fused box it overlaps most with IoU > ``iou_threshold``
    (the earliest cluster on ties), or starts a new one.  A fused box is the
    score-weighted mean of its members.  Returns each box's cluster (numbered by
    class, then creation), the fused boxes ``(K, 4)`` and each cluster's score sum.
    """
    n = cols.shape[1]
    n_groups = seg.shape[0] - 1
    local = np.empty(n, np.int64)  # a box's cluster slot, in [lo, hi) of its class
    n_clusters = filled(n_groups, np.int64(0))
    fused = np.empty((5, n), cols.dtype)  # x1, y1, x2, y2, area of each slot
    sums = np.empty((5, n), cols.dtype)  # score-weighted x1, y1, x2, y2 and the score sum
    for _ in prange(workers(n_groups, 1)):  # one class per claim
        g = claim(counter, 1)
        while g < n_groups:
            lo, hi = seg[g], seg[g + 1]
            end = lo
            for i in range(lo, hi):
                b = by_class[i]
                best = -1
                best_iou = iou_threshold
                for k in range(lo, end):
                    # IoU reads no centre or angle: ``one`` fills those arguments.
                    iou = metric(IOU, cols[0, b], cols[1, b], cols[2, b], cols[3, b], cols[4, b],
                                 one, one, one, fused[0, k], fused[1, k], fused[2, k], fused[3, k],
                                 fused[4, k], one, one, one, one, one)
                    if iou > best_iou:
                        best_iou = iou
                        best = k
                sc = scores[b]
                if best < 0:  # a new cluster: its fused box is the box itself
                    best = end
                    end += 1
                    for r in range(5):
                        fused[r, best] = cols[r, b]
                    for r in range(4):
                        sums[r, best] = sc * cols[r, b]
                    sums[4, best] = sc
                else:
                    for r in range(4):
                        sums[r, best] += sc * cols[r, b]
                    sums[4, best] += sc
                    for r in range(4):
                        fused[r, best] = sums[r, best] / sums[4, best]
                    fused[4, best] = (fused[2, best] - fused[0, best]) * (fused[3, best] - fused[1, best])
                local[b] = best
            n_clusters[g] = end - lo
            g = claim(counter, 1)
    first = filled(n_groups + 1, np.int64(0))
    for g in range(n_groups):
        first[g + 1] = first[g] + n_clusters[g]
    cluster = np.empty(n, np.int64)
    boxes = np.empty((first[n_groups], 4), cols.dtype)
    conf = np.empty(first[n_groups], cols.dtype)
    counter[0] = 0  # the first loop's region has ended: its counter starts over
    for _ in prange(workers(n_groups, 1)):
        g = claim(counter, 1)
        while g < n_groups:
            lo = seg[g]
            for i in range(lo, seg[g + 1]):
                b = by_class[i]
                cluster[b] = first[g] + local[b] - lo
            for k in range(n_clusters[g]):
                for r in range(4):
                    boxes[first[g] + k, r] = fused[r, lo + k]
                conf[first[g] + k] = sums[4, lo + k]
            g = claim(counter, 1)
    return cluster, boxes, conf


_wbf_kernels = serial_and_parallel(_wbf_classes)


# ----------------------------------------------------------------------- the interface

_NO_LABELS = np.empty(0, np.int64)


_FAST_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


def small_nms(code, boxes, scores, fmt, offset, check, threshold, limit):
    """The twin of the Cython extension's ``small_nms`` (see there): the kept indices, or
    None when the general path must run."""
    if not (code in (IOU, DIOU) and type(boxes) is np.ndarray and type(scores) is np.ndarray
            and fmt >= 0 and type(offset) is int and offset in (0, 1) and math.isfinite(threshold)
            and boxes.dtype in _FAST_DTYPES and boxes.ndim == 2 and boxes.shape[1] == 4
            and boxes.flags.aligned and 0 < boxes.shape[0] <= limit
            and scores.dtype in _FAST_DTYPES and scores.shape == boxes.shape[:1] and scores.flags.aligned
            and _first_nan(scores) < 0):
        return None
    cols = np.empty((8, boxes.shape[0]), boxes.dtype)
    if fill_columns(boxes, fmt, offset, check, False, cols) != -1:
        return None
    t = order.threshold_below(threshold, cols.dtype)
    return _small(code, cols, scores, _NO_LABELS, False, False, 0.0, t, -1, cols.dtype.type(1))


def nms(code, cols, scores, score_threshold, threshold, max_output, one, parallel):
    """Indices kept by greedy NMS with metric ``code`` (IOU or DIOU), best first.

    ``scores`` float32 or float64; ``score_threshold`` None or a float (candidates: score >
    it); ``threshold`` in the dtype of ``cols``, rounded down (``iou > threshold``
    is then the same test as against the float64 value); ``max_output`` -1 for all.
    One class is sequential work: ``parallel`` is unused.
    """
    return batched_nms(code, cols, scores, None, score_threshold, threshold, max_output, one, False)


def batched_nms(code, cols, scores, labels, score_threshold, threshold, max_output, one, parallel):
    """:func:`nms` within each class of ``labels`` (int64, or None for one class)."""
    n = cols.shape[1]
    if n <= SMALL:
        use = score_threshold is not None
        return _small(code, cols, scores, _NO_LABELS if labels is None else labels, labels is not None,
                      use, score_threshold if use else 0.0, threshold, max_output, one)
    lay = order.layout(cols[0], scores, labels, order.candidates(scores, score_threshold))
    kept = np.zeros(n, np.bool_)
    _greedy_kernels[parallel](code, np.take(cols, lay.by_x, axis=1), lay.by_x, lay.seg, lay.pos_of_rank,
                              threshold, max_output, one, kept, new_counter())
    return order.kept_by_score(lay.by_score, kept, max_output)


def soft_nms(method, cols, scores, labels, threshold, sigma, score_threshold, max_output, one, parallel):
    """(indices, decayed scores) of soft-NMS within each class, by decreasing decayed score.

    ``scores``, ``threshold``, ``sigma`` and ``score_threshold`` in the dtype of
    ``cols``; boxes scored below ``score_threshold`` are dropped up front.
    """
    lay = order.layout(cols[0], scores, labels, np.flatnonzero(scores >= score_threshold))
    c = np.take(cols, lay.by_x, axis=1)
    s = scores[lay.by_x]
    picked = _soft_kernels[parallel](method, c, lay.by_x, lay.seg, s, threshold, sigma,
                                     score_threshold, max_output, one, new_counter())
    return order.picks_by_score(lay.by_x[picked], s[picked], max_output)


def wbf(cols, scores, labels, iou_threshold, one, parallel):
    """(cluster of each box, fused boxes (K, 4), score sum of each cluster); see :func:`_wbf_classes`.

    ``iou_threshold`` in the dtype of ``cols``, rounded down like :func:`nms`'s.
    """
    lay = order.layout(cols[0], scores, labels, None, with_x=False)
    return _wbf_kernels[parallel](cols, scores, lay.by_class, lay.seg, iou_threshold, one, new_counter())
