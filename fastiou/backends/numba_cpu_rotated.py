"""Numba CPU kernels of rotated boxes: pairwise, aligned and NMS, each with a serial twin.

The formulas are :mod:`fastiou._rotated_formulas` (the polygon clipping, written
once).  Kernels read the ``(9, N)`` columns of :mod:`fastiou._rotated_columns`
and write into a caller-given output; they contain no validation.  Each worker
of a parallel loop owns one row of a scratch array made by the caller (an array
made inside a kernel turns on reference counting in its loops).
"""

from __future__ import annotations

import numpy as np
from numba import prange

from .. import _rotated_formulas
from .._config import njit, serial_and_parallel
from .._formulas import GIOU, IOA, IOU
from .._rotated_formulas import MARGIN_EPS, N_COLUMNS, SCRATCH
from .numba_cpu import MAX_WORKERS, claim, new_counter, workers
from .numba_cpu_nms import first_at_least

R = _rotated_formulas.build(njit(inline="always"))
metric = R.metric
suppresses = R.suppresses

#: Pairs of rotated boxes per claim.
PAIR_CHUNK = 4096


@njit(inline="always")
def pair_metric(code, c1, i, c2, j, half, buf, base):
    """The metric between box ``i`` of ``c1`` and box ``j`` of ``c2``."""
    return metric(code, c1[0, i], c1[1, i], c1[2, i], c1[3, i], c1[4, i], c1[5, i], c1[6, i],
                  c1[7, i], c1[8, i],
                  c2[0, j], c2[1, j], c2[2, j], c2[3, j], c2[4, j], c2[5, j], c2[6, j], c2[7, j],
                  c2[8, j], half, buf, base)


@njit(inline="always")
def _row(code, c1, i, c2, first, half, buf, base, meets, out):
    """Row ``i`` of ``out``: box ``i`` of ``c1`` against boxes ``first, first + 1, ...`` of
    ``c2``.  Written as ``out[i, j]``: through a row view ``out[i]`` the loop reloads
    every column after each store (measured 30x slower on early exits).

    IoU and IoA are 0 where the bounding boxes do not meet: a vectorised pass marks the
    pairs whose boxes meet (``meets``, the metric's own test), and only those take the
    metric (4x faster on scattered boxes, where few meet)."""
    acx, acy, aux, auy, avx, avy = c1[0, i], c1[1, i], c1[2, i], c1[3, i], c1[4, i], c1[5, i]
    aarea, aex, aey = c1[6, i], c1[7, i], c1[8, i]
    m = out.shape[1]
    if code != GIOU:  # (slices indexed from 0: an offset index defeats the vectoriser)
        bcx, bcy, bex, bey = c2[0, first:first + m], c2[1, first:first + m], c2[7, first:first + m], \
            c2[8, first:first + m]
        for j in range(m):
            meets[j] = (abs(acx - bcx[j]) <= aex + bex[j]) & (abs(acy - bcy[j]) <= aey + bey[j])
    zero = half - half
    for j in range(m):
        if code != GIOU and not meets[j]:
            out[i, j] = zero
            continue
        k = first + j
        out[i, j] = metric(code, acx, acy, aux, auy, avx, avy, aarea, aex, aey,
                           c2[0, k], c2[1, k], c2[2, k], c2[3, k], c2[4, k], c2[5, k], c2[6, k],
                           c2[7, k], c2[8, k], half, buf, base)


def _pairwise(code, c1, c2, half, rows, out, scratch, meets, counter):
    # Batches: out is (B * rows, M), and row i meets the boxes (i // rows) * M ... of c2.
    n, m = out.shape[0], out.shape[1]
    step = max(1, PAIR_CHUNK // max(1, m))  # rows per claim
    for w in prange(workers(n, step)):
        base = w * SCRATCH
        mine = meets[w * m:(w + 1) * m]
        lo = claim(counter, step)
        while lo < n:
            for i in range(lo, min(lo + step, n)):
                first = (i // rows) * m
                if code == IOU:
                    _row(IOU, c1, i, c2, first, half, scratch, base, mine, out)
                elif code == IOA:
                    _row(IOA, c1, i, c2, first, half, scratch, base, mine, out)
                else:
                    _row(GIOU, c1, i, c2, first, half, scratch, base, mine, out)
            lo = claim(counter, step)


def _aligned(code, c1, c2, half, out, scratch, counter):
    n = c1.shape[1]
    for w in prange(workers(n, PAIR_CHUNK)):
        base = w * SCRATCH
        lo = claim(counter, PAIR_CHUNK)
        while lo < n:
            for i in range(lo, min(lo + PAIR_CHUNK, n)):
                out[i] = pair_metric(code, c1, i, c2, i, half, scratch, base)
            lo = claim(counter, PAIR_CHUNK)


_pairwise_kernels = serial_and_parallel(_pairwise)
_aligned_kernels = serial_and_parallel(_aligned)


def scratch_for(dt) -> np.ndarray:
    """``SCRATCH`` numbers per worker, flat (worker ``w`` owns ``[w * SCRATCH, (w + 1) * SCRATCH)``)."""
    return np.empty(MAX_WORKERS * SCRATCH, dt)


def pairwise(code, c1, c2, half, out, parallel, rows=None):
    """``out`` ``(B * rows, M)``: row i holds box i of ``c1`` against the ``M`` boxes of its
    batch in ``c2``, ``(i // rows) * M + j`` (``rows`` None: one batch)."""
    rows = out.shape[0] if rows is None else rows
    meets = np.empty(MAX_WORKERS * out.shape[1], np.bool_)  # a row's marks per worker
    _pairwise_kernels[parallel](code, c1, c2, half, max(rows, 1), out, scratch_for(out.dtype), meets,
                                new_counter())


def aligned(code, c1, c2, half, out, parallel):
    _aligned_kernels[parallel](code, c1, c2, half, out, scratch_for(out.dtype), new_counter())


# --- NMS ---------------------------------------------------------------------------


@njit
def _greedy(c, by_score, labels, has_labels, threshold, all_pairs, max_output, half, margin, buf, kept):
    """Greedy NMS over the candidates ``by_score`` (by decreasing score, ties by index).

    A kept box suppresses the later boxes (of its class) whose IoU with it is
    strictly above ``threshold``.  Only boxes whose bounding boxes meet can have a
    positive IoU: unless ``all_pairs`` (a negative threshold), a kept box scans the
    candidates whose bounding box's left edge lies within its reach, found by binary
    search in the candidates sorted by that edge.  The scan is branch-free: it lists
    the live candidates (of its class) whose bounding boxes meet the kept box's, by
    the metric's own test; only those are tested further (the shared formula
    ``suppresses``).  The candidates are compacted whenever half of them are
    suppressed or visited.
    """
    m = by_score.shape[0]
    left = np.empty(m, c.dtype)
    for k in range(m):
        p = by_score[k]
        left[k] = c[0, p] - c[7, p]
    rank = np.argsort(left, kind="mergesort")  # the score rank of candidate t
    xs = left[rank]
    # the candidates in that order: their columns, and the scan's fields
    box = np.empty((N_COLUMNS, m), c.dtype)
    lab = np.empty(m, np.int64)
    pos = np.empty(m, np.int64)  # candidate t of score rank r
    for t in range(m):
        q = by_score[rank[t]]
        for r in range(N_COLUMNS):
            box[r, t] = c[r, q]
        lab[t] = labels[q] if has_labels else 0
        pos[rank[t]] = t
    cx, cy, ex, ey = box[0].copy(), box[1].copy(), box[7].copy(), box[8].copy()
    live = np.ones(m, np.bool_)  # not yet suppressed or visited
    hits = np.empty(m, np.int64)
    wmax = c.dtype.type(0)
    for k in range(m):
        wmax = max(wmax, c[7, by_score[k]] + c[7, by_score[k]])
    dead = np.zeros(m, np.bool_)  # by score rank
    size = m  # entries of the candidate arrays in use
    gone = 0  # of those, the ones suppressed or visited since the last compaction
    count = 0
    for k in range(m):
        if dead[k]:
            continue
        p = by_score[k]
        kept[count] = p
        count += 1
        if count == max_output:
            break
        live[pos[k]] = False
        gone += 1
        if 2 * gone > size:  # compact: keep the live candidates
            n_live = 0
            for t in range(size):
                if live[t]:
                    for a in (xs, cx, cy, ex, ey):
                        a[n_live] = a[t]
                    rank[n_live], lab[n_live], live[n_live] = rank[t], lab[t], True
                    box[:, n_live] = box[:, t]
                    pos[rank[t]] = n_live
                    n_live += 1
            size, gone = n_live, 0
        pcx, pcy, pex, pey, plab = c[0, p], c[1, p], c[7, p], c[8, p], labels[p] if has_labels else 0
        if all_pairs:
            lo, hi = 0, size
        else:  # q's box meets p's when left_q in [left_p - wmax, right_p] (with rounding slack)
            slack = (abs(pcx) + pex + wmax) * 1e-6
            lo = first_at_least(xs, 0, size, pcx - pex - wmax - slack)
            hi = first_at_least(xs, 0, size, pcx + pex + slack)
            while hi < size and xs[hi] <= pcx + pex + slack:
                hi += 1
        n_hits = 0
        for t in range(lo, hi):  # branch-free: the bounding-box test of the metric (overlap)
            hits[n_hits] = t
            n_hits += (live[t] & (lab[t] == plab) & (all_pairs | ((abs(pcx - cx[t]) <= pex + ex[t])
                                                                  & (abs(pcy - cy[t]) <= pey + ey[t]))))
        for h in range(n_hits):
            t = hits[h]
            if all_pairs or suppresses(threshold, margin, c, p, box, t, half, buf, 0):
                dead[rank[t]] = True
                live[t] = False
                gone += 1
    return count


def nms(cols, by_score, labels, threshold, max_output):
    """Indices kept by greedy rotated NMS (of the classes ``labels``, or None), best first.

    ``by_score``: the candidates by decreasing score, ties by lower index;
    ``threshold`` in the dtype of ``cols``, rounded down; ``max_output`` -1 for all.
    """
    kept = np.empty(by_score.shape[0], np.int64)
    has = labels is not None
    lab = labels if has else np.zeros(1, np.int64)
    half = cols.dtype.type(0.5)
    margin = cols.dtype.type(MARGIN_EPS * np.finfo(cols.dtype).eps)
    count = _greedy(cols, by_score, lab, has, threshold, threshold < 0, max_output, half, margin,
                    np.empty(SCRATCH, cols.dtype), kept)
    return kept[:count]
