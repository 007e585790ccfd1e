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
from .._rotated_formulas import (AREA, CX, CY, EX, EY, HH, HW, IHH, IHW, MARGIN_EPS, N_COLUMNS, SCRATCH, UX,
                                 UY, VX, VY)
from .numba_cpu import MAX_WORKERS, claim, new_counter, workers
from .numba_cpu_nms import first_at_least

R = _rotated_formulas.build(njit(inline="always"))
metric = R.metric
coarse_may_exceed = R.coarse_may_exceed
separated = R.separated
may_exceed = R.may_exceed

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
    metric (4x faster on scattered boxes, where few meet).  Where many meet (clustered
    boxes), a second vectorised pass unmarks the pairs that a side separates (the metric's
    next test, 0 too): 10% faster there, and no slower on scattered boxes, where it is
    skipped."""
    acx, acy, aux, auy, avx, avy = c1[0, i], c1[1, i], c1[2, i], c1[3, i], c1[4, i], c1[5, i]
    aarea, aex, aey = c1[6, i], c1[7, i], c1[8, i]
    m = out.shape[1]
    if code != GIOU:  # (slices indexed from 0: an offset index defeats the vectoriser)
        end = first + m
        bcx, bcy, bex, bey = c2[CX, first:end], c2[CY, first:end], c2[EX, first:end], c2[EY, first:end]
        bux, buy, bvx, bvy = c2[UX, first:end], c2[UY, first:end], c2[VX, first:end], c2[VY, first:end]
        n_meet = 0
        for j in range(m):
            meets[j] = (abs(acx - bcx[j]) <= aex + bex[j]) & (abs(acy - bcy[j]) <= aey + bey[j])
            n_meet += meets[j]
        if 8 * n_meet > m:  # many meet (clustered boxes): unmark those a side separates too
            for j in range(m):
                meets[j] = meets[j] & (not separated(acx - bcx[j], acy - bcy[j], aux, auy, avx, avy,
                                                     bux[j], buy[j], bvx[j], bvy[j]))
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
def _greedy(c, by_score, rank, labels, has_labels, threshold, all_pairs, max_output, half, margin, buf, kept):
    """Greedy NMS over the candidates ``by_score`` (by decreasing score, ties by index).

    A kept box suppresses the later boxes (of its class) whose IoU with it is
    strictly above ``threshold``.  Only boxes whose bounding boxes meet can have a
    positive IoU: unless ``all_pairs`` (a negative threshold), a kept box scans the
    candidates whose bounding box's left edge lies within its reach, found by binary
    search in the candidates sorted by that edge (``rank``: candidate ``t`` is
    ``by_score[rank[t]]``).  The tests are those of the shared formula ``suppresses``
    (which the CUDA kernel calls), each in its own pass: a vectorised scan marks the
    live candidates (of its class) whose bounding boxes meet the kept box's and that
    ``coarse_may_exceed`` leaves open; a second pass asks ``may_exceed`` of the marked
    ones; only those it leaves open are clipped.  The candidates are compacted whenever
    half of them are suppressed or visited.
    """
    m = by_score.shape[0]
    # the candidates in that order: their left edges (ascending), their columns (laid out
    # by candidate: the bound and the clipping read all of one candidate's), the scan's fields
    xs = np.empty(m, c.dtype)
    box = np.empty((m, N_COLUMNS), c.dtype).T
    lab = np.empty(m, np.int64)
    pos = np.empty(m, np.int64)  # candidate t of score rank r
    for t in range(m):
        q = by_score[rank[t]]
        xs[t] = c[CX, q] - c[EX, q]
        for r in range(N_COLUMNS):
            box[r, t] = c[r, q]
        lab[t] = labels[q] if has_labels else 0
        pos[rank[t]] = t
    cx, cy, ex, ey, area = box[CX].copy(), box[CY].copy(), box[EX].copy(), box[EY].copy(), box[AREA].copy()
    reach = box[HW] + box[HH]
    live = np.ones(m, np.bool_)  # not yet suppressed or visited
    flags = np.zeros(8 * (m // 8 + 1), np.uint8)  # the scan's marks, read back eight at a time
    words = flags.view(np.uint64)
    hits = np.empty(m, np.int64)  # the marked candidates
    marked = np.empty((N_COLUMNS, m), c.dtype)  # their columns
    open_ = np.empty(m, np.bool_)  # of those, the ones the bound leaves to the clipping
    wmax = c.dtype.type(0)
    for k in range(m):
        wmax = max(wmax, c[EX, by_score[k]] + c[EX, by_score[k]])
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
                    for a in (xs, cx, cy, ex, ey, area, reach):
                        a[n_live] = a[t]
                    rank[n_live], lab[n_live], live[n_live] = rank[t], lab[t], True
                    for r in range(N_COLUMNS):
                        box[r, n_live] = box[r, t]
                    pos[rank[t]] = n_live
                    n_live += 1
            size, gone = n_live, 0
        pcx, pcy, pex, pey, plab = c[CX, p], c[CY, p], c[EX, p], c[EY, p], labels[p] if has_labels else 0
        pux, puy, pvx, pvy, parea = c[UX, p], c[UY, p], c[VX, p], c[VY, p], c[AREA, p]
        phw, phh, pihw, pihh = c[HW, p], c[HH, p], c[IHW, p], c[IHH, p]
        preach = phw + phh
        if all_pairs:
            lo, hi = 0, size
        else:  # q's box meets p's when left_q in [left_p - wmax, right_p] (with rounding slack)
            slack = (abs(pcx) + pex + wmax) * 1e-6
            lo = first_at_least(xs, 0, size, pcx - pex - wmax - slack)
            hi = first_at_least(xs, 0, size, pcx + pex + slack)
            while hi < size and xs[hi] <= pcx + pex + slack:
                hi += 1
        # vectorised: the tests of suppresses that need no clipping (on slices indexed from 0:
        # an offset index defeats the vectoriser)
        qcx, qcy, qex, qey, qarea, qreach = cx[lo:hi], cy[lo:hi], ex[lo:hi], ey[lo:hi], area[lo:hi], reach[lo:hi]
        qlive, qlab = live[lo:hi], lab[lo:hi]
        for j in range(hi - lo):
            dcx, dcy = pcx - qcx[j], pcy - qcy[j]
            flags[j] = (qlive[j] & (qlab[j] == plab)
                        & (all_pairs | ((abs(dcx) <= pex + qex[j]) & (abs(dcy) <= pey + qey[j])
                                        & coarse_may_exceed(threshold, margin, half, dcx, dcy, pex, pey, parea,
                                                            preach, qex[j], qey[j], qarea[j], qreach[j]))))
        n_hits = 0
        for w in range((hi - lo + 7) // 8):  # few marks: skip eight unmarked at once
            if words[w] != 0:
                for j in range(8 * w, min(8 * w + 8, hi - lo)):
                    hits[n_hits] = lo + j
                    n_hits += flags[j]
                    flags[j] = 0
        if not all_pairs:  # the bound without clipping, for the marked candidates
            for h in range(n_hits):  # (their columns gathered, so that the bound vectorises)
                t = hits[h]
                for r in range(N_COLUMNS):
                    marked[r, h] = box[r, t]
            mcx, mcy, mux, muy, mvx, mvy = (marked[CX, :n_hits], marked[CY, :n_hits], marked[UX, :n_hits],
                                            marked[UY, :n_hits], marked[VX, :n_hits], marked[VY, :n_hits])
            marea, mhw, mhh, mihw, mihh = (marked[AREA, :n_hits], marked[HW, :n_hits], marked[HH, :n_hits],
                                           marked[IHW, :n_hits], marked[IHH, :n_hits])
            for h in range(n_hits):
                open_[h] = may_exceed(threshold, margin, pcx, pcy, pux, puy, pvx, pvy, parea, phw, phh, pihw, pihh,
                                      mcx[h], mcy[h], mux[h], muy[h], mvx[h], mvy[h], marea[h], mhw[h], mhh[h],
                                      mihw[h], mihh[h])
        for h in range(n_hits):
            t = hits[h]
            if all_pairs or (open_[h] and pair_metric(IOU, c, p, box, t, half, buf, 0) > threshold):
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
    # the candidates by the left edges of their bounding boxes (NumPy's sort: several times
    # faster than Numba's); candidate t is by_score[rank[t]]
    rank = np.argsort(cols[CX, by_score] - cols[EX, by_score])
    count = _greedy(cols, by_score, rank, lab, has, threshold, threshold < 0, max_output, half, margin,
                    np.empty(SCRATCH, cols.dtype), kept)
    return kept[:count]
