"""Numba CPU kernels of COCO evaluation (:mod:`fastiou.coco`), each with a serial twin.

The evaluation is split into groups: one per (image, category), or per image with
``useCats=0``.  A group's detections are contiguous in the detection arrays
(sorted by decreasing score, cut at ``maxDets[-1]``) and its ground truth is
contiguous in the ground-truth arrays (in pycocotools' order).  Each group's
overlap matrix (detections x ground truth, row-major) lies in one flat buffer at
``offsets[group]``.

- :func:`box_overlaps` fills the buffer with pycocotools' box overlap, from the
  one box formula (``fastiou._formulas``): IoU, or for a crowd ground truth the
  intersection over the detection's area (``IOA`` with the detection first).
- :func:`group_order` puts the annotations in that order (a counting sort);
- :func:`greedy_match` is pycocotools' ``evaluateImg`` for every group, area range
  and IoU threshold; it leaves each detection's ``status`` per area range and
  threshold (and, when asked, the matches evalImgs shows);
- :func:`accumulate` is pycocotools' ``accumulate``: one category per work item.
- :func:`oks_exponents` / :func:`oks_sums`: the object keypoint similarity, split
  around NumPy's ``exp`` (called in between, so the exponentials are NumPy's own)
  and summed in NumPy's pairwise order.

Kernels contain no validation.  Groups are claimed in chunks from a shared counter
(see :mod:`.numba_cpu`), so serial and parallel runs give identical results.
"""

from __future__ import annotations

import numpy as np
from numba import prange
from numpy.typing import NDArray

from .._config import njit, serial_and_parallel
from .._formulas import IOA, IOU
from .numba_cpu import claim, new_counter, pair_metric, workers

#: Groups per claim.
GROUP_CHUNK = 8
#: pycocotools caps every IoU threshold at ``1 - 1e-10``.
THRESHOLD_CAP = 1 - 1e-10
#: What greedy matching makes of a detection, per area range and threshold (``status``).
IGNORED, TRUE_POSITIVE, FALSE_POSITIVE = 0, 1, 2


def _box_overlaps(dcols: NDArray[np.float64], gcols: NDArray[np.float64], gcrowd: NDArray[np.uint8],
                  d_start: NDArray[np.intp], n_d: NDArray[np.intp], g_start: NDArray[np.intp],
                  n_g: NDArray[np.intp], offsets: NDArray[np.int64], out: NDArray[np.float64],
                  counter: NDArray[np.int64]) -> None:
    n = n_d.shape[0]
    for _ in prange(workers(n, GROUP_CHUNK)):
        lo = claim(counter, GROUP_CHUNK)
        while lo < n:
            for k in range(lo, min(lo + GROUP_CHUNK, n)):
                nd, ng, d0, g0, o = n_d[k], n_g[k], d_start[k], g_start[k], offsets[k]
                for i in range(nd):
                    for j in range(ng):
                        code = IOA if gcrowd[g0 + j] else IOU
                        out[o + i * ng + j] = pair_metric(code, dcols, d0 + i, gcols, g0 + j, 0.0, 1.0)
            lo = claim(counter, GROUP_CHUNK)


def _greedy_match(ious: NDArray[np.float64], offsets: NDArray[np.int64], d_start: NDArray[np.intp],
                  n_d: NDArray[np.intp], g_start: NDArray[np.intp], n_g: NDArray[np.intp],
                  has_overlaps: NDArray[np.bool_], gt_ignore: NDArray[np.bool_], gt_crowd: NDArray[np.bool_],
                  gt_area: NDArray[np.float64], gt_id: NDArray[np.int64], dt_id: NDArray[np.int64],
                  dt_area: NDArray[np.float64], area_lo: NDArray[np.float64], area_hi: NDArray[np.float64],
                  thresholds: NDArray[np.float64], gt_ignore_out: NDArray[np.bool_], status: NDArray[np.uint8],
                  detail: bool, dt_match: NDArray[np.int32], gt_match: NDArray[np.int32],
                  dt_ignore: NDArray[np.bool_], ig_all: NDArray[np.bool_], order_all: NDArray[np.int64],
                  taken_all: NDArray[np.int64], counter: NDArray[np.int64]) -> None:
    # scratch: each group uses its own slice of buffers of one entry per ground truth
    # (an array made inside the kernel would turn on reference counting in its loops)
    n = n_d.shape[0]
    n_area = area_lo.shape[0]
    n_thr = thresholds.shape[0]
    for _ in prange(workers(n, GROUP_CHUNK)):
        lo = claim(counter, GROUP_CHUNK)
        while lo < n:
            for k in range(lo, min(lo + GROUP_CHUNK, n)):
                nd, ng, d0, g0, o = n_d[k], n_g[k], d_start[k], g_start[k], offsets[k]
                ng_match = ng if has_overlaps[k] else 0  # pycocotools skips groups without overlaps
                ig = ig_all[g0:g0 + ng]
                order = order_all[g0:g0 + ng]
                taken = taken_all[g0:g0 + ng]
                for a in range(n_area):
                    alo, ahi = area_lo[a], area_hi[a]
                    for j in range(ng):
                        area = gt_area[g0 + j]
                        ig[j] = gt_ignore[g0 + j] or area < alo or area > ahi
                        gt_ignore_out[a, g0 + j] = ig[j]
                    # ground truth in a stable sort by its ignore flag: regular ones first
                    pos = 0
                    for j in range(ng):
                        if not ig[j]:
                            order[pos] = j
                            pos += 1
                    for j in range(ng):
                        if ig[j]:
                            order[pos] = j
                            pos += 1
                    if ng_match == 0:  # (most groups) nothing to match: the loop below, short
                        for i in range(nd):
                            d = d0 + i
                            st = IGNORED if dt_area[d] < alo or dt_area[d] > ahi else FALSE_POSITIVE
                            for t in range(n_thr):
                                status[d, a, t] = st
                        if detail:
                            for t in range(n_thr):
                                for i in range(nd):
                                    dt_match[a, t, d0 + i] = -1
                                    dt_ignore[a, t, d0 + i] = status[d0 + i, a, t] == IGNORED
                                for j in range(ng):
                                    gt_match[a, t, g0 + j] = -1
                        continue
                    for t in range(n_thr):
                        for j in range(ng):
                            taken[j] = 0
                            if detail:
                                gt_match[a, t, g0 + j] = -1
                        cap = min(thresholds[t], THRESHOLD_CAP)
                        for i in range(nd):
                            best = cap
                            m = -1
                            for jj in range(ng_match):
                                j = order[jj]
                                if taken[j] > 0 and not gt_crowd[g0 + j]:
                                    continue
                                if m > -1 and not ig[m] and ig[j]:
                                    break
                                v = ious[o + i * ng + j]
                                if v < best:
                                    continue
                                best = v
                                m = j
                            d = d0 + i
                            # pycocotools records ids: a ground truth of id 0 reads as
                            # no match, a detection of id <= 0 leaves its match free
                            matched = -1
                            ignored = False
                            if m > -1:
                                ignored = ig[m]
                                if gt_id[g0 + m] != 0:
                                    matched = g0 + m
                                taken[m] = dt_id[d]
                                if detail and dt_id[d] > 0:
                                    gt_match[a, t, g0 + m] = d
                            if matched < 0 and (dt_area[d] < alo or dt_area[d] > ahi):
                                ignored = True
                            if detail:
                                dt_match[a, t, d] = matched
                                dt_ignore[a, t, d] = ignored
                            status[d, a, t] = IGNORED if ignored else (
                                TRUE_POSITIVE if matched >= 0 else FALSE_POSITIVE)
            lo = claim(counter, GROUP_CHUNK)


@njit(inline="always")
def _pairwise_sum(x: NDArray[np.float64], lo: int, n: int) -> float:
    """NumPy's pairwise summation of ``x[lo:lo + n]`` (``n <= 128``, one block)."""
    if n < 8:
        res = 0.0
        for i in range(n):
            res += x[lo + i]
        return res
    r0, r1, r2, r3 = x[lo], x[lo + 1], x[lo + 2], x[lo + 3]
    r4, r5, r6, r7 = x[lo + 4], x[lo + 5], x[lo + 6], x[lo + 7]
    i = 8
    while i < n - (n % 8):
        r0 += x[lo + i]
        r1 += x[lo + i + 1]
        r2 += x[lo + i + 2]
        r3 += x[lo + i + 3]
        r4 += x[lo + i + 4]
        r5 += x[lo + i + 5]
        r6 += x[lo + i + 6]
        r7 += x[lo + i + 7]
        i += 8
    res = ((r0 + r1) + (r2 + r3)) + ((r4 + r5) + (r6 + r7))
    while i < n:
        res += x[lo + i]
        i += 1
    return res


@njit
def numpy_sum(x: NDArray[np.float64]) -> float:
    """``np.sum`` of a short contiguous float64 vector, in NumPy's order (tests compare)."""
    return _pairwise_sum(x, 0, x.shape[0])


def _oks_exponents(dkp: NDArray[np.float64], gkp: NDArray[np.float64], gvis_count: NDArray[np.intp],
                   gbox: NDArray[np.float64], garea: NDArray[np.float64], variances: NDArray[np.float64],
                   d_start: NDArray[np.intp], n_d: NDArray[np.intp], g_start: NDArray[np.intp],
                   n_g: NDArray[np.intp], offsets: NDArray[np.int64], out: NDArray[np.float64],
                   counter: NDArray[np.int64]) -> None:
    # out[(o + i * ng + j), k] = -e_k of pycocotools' computeOks, compacted to the
    # visible keypoints of the ground truth when it has any
    n = n_d.shape[0]
    nk = variances.shape[0]
    for _ in prange(workers(n, GROUP_CHUNK)):
        lo = claim(counter, GROUP_CHUNK)
        while lo < n:
            for k in range(lo, min(lo + GROUP_CHUNK, n)):
                nd, ng, d0, g0, o = n_d[k], n_g[k], d_start[k], g_start[k], offsets[k]
                for j in range(ng):
                    g = g0 + j
                    x0 = gbox[g, 0] - gbox[g, 2]
                    x1 = gbox[g, 0] + gbox[g, 2] * 2
                    y0 = gbox[g, 1] - gbox[g, 3]
                    y1 = gbox[g, 1] + gbox[g, 3] * 2
                    scale = garea[g] + np.spacing(1.0)
                    for i in range(nd):
                        d = d0 + i
                        row = o + i * ng + j
                        pos = 0
                        for q in range(nk):
                            xd = dkp[d, 3 * q]
                            yd = dkp[d, 3 * q + 1]
                            if gvis_count[g] > 0:
                                if not gkp[g, 3 * q + 2] > 0:
                                    continue
                                dx = xd - gkp[g, 3 * q]
                                dy = yd - gkp[g, 3 * q + 1]
                            else:
                                dx = max(0.0, x0 - xd) + max(0.0, xd - x1)
                                dy = max(0.0, y0 - yd) + max(0.0, yd - y1)
                            e = (dx * dx + dy * dy) / variances[q] / scale / 2
                            out[row, pos] = -e
                            pos += 1
            lo = claim(counter, GROUP_CHUNK)


def _oks_sums(exps: NDArray[np.float64], counts: NDArray[np.intp], out: NDArray[np.float64],
              counter: NDArray[np.int64]) -> None:
    # out[p] = np.sum(exps[p, :counts[p]]) / counts[p]
    n = out.shape[0]
    step = 4096
    for _ in prange(workers(n, step)):
        lo = claim(counter, step)
        while lo < n:
            for p in range(lo, min(lo + step, n)):
                c = counts[p]
                row = exps[p]
                out[p] = _pairwise_sum(row, 0, c) / c
            lo = claim(counter, step)


@njit(inline="always")
def _less(x: float, v: float) -> bool:
    """NumPy's ``searchsorted`` order: NaN after every number."""
    return x < v or (v != v and x == x)


def _accumulate(status: NDArray[np.uint8], by_cat: NDArray[np.intp], cat_start: NDArray[np.intp],
                cat_len: NDArray[np.intp], rank: NDArray[np.intp], score: NDArray[np.float64],
                npig: NDArray[np.intp], max_dets: NDArray[np.intp], rec_thrs: NDArray[np.float64],
                precision: NDArray[np.float64], scores: NDArray[np.float64], recall: NDArray[np.float64],
                counter: NDArray[np.int64]) -> None:
    # one category per work item.  Its detections (by_cat[cat_start[c]:][:cat_len[c]],
    # in group order) are sorted by decreasing score, stably (pycocotools' mergesort
    # over the images' detections concatenated in image order) with their status.
    # For each maxDets one pass counts the false positives of every (area range,
    # threshold) lane at once and keeps only the true positives: the precision
    # envelope is their suffix maximum, and a recall point is reached at one
    n_cat = cat_start.shape[0]
    n_area, n_thr = status.shape[1], status.shape[2]
    n_rec = rec_thrs.shape[0]
    eps = np.spacing(1.0)
    lanes = status.reshape(status.shape[0], n_area * n_thr)
    for _ in prange(workers(n_cat, 1)):
        c = claim(counter, 1)
        while c < n_cat:
            wanted = False
            for a in range(n_area):
                wanted = wanted or npig[a, c] > 0
            nd_all = cat_len[c]
            if wanted:
                mine = by_cat[cat_start[c]:cat_start[c] + nd_all]
                neg = np.empty(nd_all)
                for i in range(nd_all):
                    neg[i] = -score[mine[i]]
                by_score = np.argsort(neg, kind="mergesort")
                n_lane = n_area * n_thr  # lane a * n_thr + t: area range a, threshold t
                # status and rank in score order, gathered in memory order first
                # (2-D arrays: flat index arithmetic keeps these loops from vectorising)
                local = np.empty((nd_all, n_lane), np.uint8)
                for j in range(nd_all):
                    d = mine[j]
                    for lane in range(n_lane):
                        local[j, lane] = lanes[d, lane]
                rows = np.empty((nd_all, n_lane), np.uint8)
                ranks = np.empty(nd_all, np.intp)
                for i in range(nd_all):
                    j = by_score[i]
                    ranks[i] = rank[mine[j]]
                    for lane in range(n_lane):
                        rows[i, lane] = local[j, lane]
                fp = np.empty(n_lane, np.int64)
                ntp = np.zeros(n_lane, np.int64)
                for i in range(nd_all):  # true positives per lane: the scratch's size, not nd_all
                    for lane in range(n_lane):
                        ntp[lane] += rows[i, lane] == TRUE_POSITIVE
                size = max(ntp.max(), 1)
                fp_at = np.empty((n_lane, size), np.int64)  # false positives before each true positive
                tp_at = np.empty((n_lane, size), np.intp)  # the score-order position of each
                pr = np.empty(size)
                for m in range(max_dets.shape[0]):
                    for lane in range(n_lane):
                        fp[lane] = 0
                        ntp[lane] = 0
                    nd = 0
                    first = -1
                    for i in range(nd_all):
                        if ranks[i] >= max_dets[m]:
                            continue
                        if nd == 0:
                            first = i
                        nd += 1
                        any_tp = 0
                        for lane in range(n_lane):  # every lane at once (vectorised)
                            st = rows[i, lane]
                            fp[lane] += st == FALSE_POSITIVE
                            any_tp += st == TRUE_POSITIVE
                        if any_tp:  # true positives are rare
                            for lane in range(n_lane):
                                if rows[i, lane] == TRUE_POSITIVE:
                                    k = ntp[lane]
                                    fp_at[lane, k] = fp[lane]
                                    tp_at[lane, k] = i
                                    ntp[lane] = k + 1
                    for a in range(n_area):
                        count = np.float64(npig[a, c])
                        if count == 0:
                            continue  # pycocotools leaves -1
                        for t in range(n_thr):
                            lane = a * n_thr + t
                            n_tp = ntp[lane]
                            for k in range(n_tp):
                                tpf = np.float64(k + 1)
                                pr[k] = tpf / ((np.float64(fp_at[lane, k]) + tpf) + eps)
                            for k in range(n_tp - 1, 0, -1):  # the envelope from the right
                                if pr[k] > pr[k - 1]:
                                    pr[k - 1] = pr[k]
                            recall[t, c, a, m] = n_tp / count if nd else 0.0
                            for r in range(n_rec):
                                precision[t, r, c, a, m] = 0.0
                                scores[t, r, c, a, m] = 0.0
                            lo = 0
                            for r in range(n_rec):
                                # np.searchsorted(rc, v, side='left') for rc = tp / npig
                                # at each detection; past the end pycocotools stops
                                v = rec_thrs[r]
                                if nd == 0:
                                    break
                                first_tp = rows[first, lane] == TRUE_POSITIVE
                                if not _less((1.0 if first_tp else 0.0) / count, v):
                                    precision[t, r, c, a, m] = pr[0] if n_tp else 0.0
                                    scores[t, r, c, a, m] = score[mine[by_score[first]]]
                                    continue
                                # the first true positive k with rc >= v: walked on from the
                                # last one while rec_thrs ascend (the usual), else a binary search
                                if r > 0 and not _less(v, rec_thrs[r - 1]):
                                    while lo < n_tp and _less(np.float64(lo + 1) / count, v):
                                        lo += 1
                                else:
                                    lo, hi = 0, n_tp
                                    while lo < hi:
                                        mid = (lo + hi) >> 1
                                        if _less(np.float64(mid + 1) / count, v):
                                            lo = mid + 1
                                        else:
                                            hi = mid
                                if lo == n_tp:
                                    break
                                precision[t, r, c, a, m] = pr[lo]
                                scores[t, r, c, a, m] = score[mine[by_score[tp_at[lane, lo]]]]
            c = claim(counter, 1)


_box_overlaps_k = serial_and_parallel(_box_overlaps)
_accumulate_k = serial_and_parallel(_accumulate)
_greedy_match_k = serial_and_parallel(_greedy_match)
_oks_exponents_k = serial_and_parallel(_oks_exponents)
_oks_sums_k = serial_and_parallel(_oks_sums)


def box_overlaps(dcols: NDArray[np.float64], gcols: NDArray[np.float64], gcrowd: NDArray[np.uint8],
                 d_start: NDArray[np.intp], n_d: NDArray[np.intp], g_start: NDArray[np.intp],
                 n_g: NDArray[np.intp], offsets: NDArray[np.int64], out: NDArray[np.float64],
                 parallel: bool) -> None:
    """Fill ``out`` with each group's detection x ground-truth box overlaps (float64)."""
    _box_overlaps_k[parallel](dcols, gcols, gcrowd, d_start, n_d, g_start, n_g, offsets, out,
                              new_counter())


def greedy_match(ious: NDArray[np.float64], offsets: NDArray[np.int64], d_start: NDArray[np.intp],
                 n_d: NDArray[np.intp], g_start: NDArray[np.intp], n_g: NDArray[np.intp],
                 has_overlaps: NDArray[np.bool_], gt_ignore: NDArray[np.bool_], gt_crowd: NDArray[np.bool_],
                 gt_area: NDArray[np.float64], gt_id: NDArray[np.int64], dt_id: NDArray[np.int64],
                 dt_area: NDArray[np.float64], area_lo: NDArray[np.float64], area_hi: NDArray[np.float64],
                 thresholds: NDArray[np.float64], gt_ignore_out: NDArray[np.bool_], status: NDArray[np.uint8],
                 matches: tuple[NDArray[np.int32], NDArray[np.int32], NDArray[np.bool_]] | None,
                 parallel: bool) -> None:
    """pycocotools' greedy matching: ``gt_ignore_out (A, G)`` gets the ground truth's
    ignore flags and ``status (D, A, T)`` what accumulation counts (IGNORED,
    TRUE_POSITIVE or FALSE_POSITIVE).  ``matches``, if given, is ``(dt_match (A, T, D),
    gt_match (A, T, G), dt_ignore (A, T, D))``: the index of the matched ground truth
    (-1: none), of the detection that took it (-1: none; a crowd keeps the last) and
    the detections' ignore flags."""
    detail, (dt_match, gt_match, dt_ignore) = _detail(matches)
    _greedy_match_k[parallel](ious, offsets, d_start, n_d, g_start, n_g, has_overlaps, gt_ignore, gt_crowd,
                              gt_area, gt_id, dt_id, dt_area, area_lo, area_hi, thresholds, gt_ignore_out,
                              status, detail, dt_match, gt_match, dt_ignore, np.empty(len(gt_id), np.bool_),
                              np.empty(len(gt_id), np.int64), np.empty(len(gt_id), np.int64), new_counter())


def _detail(matches: tuple[NDArray[np.int32], NDArray[np.int32], NDArray[np.bool_]] | None
            ) -> tuple[bool, tuple[NDArray[np.int32], NDArray[np.int32], NDArray[np.bool_]]]:
    """``(detail, matches)``: empty arrays in place of matches not asked for."""
    if matches is not None:
        return True, matches
    none = np.empty((0, 0, 0), np.int32)
    return False, (none, none, np.empty((0, 0, 0), np.bool_))


def oks_exponents(dkp: NDArray[np.float64], gkp: NDArray[np.float64], gvis_count: NDArray[np.intp],
                  gbox: NDArray[np.float64], garea: NDArray[np.float64], variances: NDArray[np.float64],
                  d_start: NDArray[np.intp], n_d: NDArray[np.intp], g_start: NDArray[np.intp],
                  n_g: NDArray[np.intp], offsets: NDArray[np.int64], out: NDArray[np.float64],
                  parallel: bool) -> None:
    """``out[pair, :count]``: minus the OKS exponents of each (detection, ground truth) pair."""
    _oks_exponents_k[parallel](dkp, gkp, gvis_count, gbox, garea, variances, d_start, n_d, g_start, n_g,
                               offsets, out, new_counter())


def oks_sums(exps: NDArray[np.float64], counts: NDArray[np.intp], out: NDArray[np.float64],
             parallel: bool) -> None:
    """``out[pair] = mean of exps[pair, :counts[pair]]`` summed in NumPy's order."""
    _oks_sums_k[parallel](exps, counts, out, new_counter())


def accumulate(status: NDArray[np.uint8], kidx: NDArray[np.intp], n_cats: int, rank: NDArray[np.intp],
               score: NDArray[np.float64], npig: NDArray[np.intp], max_dets: NDArray[np.intp],
               rec_thrs: NDArray[np.float64], precision: NDArray[np.float64], scores: NDArray[np.float64],
               recall: NDArray[np.float64], parallel: bool) -> None:
    """pycocotools' accumulate: ``precision`` and ``scores`` (T, R, K, A, M) and
    ``recall`` (T, K, A, M), filled with -1, get every category with ground truth
    (``npig (A, K)`` regular ground truth), from greedy_match's ``status``, the
    detections' category index ``kidx``, rank in their group and score."""
    by_cat, cat_start, cat_len = group_by(kidx, n_cats)
    _accumulate_k[parallel](status, by_cat, cat_start, cat_len, rank, score, npig, max_dets, rec_thrs,
                            precision, scores, recall, new_counter())


@njit
def group_by(keys: NDArray[np.intp], n_keys: int) -> tuple[NDArray[np.intp], NDArray[np.intp], NDArray[np.intp]]:
    """``(order, start, length)``: a stable counting sort of ``keys`` in ``[0, n_keys)``;
    key ``k``'s positions are ``order[start[k]:start[k] + length[k]]``."""
    length = np.zeros(n_keys, np.intp)
    for k in keys:
        length[k] += 1
    start = np.zeros(n_keys, np.intp)
    for k in range(1, n_keys):
        start[k] = start[k - 1] + length[k - 1]
    fill = start.copy()
    order = np.empty(keys.shape[0], np.intp)
    for i in range(keys.shape[0]):
        order[fill[keys[i]]] = i
        fill[keys[i]] += 1
    return order, start, length


@njit
def group_order(key: NDArray[np.intp], n_keys: int, per_group: int, score: NDArray[np.float64],
                max_per_group: int) -> tuple[NDArray[np.intp], NDArray[np.intp], NDArray[np.intp]]:
    """``(order, rank, count)``: positions of ``key`` (in ``[0, n_keys)``) in pycocotools'
    order of a group (group ``key // per_group``): by group, then (when ``score`` is
    not empty) by decreasing score, stably, then by key and position; each group cut
    to its first ``max_per_group``.  ``rank`` is each kept position's place in its
    group and ``count`` the number kept per group."""
    order, start, length = group_by(key, n_keys)
    n_groups = n_keys // per_group
    count = np.empty(n_groups, np.intp)
    for g in range(n_groups):
        lo = start[g * per_group]
        last = (g + 1) * per_group - 1
        hi = start[last] + length[last]
        if score.shape[0] and hi - lo > 1:
            if hi - lo <= 16:  # most groups: an insertion sort in place (stable)
                for i in range(lo + 1, hi):
                    item = order[i]
                    j = i
                    while j > lo and score[order[j - 1]] < score[item]:
                        order[j] = order[j - 1]
                        j -= 1
                    order[j] = item
            else:
                seg = order[lo:hi]
                neg = np.empty(hi - lo)
                for i in range(hi - lo):
                    neg[i] = -score[seg[i]]
                sorted_seg = seg[np.argsort(neg, kind="mergesort")]
                order[lo:hi] = sorted_seg
        count[g] = min(hi - lo, max_per_group)
    kept = np.empty(count.sum(), np.intp)
    rank = np.empty(kept.shape[0], np.intp)
    pos = 0
    for g in range(n_groups):
        lo = start[g * per_group]
        for r in range(count[g]):
            kept[pos] = order[lo + r]
            rank[pos] = r
            pos += 1
    return kept, rank, count
