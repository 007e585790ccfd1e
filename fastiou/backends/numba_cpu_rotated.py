"""Numba CPU kernels of rotated boxes: pairwise, aligned and NMS, each with a serial twin.

The formulas are :mod:`fastiou._rotated_formulas` (the intersection, written
once).  Kernels read the ``(15, N)`` columns of :mod:`fastiou._rotated_columns`
and write into a caller-given output; they contain no validation.  Each worker
of a parallel loop owns one row of the scratch arrays made by the caller (an array
made inside a kernel turns on reference counting in its loops).
"""

from __future__ import annotations

import numpy as np
from numba import prange

from .. import _rotated_formulas
from .._config import njit, serial_and_parallel
from .._formulas import GIOU, IOA, IOU
from .._rotated_formulas import (AREA, COS, CX, CY, EX, EY, HH, HW, IHH, IHW, MARGIN_EPS, N_COLUMNS, SIN,
                                 UX, UY, VX, VY)
from .numba_cpu import claim, new_counter, workers
from .numba_cpu_masks import trailing_zeros
from .numba_cpu_nms import first_at_least

R = _rotated_formulas.build(njit(inline="always"))
metric = R.metric
column_metric = R.column_metric
coarse_may_exceed = R.coarse_may_exceed
may_exceed = R.may_exceed

#: Pairs of rotated boxes per claim.
PAIR_CHUNK = 4096
#: Columns of a row marked and gathered at a time (the width of a worker's scratch; not a
#: power of two: gathered rows 8 KiB apart share L1 cache sets, measured 2.4x slower).
BLOCK = 2000


@njit(inline="always")
def _row(code, c1, i, c2, first, half, flags, hits, gathered, out):
    """Row ``i`` of ``out``: box ``i`` of ``c1`` against boxes ``first, first + 1, ...`` of
    ``c2``.  Written as ``out[i, j]``: through a row view ``out[i]`` the loop reloads
    every column after each store (measured 30x slower on early exits).

    The metric is branch-free, so that a loop over pairs vectorises.  GIoU takes it for
    the whole row.  IoU and IoA are 0 where the bounding boxes do not meet: a vectorised
    pass marks the pairs whose boxes meet (the metric's own test), their columns are
    gathered (``flags``, ``hits``, ``gathered``: the worker's scratch), and only those take
    the metric (2x faster on clustered boxes, where 17% meet, than the metric of every
    pair)."""
    acx, acy, aux, auy, avx, avy = c1[CX, i], c1[CY, i], c1[UX, i], c1[UY, i], c1[VX, i], c1[VY, i]
    aarea, aex, aey = c1[AREA, i], c1[EX, i], c1[EY, i]
    m = out.shape[1]
    end = first + m  # (slices indexed from 0: an offset index defeats the vectoriser)
    if code == GIOU:
        bcx, bcy, bex, bey = c2[CX, first:end], c2[CY, first:end], c2[EX, first:end], c2[EY, first:end]
        bux, buy, bvx, bvy = c2[UX, first:end], c2[UY, first:end], c2[VX, first:end], c2[VY, first:end]
        barea, bcos, bsin = c2[AREA, first:end], c2[COS, first:end], c2[SIN, first:end]
        bhw, bhh = c2[HW, first:end], c2[HH, first:end]
        for j in range(m):
            out[i, j] = metric(GIOU, acx, acy, aux, auy, avx, avy, aarea, aex, aey, bcx[j], bcy[j], bux[j],
                               buy[j], bvx[j], bvy[j], barea[j], bex[j], bey[j], bcos[j], bsin[j], bhw[j], bhh[j],
                               half)
        return
    zero = half - half
    for j in range(m):
        out[i, j] = zero
    for start in range(first, end, BLOCK):  # (a block at a time: the worker's scratch is BLOCK wide)
        stop = min(start + BLOCK, end)
        bcx, bcy, bex, bey = c2[CX, start:stop], c2[CY, start:stop], c2[EX, start:stop], c2[EY, start:stop]
        for j in range(stop - start):
            flags[j] = (abs(acx - bcx[j]) <= aex + bex[j]) & (abs(acy - bcy[j]) <= aey + bey[j])
        n_hits = collect(flags, stop - start, hits)
        for h in range(n_hits):
            k = start + hits[h]
            for r in range(N_COLUMNS):
                gathered[r, h] = c2[r, k]
        value = gathered_metric(code, acx, acy, aux, auy, avx, avy, aarea, aex, aey, gathered, n_hits, half)
        offset = start - first
        for h in range(n_hits):
            out[i, offset + hits[h]] = value[h]


@njit(inline="always")
def gathered_metric(code, acx, acy, aux, auy, avx, avy, aarea, aex, aey, g, n, half):
    """The metric of box a against the ``n`` boxes whose columns were gathered into ``g``,
    written into the row ``g[N_COLUMNS, :n]`` and returned (a row of the same array, so that
    the loop needs no aliasing checks of a dozen arrays against its output, and vectorises)."""
    gcx, gcy, gux, guy, gvx, gvy = g[CX, :n], g[CY, :n], g[UX, :n], g[UY, :n], g[VX, :n], g[VY, :n]
    garea, gex, gey, gcos, gsin = g[AREA, :n], g[EX, :n], g[EY, :n], g[COS, :n], g[SIN, :n]
    ghw, ghh, value = g[HW, :n], g[HH, :n], g[N_COLUMNS, :n]
    for h in range(n):
        value[h] = metric(code, acx, acy, aux, auy, avx, avy, aarea, aex, aey, gcx[h], gcy[h], gux[h], guy[h],
                          gvx[h], gvy[h], garea[h], gex[h], gey[h], gcos[h], gsin[h], ghw[h], ghh[h], half)
    return value


#: Spreads the bytes 0 or 1 of a word into the top byte's bits: bit k = byte k.
BYTES_TO_BITS = np.uint64(0x0102040810204080)


@njit(inline="always")
def collect(flags, m, hits):
    """The indices of the set ``flags[:m]`` (bytes 0 or 1, zeroed as read) in ``hits``, and
    their number (``flags`` holds whole words): a word of eight at a time, skipped when 0
    (few are set), its set bytes found from its trailing zeros."""
    words = flags.view(np.uint64)
    n_hits = 0
    for w in range((m + 7) // 8):
        word = words[w]
        if word != 0:
            words[w] = 0
            while word != 0:
                hits[n_hits] = 8 * w + np.int64(trailing_zeros(word) >> np.uint64(3))
                n_hits += 1
                word &= word - np.uint64(1)
    return n_hits


@njit(inline="always")
def collect_dense(flags, m, hits):
    """:func:`collect` where many are set: 64 at a time, eight words folded into the bits
    of one (bit k: byte k of the eight), one branch per 64 flags, which a dense scan
    mispredicts less than one per word."""
    words = flags.view(np.uint64)
    n_words = (m + 7) // 8
    n_hits = 0
    for first in range(0, n_words, 8):
        bits = np.uint64(0)
        for w in range(first, min(first + 8, n_words)):
            bits |= ((words[w] * BYTES_TO_BITS) >> np.uint64(56)) << np.uint64(8 * (w - first))
            words[w] = 0
        while bits != 0:
            hits[n_hits] = 8 * first + np.int64(trailing_zeros(bits))
            n_hits += 1
            bits &= bits - np.uint64(1)
    return n_hits


def _pairwise(code, c1, c2, half, rows, out, step, flags, hits, gathered, counter):
    # Batches: out is (B * rows, M), and row i meets the boxes (i // rows) * M ... of c2.
    # ``step`` rows per claim; one worker per row of the scratch arrays.
    n, m = out.shape[0], out.shape[1]
    for w in prange(flags.shape[0]):
        mine_flags, mine_hits, mine_gathered = flags[w], hits[w], gathered[w]
        lo = claim(counter, step)
        while lo < n:
            for i in range(lo, min(lo + step, n)):
                first = (i // rows) * m
                if code == IOU:
                    _row(IOU, c1, i, c2, first, half, mine_flags, mine_hits, mine_gathered, out)
                elif code == IOA:
                    _row(IOA, c1, i, c2, first, half, mine_flags, mine_hits, mine_gathered, out)
                else:
                    _row(GIOU, c1, i, c2, first, half, mine_flags, mine_hits, mine_gathered, out)
            lo = claim(counter, step)


def _aligned(code, c1, c2, half, out, counter):
    n = c1.shape[1]
    for w in prange(workers(n, PAIR_CHUNK)):
        lo = claim(counter, PAIR_CHUNK)
        while lo < n:
            for i in range(lo, min(lo + PAIR_CHUNK, n)):
                out[i] = column_metric(code, c1, i, c2, i, half)
            lo = claim(counter, PAIR_CHUNK)


_pairwise_kernels = serial_and_parallel(_pairwise)
_aligned_kernels = serial_and_parallel(_aligned)


def pairwise(code, c1, c2, half, out, parallel, rows=None):
    """``out`` ``(B * rows, M)``: row i holds box i of ``c1`` against the ``M`` boxes of its
    batch in ``c2``, ``(i // rows) * M + j`` (``rows`` None: one batch)."""
    rows = out.shape[0] if rows is None else rows
    step = max(1, PAIR_CHUNK // max(1, out.shape[1]))  # rows per claim
    n_workers = workers(out.shape[0], step)
    # per worker: a block's marks (whole words), the indices marked, their columns and values
    flags = np.zeros((n_workers, BLOCK), np.uint8)
    hits = np.empty((n_workers, BLOCK), np.int64)
    gathered = np.empty((n_workers, N_COLUMNS + 1, BLOCK), out.dtype)
    _pairwise_kernels[parallel](code, c1, c2, half, max(rows, 1), out, step, flags, hits, gathered,
                                new_counter())


def aligned(code, c1, c2, half, out, parallel):
    _aligned_kernels[parallel](code, c1, c2, half, out, new_counter())


# --- NMS ---------------------------------------------------------------------------


@njit
def _greedy(c, by_score, rank, labels, has_labels, threshold, all_pairs, max_output, half, margin, kept):
    """Greedy NMS over the candidates ``by_score`` (by decreasing score, ties by index).

    A kept box suppresses the later boxes (of its class) whose IoU with it is
    strictly above ``threshold``.  Only boxes whose bounding boxes meet can have a
    positive IoU: unless ``all_pairs`` (a negative threshold), a kept box scans the
    candidates whose bounding box's left edge lies within its reach, found by binary
    search in the candidates sorted by that edge (``rank``: candidate ``t`` is
    ``by_score[rank[t]]``).  The tests are those of the shared formula ``suppresses``
    (which the CUDA kernel calls), each in its own pass: a vectorised scan marks the
    live candidates (of its class) whose bounding boxes meet the kept box's and that
    ``coarse_may_exceed`` leaves open; the marked ones' columns are gathered, and two more
    vectorised passes over them ask ``may_exceed`` and compute the IoU.  The candidates
    are compacted whenever half of them are suppressed or visited.
    """
    m = by_score.shape[0]
    # the candidates in that order: their left edges (ascending), their columns (laid out
    # by candidate: the gathering reads all of one candidate's), the scan's fields
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
    flags = np.zeros(8 * (m // 8 + 1), np.uint8)  # the scan's marks (whole words: see collect)
    hits = np.empty(m, np.int64)  # the marked candidates
    marked = np.empty((N_COLUMNS + 1, m), c.dtype)  # their columns, and their IoU with the kept box
    left_open = np.zeros(8 * (m // 8 + 1), np.uint8)  # of those, the ones the bound leaves open
    opened = np.empty(m, np.int64)  # (whole words, as flags), and their positions
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
        if has_labels:
            for j in range(hi - lo):
                flags[j] = qlive[j] & (qlab[j] == plab) & _open(all_pairs, threshold, margin, half, pcx, pcy, pex,
                                                                pey, parea, preach, qcx[j], qcy[j], qex[j], qey[j],
                                                                qarea[j], qreach[j])
        else:  # (a loop without the int64 labels: twice the lanes)
            for j in range(hi - lo):
                flags[j] = qlive[j] & _open(all_pairs, threshold, margin, half, pcx, pcy, pex, pey, parea, preach,
                                            qcx[j], qcy[j], qex[j], qey[j], qarea[j], qreach[j])
        n_hits = collect_dense(flags, hi - lo, hits)  # (candidates lo + hits[h])
        if all_pairs:
            n_close = n_hits  # every marked candidate is suppressed
        else:  # the bound, then the IoU, of the marked candidates
            for h in range(n_hits):  # (their columns gathered, so that both vectorise)
                t = lo + hits[h]
                for r in range(N_COLUMNS):
                    marked[r, h] = box[r, t]
            mcx, mcy, mux, muy, mvx, mvy = (marked[CX, :n_hits], marked[CY, :n_hits], marked[UX, :n_hits],
                                            marked[UY, :n_hits], marked[VX, :n_hits], marked[VY, :n_hits])
            marea, mhw, mhh, mihw, mihh = (marked[AREA, :n_hits], marked[HW, :n_hits], marked[HH, :n_hits],
                                           marked[IHW, :n_hits], marked[IHH, :n_hits])
            for h in range(n_hits):
                left_open[h] = may_exceed(threshold, margin, pcx, pcy, pux, puy, pvx, pvy, parea, phw, phh, pihw,
                                          pihh, mcx[h], mcy[h], mux[h], muy[h], mvx[h], mvy[h], marea[h], mhw[h],
                                          mhh[h], mihw[h], mihh[h])
            # the IoU of the ones the bound leaves open (one in four), moved to the front
            n_open = collect_dense(left_open, n_hits, opened)
            for k in range(n_open):
                h = opened[k]
                hits[k] = hits[h]
                for r in range(N_COLUMNS):
                    marked[r, k] = marked[r, h]
            iou = gathered_metric(IOU, pcx, pcy, pux, puy, pvx, pvy, parea, pex, pey, marked, n_open, half)
            n_close = 0  # the suppressed ones, moved to the front
            for k in range(n_open):
                hits[n_close] = hits[k]
                n_close += iou[k] > threshold
        for h in range(n_close):
            t = lo + hits[h]
            dead[rank[t]] = True
            live[t] = False
        gone += n_close
    return count


@njit(inline="always")
def _open(all_pairs, threshold, margin, half, pcx, pcy, pex, pey, parea, preach,
          qcx, qcy, qex, qey, qarea, qreach):
    """The scan's test of a live candidate q of the kept box p's class: whether q can be
    suppressed (bounding boxes that meet and ``coarse_may_exceed``; any with ``all_pairs``)."""
    dcx, dcy = pcx - qcx, pcy - qcy
    return all_pairs | ((abs(dcx) <= pex + qex) & (abs(dcy) <= pey + qey)
                        & coarse_may_exceed(threshold, margin, half, dcx, dcy, pex, pey, parea, preach, qex, qey,
                                            qarea, qreach))


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
                    kept)
    return kept[:count]
